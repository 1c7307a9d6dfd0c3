"""The Prefect server process emufleet runs (:mod:`flows.server_app`): busy answers retried inside the server, and
SQLite write transactions that wait for the write lock instead of failing with HTTP 503."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import pytest

from flows.server import PrefectServer
from flows.server_app import RetryBusy


class Flaky:
    """An ASGI app answering 503 ``busy`` times (raising afterwards, as Starlette does), then 200 with the body."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.calls: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        self.calls.append(message["body"])
        scope["path"] = "/rewritten"  # routing rewrites the scope: a retry must see the original
        if len(self.calls) <= self.busy:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"busy"})
            raise RuntimeError("database is locked")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": message["body"]})


async def _post(app: Any, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.post("/api/thing", content=body)


def test_a_busy_answer_is_retried_inside_the_server_with_the_same_body() -> None:
    app = Flaky(busy=3)
    reply = asyncio.run(_post(RetryBusy(app), b'{"x": 1}'))
    assert reply.status_code == 200 and reply.content == b'{"x": 1}'
    assert app.calls == [b'{"x": 1}'] * 4


def test_the_last_busy_answer_reaches_the_client() -> None:
    app = Flaky(busy=100)
    with pytest.raises(RuntimeError, match="database is locked"):  # as without the middleware: the app's error
        asyncio.run(_post(RetryBusy(app, attempts=3), b"{}"))
    assert len(app.calls) == 3


def test_concurrent_read_then_write_requests_never_answer_503(prefect_server: PrefectServer) -> None:
    """Label updates read the run then write it: on SQLite with Prefect's deferred transactions, concurrent ones
    failed at once (``database is locked``, HTTP 503, seconds of client back-off). Counted at the HTTP level."""
    from prefect.client.orchestration import get_client

    from flows.run_bot import run_bot  # any flow: the runs only carry labels here

    answers: list[int] = []

    async def count(response: httpx.Response) -> None:
        answers.append(response.status_code)

    async def main() -> None:
        async with get_client(httpx_settings={"event_hooks": {"response": [count]}}) as client:
            runs: list[UUID] = [(await client.create_flow_run(run_bot, parameters={})).id for _ in range(4)]
            await asyncio.gather(*(client.update_flow_run_labels(run, {"emufleet.test": str(i)})
                                   for i in range(10) for run in runs))
            for run in runs:
                await client.delete_flow_run(run)

    asyncio.run(main())
    assert answers and 503 not in answers


def test_the_gated_lease_index_keeps_every_concurrent_lease(tmp_path: Any) -> None:
    """Forty leases created at once by one process (the server taking a launch's instance locks) all reach the
    expiration index, and the lock file is free afterwards, for the other processes it still guards against."""
    from datetime import timedelta

    from prefect.server.concurrency.lease_storage.filesystem import ConcurrencyLeaseStorage

    from flows.server_app import gated_lease_index

    gated_lease_index()
    gated_lease_index()  # idempotent: one gate, not two

    async def main() -> tuple[list[UUID], list[UUID]]:
        leases = await asyncio.gather(*(ConcurrencyLeaseStorage(storage_path=tmp_path).create_lease(
            [UUID(int=i + 1)], timedelta(seconds=60)) for i in range(40)))
        active = await ConcurrencyLeaseStorage(storage_path=tmp_path).read_active_lease_ids(limit=100)
        return [lease.id for lease in leases], active

    made, active = asyncio.run(main())
    assert sorted(made) == sorted(active) and len(set(made)) == 40
    assert not (tmp_path / "expirations.lock").exists()
    assert getattr(ConcurrencyLeaseStorage._lock_expiration_index, "emufleet_gated", False)


def test_events_resent_after_a_restart_are_stored_once_and_new_ones_in_their_flush_are_kept(tmp_path: Any) -> None:
    """After a server restart each client resends its recent events, stored or not. Prefect's SQLite writer built an
    ``INSERT`` with no rows for a batch of only stored ones (``NOT NULL constraint failed``) and the persister
    dropped the whole flush, new events included (issue 23, item 9). With :func:`skip_stored_events` a flush of
    resent events writes nothing and fails nothing, and a mixed flush keeps its new events, each once."""
    from datetime import UTC, datetime
    from uuid import uuid4

    import sqlalchemy as sa
    from prefect.server.database import provide_database_interface
    from prefect.server.events.schemas.events import ReceivedEvent
    from prefect.server.events.services import event_persister
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, temporary_settings

    from flows.server_app import skip_stored_events

    skip_stored_events()
    skip_stored_events()  # idempotent: one wrapper, not two

    def made(n: int) -> list[ReceivedEvent]:
        return [ReceivedEvent(id=uuid4(), occurred=datetime.now(UTC), event="emufleet.test",
                              resource={"prefect.resource.id": f"emufleet.test.{i}"}) for i in range(n)]

    async def main() -> list[UUID]:
        db = provide_database_interface()
        async with (await db.engine()).begin() as conn:  # the event tables only (all migrations: 8 s)
            await conn.run_sync(db.Base.metadata.create_all, tables=[db.Event.__table__, db.EventResource.__table__])
        stored, new = made(3), made(2)
        for flush in (stored, stored, stored[1:] + new + new[:1]):  # as sent: once, resent alone, resent with new
            async with db.session_context(begin_transaction=True) as session:
                await event_persister.write_events(session=session, events=flush)
        async with db.session_context() as session:
            ids = list((await session.scalars(sa.select(db.Event.id))).all())
        await (await db.engine()).dispose()
        assert sorted(map(str, ids)) == sorted(str(e.id) for e in stored + new), "each event once, none lost"
        return ids

    with temporary_settings(updates={PREFECT_API_DATABASE_CONNECTION_URL:
                                     f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}"}):
        asyncio.run(main())

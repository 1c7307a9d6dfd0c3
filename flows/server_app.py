"""The Prefect server process :func:`flows.server.start_server` runs: Prefect's own app, as ``prefect server start``
runs it in the foreground (one uvicorn worker, services in-process), behind :class:`RetryBusy`.

Why: on SQLite, a write transaction that began with a read fails at once (``SQLITE_BUSY_SNAPSHOT``, no busy
wait) when another connection committed in between; Prefect answers HTTP 503 and its client backs off
``2**attempt`` s (2, 4, 8, 16 s: no ``Retry-After``). During a launch the server's own services (task-run
recorder, event persister) commit many times a second, so one bot's subflow creation (``POST /task_runs/``, which
reads the flow run's labels first) lost 2–15 s that way (docs/orchestration.md "Costs"). The failed transaction was
rolled back, so running the same request again inside the server, a few milliseconds later, is what the client's
retry would do, minus the seconds of back-off.

On any database, the lease store (``lease_storage.filesystem``, which keeps instance locks across a server
restart) serialises its expiration index through a lock *file* that waiters poll every 0.1 s: ten instance locks
taken at once queued ≈ 0.75 s each there. :func:`gated_lease_index` puts an in-process lock in front of it.

Run: ``python -m flows.server_app --host H --port P`` with the environment of :func:`flows.server.server_env`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BUSY_ATTEMPTS", "RetryBusy", "gated_lease_index", "immediate_sqlite_writes", "main", "skip_stored_events"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

BUSY_ATTEMPTS = 8  # in-server attempts of a request answered 503; then the 503 goes to the client as before
BUSY_DELAY_S = 0.02  # first pause between attempts, doubled each time up to BUSY_MAX_DELAY_S (jittered)
BUSY_MAX_DELAY_S = 0.5
MAX_BODY = 4 * 1024 * 1024  # a larger request body is not buffered (and not retried)


class RetryBusy:
    """ASGI middleware: a request the app answers 503 (database busy) is run again, up to :data:`BUSY_ATTEMPTS`
    times with short jittered pauses (≈ 2 s in all), before the last 503 is returned.

    Only plain HTTP requests whose body fits :data:`MAX_BODY` (buffered to be replayed); websockets and the
    lifespan pass through. A 503 is decided on its ``http.response.start``, before anything reached the client.
    """

    def __init__(self, app: ASGIApp, attempts: int = BUSY_ATTEMPTS) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away before sending its body
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if not message.get("more_body", False):
                break
            if size > MAX_BODY:  # stream the rest through, once
                await self.app(scope, _replay(b"".join(chunks), receive, more=True), send)
                return
        body = b"".join(chunks)
        for attempt in range(self.attempts):
            final = attempt == self.attempts - 1
            busy = False

            async def forward(message: Message, final: bool = final) -> None:
                nonlocal busy
                if message["type"] == "http.response.start" and message["status"] == 503 and not final:
                    busy = True
                if not busy:
                    await send(message)

            try:
                await self.app(dict(scope), _replay(body, receive), forward)  # routing rewrites the scope
            except Exception:
                if not busy:  # Starlette re-raises after sending its error response: only a 503 is retried
                    raise
            if not busy:
                return
            await asyncio.sleep(min(BUSY_MAX_DELAY_S, BUSY_DELAY_S * 2 ** attempt) * random.uniform(0.5, 1.5))  # noqa: S311


def _replay(body: bytes, receive: Receive, *, more: bool = False) -> Receive:
    """A ``receive`` that first yields the buffered ``body``, then defers to the real one (disconnects, the rest)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replayed


def immediate_sqlite_writes() -> None:
    """Begin Prefect's write transactions on SQLite with ``BEGIN IMMEDIATE`` (Prefect: ``DEFERRED`` unless
    ``with_for_update``): the write lock is taken at ``BEGIN``, where SQLite waits for it (``busy_timeout``, 30 s),
    instead of at the first write after a read, where it fails at once when another connection committed
    meanwhile (``SQLITE_BUSY_SNAPSHOT``). Reads outside a transaction are unchanged (WAL: they never wait).
    No effect on PostgreSQL."""
    from prefect.server.database.configurations import AioSqliteConfiguration

    deferred = AioSqliteConfiguration.begin_transaction
    if getattr(deferred, "emufleet_immediate", False):
        return

    @contextlib.asynccontextmanager
    async def begin_transaction(self: AioSqliteConfiguration, session: Any,
                                with_for_update: bool = False) -> AsyncIterator[Any]:
        async with deferred(self, session, with_for_update=True) as transaction:
            yield transaction

    begin_transaction.emufleet_immediate = True  # type: ignore[attr-defined]
    AioSqliteConfiguration.begin_transaction = begin_transaction  # type: ignore[method-assign]


def gated_lease_index() -> None:
    """Serialise the filesystem lease store's expiration-index updates inside this process with an asyncio lock,
    before its lock file: the file lock is then taken at once (it still guards against other processes), where
    concurrent requests of this one used to poll for it every 0.1 s, one winner per poll."""
    from prefect.server.concurrency.lease_storage.filesystem import ConcurrencyLeaseStorage

    filelocked = ConcurrencyLeaseStorage._lock_expiration_index
    if getattr(filelocked, "emufleet_gated", False):
        return
    gate = asyncio.Lock()  # one per process, shared by every storage instance (the server makes them per request)

    @contextlib.asynccontextmanager
    async def lock_expiration_index(self: ConcurrencyLeaseStorage) -> AsyncIterator[None]:
        async with gate, filelocked(self):
            yield

    lock_expiration_index.emufleet_gated = True  # type: ignore[attr-defined]
    ConcurrencyLeaseStorage._lock_expiration_index = lock_expiration_index  # type: ignore[method-assign]


def skip_stored_events() -> None:
    """Let Prefect's event persister write only events not stored yet, each once (SQLite only).

    After a server restart every client resends its recent events, stored or not (it cannot know). Prefect's
    SQLite writer skips stored ones per batch but then runs an ``INSERT`` with no rows for a batch holding only
    those (``NOT NULL constraint failed: events.occurred``); the persister retries 5 times and drops the whole
    flush, the new events in it included (docs/orchestration.md "What a server restart loses"). PostgreSQL's
    writer (``ON CONFLICT DO NOTHING``) is left alone."""
    import sqlalchemy as sa
    from prefect.server.database import provide_database_interface
    from prefect.server.events.services import event_persister

    write = event_persister.write_events  # type: ignore[attr-defined]  # imported there, used by name
    if getattr(write, "emufleet_skips_stored", False):
        return

    async def write_events(session: Any, events: list[Any]) -> None:
        if events and session.get_bind().dialect.name == "sqlite":
            table = provide_database_interface().Event
            unique = list({event.id: event for event in events[::-1]}.values())[::-1]  # each id once, the first
            stored: set[Any] = set()
            for start in range(0, len(unique), 500):  # bound parameters per statement
                ids = [event.id for event in unique[start:start + 500]]
                stored.update((await session.scalars(sa.select(table.id).where(table.id.in_(ids)))).all())
            events = [event for event in unique if event.id not in stored]
        await write(session=session, events=events)

    write_events.emufleet_skips_stored = True  # type: ignore[attr-defined]
    event_persister.write_events = write_events  # type: ignore[attr-defined]  # the name its flush calls


def main(argv: list[str] | None = None) -> None:
    """Serve Prefect's API and UI (services included) on ``--host``/``--port``, as ``prefect server start``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    import prefect
    import uvicorn
    from prefect.server.api.server import create_app
    from prefect.settings import (
        PREFECT_SERVER_API_KEEPALIVE_TIMEOUT,
        PREFECT_SERVER_API_WEBSOCKET_PING_INTERVAL,
        PREFECT_SERVER_API_WEBSOCKET_PING_TIMEOUT,
        PREFECT_SERVER_LOGGING_LEVEL,
    )

    immediate_sqlite_writes()
    gated_lease_index()
    skip_stored_events()
    uvicorn.run(app=RetryBusy(create_app(final=True)), app_dir=str(prefect.__module_path__.parent),
                host=args.host, port=args.port, timeout_keep_alive=PREFECT_SERVER_API_KEEPALIVE_TIMEOUT.value(),
                ws_ping_interval=PREFECT_SERVER_API_WEBSOCKET_PING_INTERVAL.value(),
                ws_ping_timeout=PREFECT_SERVER_API_WEBSOCKET_PING_TIMEOUT.value(),
                log_level=PREFECT_SERVER_LOGGING_LEVEL.value().lower())


if __name__ == "__main__":
    main()

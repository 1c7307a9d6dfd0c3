"""Instance claims: which flow runs claim an instance, one row per (instance, flow run).

A claim is written before its claimer takes the instance's lock slot (a Prefect concurrency limit), so a slot
that is taken while no live run claims its instance was leaked by a server restart and may be reset
(``adapters.locks.reconcile``). Claiming is an insert that skips an existing row, unclaiming an update of that
one row: each a statement the database decides, so concurrent bot coroutines and launches never overwrite each
other's claims (they did as read-modify-writes of a flow run's tags). An unclaimed row stays (``released_at``)
until :meth:`ClaimStore.prune`: its claimer may have ended less than a lease ago and still hold the slot.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import Engine, Table, delete, or_, select, update

from emufleet.control._sql import insert_if_absent
from emufleet.db import InstanceClaim, translate_db_errors, utcnow
from emufleet.hosts import InstanceId

__all__ = ["ClaimStore"]

_T = cast(Table, InstanceClaim.__table__)


class ClaimStore:
    """Instance claims in the database at ``engine`` (migrated: ``db.upgrade``). Flow runs are named by their
    id's text. Thread-safe and process-safe: every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @translate_db_errors("claim instances")
    def claim(self, flow_run_id: str, instances: Iterable[InstanceId], *, launch_id: str | None = None) -> None:
        """Record that ``flow_run_id`` (of launch ``launch_id``) claims ``instances`` (idempotent; a released
        claim of the same run is claimed again)."""
        now = utcnow()
        keys = list(dict.fromkeys(i.key for i in instances))
        rows = [{"instance": key, "flow_run_id": flow_run_id, "launch_id": launch_id, "claimed_at": now}
                for key in keys]
        with self.engine.begin() as conn:
            insert_if_absent(conn, _T, rows)
            conn.execute(update(_T).where(_T.c.flow_run_id == flow_run_id, _T.c.instance.in_(keys),
                                          _T.c.released_at.is_not(None)).values(released_at=None, claimed_at=now))

    @translate_db_errors("unclaim an instance")
    def unclaim(self, flow_run_id: str, instance: InstanceId) -> None:
        """Release ``flow_run_id``'s claim on ``instance`` (nothing if there is none)."""
        with self.engine.begin() as conn:
            conn.execute(update(_T).where(_T.c.instance == instance.key, _T.c.flow_run_id == flow_run_id,
                                          _T.c.released_at.is_(None)).values(released_at=utcnow()))

    @translate_db_errors("read instance claims")
    def claimers(self, instance: InstanceId, *, released_since: datetime | None = None) -> list[str]:
        """The flow runs claiming ``instance`` (alive or not: ask Prefect), oldest claim first; with
        ``released_since`` (naive UTC) also those that released it since then."""
        live = _T.c.released_at.is_(None)
        when = or_(live, _T.c.released_at >= released_since) if released_since is not None else live
        with self.engine.connect() as conn:
            rows = conn.execute(select(_T.c.flow_run_id).where(_T.c.instance == instance.key, when)
                                .order_by(_T.c.claimed_at, _T.c.flow_run_id))
            return [row[0] for row in rows]

    @translate_db_errors("read instance claims")
    def claimer_launches(self, instance: InstanceId, *, released_since: datetime | None = None) -> list[str]:
        """The launches whose runs claim ``instance`` now (``launch_id`` of the unreleased claims); with
        ``released_since`` (naive UTC) also those whose claims were released since then."""
        live = _T.c.released_at.is_(None)
        when = or_(live, _T.c.released_at >= released_since) if released_since is not None else live
        with self.engine.connect() as conn:
            rows = conn.execute(select(_T.c.launch_id).where(_T.c.instance == instance.key, when,
                                                             _T.c.launch_id.is_not(None)).distinct())
            return sorted(row[0] for row in rows)

    @translate_db_errors("read instance claims")
    def claims_of(self, flow_run_id: str) -> list[InstanceId]:
        """The instances ``flow_run_id`` claims (not released)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_T.c.instance).where(_T.c.flow_run_id == flow_run_id,
                                                            _T.c.released_at.is_(None)).order_by(_T.c.instance))
            return [InstanceId.parse(row[0]) for row in rows]

    @translate_db_errors("read instance claims")
    def claimer_runs(self) -> list[str]:
        """Every flow run holding an unreleased claim (to find the claims of runs that ended without releasing)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_T.c.flow_run_id).where(_T.c.released_at.is_(None)).distinct())
            return [row[0] for row in rows]

    @translate_db_errors("release the claims of ended runs")
    def release_runs(self, flow_run_ids: Collection[str]) -> int:
        """Release every claim of ``flow_run_ids`` (runs that ended: killed, crashed); returns how many."""
        if not flow_run_ids:
            return 0
        with self.engine.begin() as conn:
            return int(conn.execute(update(_T).where(_T.c.flow_run_id.in_(list(flow_run_ids)),
                                                     _T.c.released_at.is_(None)).values(released_at=utcnow()))
                       .rowcount)

    @translate_db_errors("prune released claims")
    def prune(self, released_before: datetime) -> int:
        """Delete the claims released before ``released_before`` (naive UTC); returns how many."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(_T).where(_T.c.released_at < released_before)).rowcount)

"""SQLAlchemy 2.0 models of the seed's schema that pools and routines use (digest §6), plus leases.

Tables:

* ``accounts``: migration 002 of the seed plus the pool columns of 008 (``pool_status``, ``failure_count``,
  ``last_error``, ``completed_at``). The seed's checkout columns of 011 are replaced by a **lease**: owner (flow run
  or orchestration id), instance, a random token naming this one lease, when it was taken, when it expires and the
  last heartbeat (digest §5.6: the seed had a fixed 10-minute staleness rule and no heartbeat).
* ``routine_executions``: migration 009/010, attributed to the account actually leased (§6 defect).
* ``account_results``: one row per ``CompleteAccount``/``MarkAccountFailed``/``ReturnAccount``, so pool stats
  (sums of results, digest §5.5) survive restarts; the seed kept them in memory.
* ``pools`` / ``pool_members``: the resolved membership of each pool (digest §5.4), persisted at refresh.
* ``launch_budgets``: the ``max_accounts`` budget of each running launch (digest §9.9), keyed by the launch's
  orchestration id, shared by its bots on every host (:class:`emufleet.pools.budget.AccountBudget`).
* ``launches``, ``fleet_events``, ``quarantines``: the farm's history (:mod:`emufleet.farm`): every launch with its
  group and end, an append-only ledger of what the bots did (accounts, steps, recoveries by rung, give-ups), and
  the instances and accounts taken out of service, kept across restarts for the dashboard.
* ``live_screens`` / ``live_watch``: the console's live wall (:mod:`emufleet.wall`): each instance's newest screen
  as published by its bot or its host, and who is looking (so that nothing is published while nobody is).
* ``control_launches`` / ``control_commands`` / ``control_cursors``: the control plane of running launches
  (:mod:`emufleet.control`): each launch's operator commands, numbered 1, 2, … in the order they were sent, and
  per bot how far they were taken.
* ``instance_claims``: which flow runs claim an instance (:class:`emufleet.control.ClaimStore`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from emufleet.db.engine import utcnow

__all__ = ["COMMAND_KINDS", "POOL_STATUSES", "Account", "AccountResultRecord", "Base", "ControlCommand",
           "ControlCursor", "ControlLaunch", "FleetEvent", "InstanceClaim", "LaunchBudget", "LaunchRecord",
           "LiveScreen", "LiveWatch", "PoolMember", "PoolRecord", "Quarantine", "RoutineExecution"]

POOL_STATUSES = ("available", "in_use", "completed", "failed", "skipped")
"""Account statuses (digest §5.5)."""
COMMAND_KINDS = ("pause", "resume", "stop", "restart_app", "restart_instance", "record")
"""Operator commands (``control_commands.kind``)."""

# Deterministic constraint names, so migrations can alter them on SQLite (batch mode) and PostgreSQL alike.
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every emufleet table."""

    metadata = MetaData(naming_convention=_NAMING)


class Account(Base):
    """A game account (digest §6 migrations 002 and 008) and its lease (replacing 011)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_account: Mapped[str] = mapped_column(String(255), unique=True)
    device_password: Mapped[str] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255))
    friend_code: Mapped[str | None] = mapped_column(String(64))
    shinedust: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    hourglasses: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    pokegold: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    pack_points: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    packs_opened: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    wonder_picks_done: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    account_level: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=func.current_timestamp())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    stamina_recovery_time: Mapped[datetime | None] = mapped_column(DateTime)
    file_path: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_banned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    notes: Mapped[str | None] = mapped_column(Text)
    # Pool state (seed migration 008), persisted on every transition.
    pool_status: Mapped[str] = mapped_column(String(16), default="available", server_default="available")
    failure_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The lease: NULL token = not leased; a lease whose lease_expires_at is past may be reclaimed by anyone.
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_instance: Mapped[str | None] = mapped_column(String(255))
    lease_token: Mapped[str | None] = mapped_column(String(36))
    leased_at: Mapped[datetime | None] = mapped_column(DateTime)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_accounts_status_expiry", "pool_status", "lease_expires_at"),
        Index("ix_accounts_lease_owner", "lease_owner", "lease_instance"),
    )


class RoutineExecution(Base):
    """One routine run on one leased account (digest §6 migrations 009–010)."""

    __tablename__ = "routine_executions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    routine_name: Mapped[str] = mapped_column(String(255))
    execution_status: Mapped[str] = mapped_column(String(16), default="started", server_default="started")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=func.current_timestamp())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    error_message: Mapped[str | None] = mapped_column(Text)
    packs_opened: Mapped[int | None] = mapped_column(Integer)
    wonder_picks_done: Mapped[int | None] = mapped_column(Integer)
    bot_instance: Mapped[str | None] = mapped_column(String(255))
    orchestration_id: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index("ix_routine_executions_cooldown", "routine_name", "execution_status", "completed_at"),
        Index("ix_routine_executions_orchestration", "orchestration_id", "routine_name", "execution_status"),
    )


class AccountResultRecord(Base):
    """One outcome reported for a leased account (digest §5.5 ``AccountResult``), for pool stats."""

    __tablename__ = "account_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    pool_name: Mapped[str | None] = mapped_column(String(255), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # completed | failed | returned
    success: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    packs_opened: Mapped[int | None] = mapped_column(Integer)
    cards_found: Mapped[int | None] = mapped_column(Integer)
    stars_total: Mapped[int | None] = mapped_column(Integer)
    keep_count: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_instance: Mapped[str | None] = mapped_column(String(255))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=func.current_timestamp())


class PoolRecord(Base):
    """A pool known to the database: when it was last resolved (drives ``refresh_interval``)."""

    __tablename__ = "pools"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime)
    definition_file: Mapped[str | None] = mapped_column(Text)


class PoolMember(Base):
    """An account resolved into a pool at its last refresh; ``position`` is the resolution order (§5.4)."""

    __tablename__ = "pool_members"

    pool_name: Mapped[str] = mapped_column(ForeignKey("pools.name", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_pool_members_account", "account_id"),)


class LaunchBudget(Base):
    """How many accounts a running launch has taken, and may take (``max_accounts``; NULL: unlimited).

    ``launch_id`` is the launch's orchestration id: its flow run id, the owner of its account leases and the
    ``orchestration_id`` of its ``routine_executions``. The row lives while the launch runs (docs/pools.md).
    """

    __tablename__ = "launch_budgets"

    launch_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    max_accounts: Mapped[int | None] = mapped_column(Integer)
    taken: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=func.current_timestamp())

    __table_args__ = (
        CheckConstraint("taken >= 0", name="taken_not_negative"),
        CheckConstraint("max_accounts IS NULL OR taken <= max_accounts", name="taken_within_limit"),
    )


class LaunchRecord(Base):
    """One launch of a group, kept after it ends (:mod:`emufleet.farm.history`).

    ``launch_id`` is the launch's orchestration id (its flow run id: the owner of its account leases);
    ``ended_at``/``final_state`` stay NULL while it runs, and for a launch whose process died (the console then
    asks Prefect for the run's state).
    """

    __tablename__ = "launches"

    launch_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(255), index=True)
    host: Mapped[str] = mapped_column(String(255), default="local", server_default="local")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=func.current_timestamp(),
                                                 index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    final_state: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    bots: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class FleetEvent(Base):
    """One entry of the farm's ledger: something a bot did that the dashboard counts (:mod:`emufleet.farm.ledger`).

    ``kind`` is a bot event kind (``account.completed``, ``bot.recovering``, ``bot.gave-up``, ``bot.stuck``…) or
    ``steps`` (``count`` steps done since the bot's previous ``steps`` entry). ``instance`` is ``host/serial``.
    """

    __tablename__ = "fleet_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=func.current_timestamp())
    kind: Mapped[str] = mapped_column(String(32))
    group_name: Mapped[str] = mapped_column(String(255))
    bot: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    instance: Mapped[str] = mapped_column(String(511))
    launch_id: Mapped[str | None] = mapped_column(String(255))
    account: Mapped[str | None] = mapped_column(String(255))
    rung: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(255))
    count: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __table_args__ = (
        Index("ix_fleet_events_at", "at"),
        Index("ix_fleet_events_instance_at", "instance", "at"),
        Index("ix_fleet_events_launch", "launch_id", "kind"),
    )


class Quarantine(Base):
    """An instance or account taken out of service (:mod:`emufleet.farm.quarantine`): why, since when, and until
    when at least (``cooldown_until``: an instance may pass a health check after it); ``released_at`` ends it.

    ``subject`` is ``host/serial`` for an instance and the account id (as text) for an account.
    """

    __tablename__ = "quarantines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # instance | account
    subject: Mapped[str] = mapped_column(String(511))
    reason: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=func.current_timestamp())
    cooldown_until: Mapped[datetime | None] = mapped_column(DateTime)
    released_at: Mapped[datetime | None] = mapped_column(DateTime)
    released_by: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        CheckConstraint("kind IN ('instance', 'account')", name="kind_known"),
        Index("ix_quarantines_active", "kind", "subject", "released_at"),
    )


class LiveScreen(Base):
    """An instance's newest screen on the live wall (:mod:`emufleet.wall`), one row per ``host`` + ``serial``.

    ``jpeg`` is the frame (a thumbnail, or device size when ``full``) captured at ``at`` (Unix s) of ``width`` ×
    ``height`` device px, published by its bot (``source`` ``bot``, with ``group``/``bot``, the last image ``step``
    and its ``overlay``: JSON checks in device px) or by its host's idle capturer (``idle``). ``driven_until``
    (Unix s): a bot drives the instance until then (refreshed while it runs), so nothing else captures it.
    """

    __tablename__ = "live_screens"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    serial: Mapped[str] = mapped_column(String(255), primary_key=True)
    at: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    width: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    height: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    full: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    jpeg: Mapped[bytes | None] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(16), default="idle", server_default="idle")
    group: Mapped[str | None] = mapped_column(String(255))
    bot: Mapped[int | None] = mapped_column(Integer)
    step: Mapped[str | None] = mapped_column(Text)
    overlay: Mapped[str | None] = mapped_column(Text)
    driven_until: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))


class LiveWatch(Base):
    """Someone looks at the live wall until ``until`` (Unix s): ``host``/``serial`` ``*`` for every instance;
    ``full``: at device size (the console's full view of one instance)."""

    __tablename__ = "live_watch"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    serial: Mapped[str] = mapped_column(String(255), primary_key=True)
    full: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    until: Mapped[float] = mapped_column(Float)


class ControlLaunch(Base):
    """A running launch's command sequence: ``last_seq`` is the number of the newest command sent to it.

    Sending a command raises ``last_seq`` by one in the same transaction that inserts the command, so the row lock
    orders senders: command *n* is committed before *n + 1* can be numbered, and a reader never sees a gap.
    """

    __tablename__ = "control_launches"

    launch_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=func.current_timestamp())


class ControlCommand(Base):
    """One operator command of a launch: ``seq`` (1, 2, … per launch), its kind, the bot it is for (NULL: every bot
    of the launch), who sent it and when."""

    __tablename__ = "control_commands"

    launch_id: Mapped[str] = mapped_column(ForeignKey("control_launches.launch_id", ondelete="CASCADE"),
                                           primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    bot: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=func.current_timestamp())

    __table_args__ = (
        CheckConstraint("kind IN ('pause', 'resume', 'stop', 'restart_app', 'restart_instance', 'record')",
                        name="kind"),
        CheckConstraint("seq > 0", name="seq_positive"),
    )


class ControlCursor(Base):
    """How far one bot of a launch has taken the launch's commands (``taken_seq``: the newest taken)."""

    __tablename__ = "control_cursors"

    launch_id: Mapped[str] = mapped_column(ForeignKey("control_launches.launch_id", ondelete="CASCADE"),
                                           primary_key=True)
    bot: Mapped[int] = mapped_column(Integer, primary_key=True)
    taken_seq: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class InstanceClaim(Base):
    """A flow run's claim on an instance (``<host>/<serial>``), written before it takes the instance's lock slot.

    ``launch_id`` is the launch the claimer belongs to (the claimer itself for a launch run). Whether a claimer
    is alive is the Prefect server's knowledge (its run's state), asked by ``adapters.locks``. An unclaimed row
    keeps ``released_at`` for a while: a claimer that ended less than a lease ago may still hold the slot.
    """

    __tablename__ = "instance_claims"

    instance: Mapped[str] = mapped_column(String(255), primary_key=True)
    flow_run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    launch_id: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=func.current_timestamp())
    released_at: Mapped[datetime | None] = mapped_column(DateTime)  # unclaimed; kept a while (recently ended)

    __table_args__ = (Index("ix_instance_claims_run", "flow_run_id"),)

"""The live wall's rows in the emufleet database (``live_screens``, ``live_watch``): the one place every host's
bots and capturers meet the console, local or remote (the database is already shared by a fleet's hosts).

* the console says who looks (:func:`want_wall` at the whole wall, :func:`want` at one instance: a few seconds at a
  time, renewed while its page is visible);
* a process's publisher of bot frames, or a host's idle capturer, asks once a round who looks at its instances
  (:func:`looks`) and publishes their newest frames (:func:`publish_many`, one transaction); a bot marks the
  instance it drives (:func:`drive`) so nothing else captures it;
* the console reads the screens (:func:`screens`), then only the frames that changed (:func:`jpegs`, one query).

An instance is an :class:`~emufleet.hosts.InstanceId` everywhere in this API; the tables key their rows by its
``host`` and ``serial`` columns, converted here and nowhere else. A look at the whole wall is a ``live_watch`` row of
``*``/``*`` that never leaves this module (:func:`want_wall`; :attr:`Looks.wall`).

Times are Unix seconds. Every function raises :class:`~emufleet.errors.DatabaseError` when the database fails.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Engine, and_, bindparam, case, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from emufleet import db
from emufleet.db import LiveScreen, LiveWatch
from emufleet.hosts import InstanceId
from emufleet.hosts.identity import is_serial

__all__ = ["Frame", "Looks", "Screen", "Watch", "WATCH_S", "drive", "driven", "forget_watches", "jpeg", "jpegs",
           "looks", "publish", "publish_many", "release", "screens", "want", "want_wall", "watching"]

_WALL = "*"  # host and serial of a look at the whole wall (no instance is named so: InstanceId refuses '*' hosts)
WATCH_S = 3.0  # how long one look lasts: the page renews it every second while visible


@dataclass(frozen=True, slots=True)
class Watch:
    """Whether anyone looks at an instance, and whether at device size."""

    wanted: bool
    full: bool = False


@dataclass(frozen=True, slots=True)
class Looks:
    """The looks at a set of hosts' instances at one time (:func:`looks`): at the whole ``wall``, and at single
    ``instances`` (whether one of those looks is at device size)."""

    wall: Watch = Watch(False)
    instances: Mapping[InstanceId, bool] = field(default_factory=dict)

    @property
    def anyone(self) -> bool:
        """Whether anyone looks at anything."""
        return self.wall.wanted or bool(self.instances)

    def at(self, instance: InstanceId) -> Watch:
        """Whether anyone looks at ``instance`` (directly, or at the whole wall), and whether at device size."""
        direct = self.instances.get(instance)
        return Watch(self.wall.wanted or direct is not None, self.wall.full or bool(direct))


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame to publish for ``instance``: the JPEG bytes, its capture time (Unix s), its device size (px),
    whether at device size, who publishes it (``bot`` or ``idle``), and what it shows."""

    instance: InstanceId
    image: bytes
    at: float
    width: int
    height: int
    full: bool
    source: str
    group: str | None = None
    bot: int | None = None
    step: str | None = None
    overlay: str | None = None


@dataclass(frozen=True, slots=True)
class Screen:
    """A row of the wall without its image: where, when, size (device px), who published it, the last image step
    and its overlay (JSON text), whether a bot drives it now."""

    instance: InstanceId
    at: float
    width: int
    height: int
    full: bool
    source: str
    group: str | None
    bot: int | None
    step: str | None
    overlay: str | None
    driven: bool


def want_wall(engine: Engine, *, full: bool = False, seconds: float = WATCH_S, now: float | None = None) -> None:
    """Someone looks at the whole wall (every instance) for the next ``seconds``; ``full``: at device size."""
    _want(engine, _WALL, _WALL, full, (now or time.time()) + seconds)


def want(engine: Engine, instance: InstanceId, *, full: bool = False, seconds: float = WATCH_S,
         now: float | None = None) -> None:
    """Someone looks at ``instance`` for the next ``seconds``; ``full``: at device size (the console's full view)."""
    _want(engine, instance.host, instance.serial, full, (now or time.time()) + seconds)


def _want(engine: Engine, host: str, serial: str, full: bool, until: float) -> None:
    w = LiveWatch
    # Core statements, not an ORM session: the console runs this at every request of a visible wall page
    with db.translate_db_errors("live wall: watch"):
        for _ in range(2):  # a concurrent first insert of the same row: the second try updates it
            try:
                with engine.begin() as conn:
                    done = conn.execute(update(w).where(w.host == host, w.serial == serial, w.full == full)
                                        .values(until=case((w.until < until, until), else_=w.until))).rowcount
                    if not done:
                        conn.execute(insert(w).values(host=host, serial=serial, full=full, until=until))
                return
            except IntegrityError:
                continue


def watching(engine: Engine, instance: InstanceId, *, now: float | None = None) -> Watch:
    """Whether anyone looks at ``instance`` now (directly, or at the whole wall)."""
    return looks(engine, (instance.host,), now=now).at(instance)


def looks(engine: Engine, hosts: Iterable[str], *, now: float | None = None) -> Looks:
    """Every look now at an instance of ``hosts`` or at the whole wall, in one query (a process's publisher asks
    this once a second for all its bots)."""
    now = now or time.time()
    w = LiveWatch
    with db.translate_db_errors("live wall: watch"), engine.connect() as conn:
        rows = conn.execute(select(w.host, w.serial, w.full).where(w.host.in_({*hosts, _WALL}), w.until > now)).all()
    walls = [bool(r.full) for r in rows if r.host == _WALL]
    instances: dict[InstanceId, bool] = {}
    for r in rows:
        # want() writes rows from an InstanceId (hosts are filtered by the query); an older console wrote any query
        # string: such a row is no instance, skipped (a ValueError here would stop the publisher thread)
        if r.host != _WALL and is_serial(r.serial):
            key = InstanceId(r.host, r.serial)
            instances[key] = instances.get(key, False) or bool(r.full)
    return Looks(Watch(bool(walls), any(walls)), instances)


def publish(engine: Engine, instance: InstanceId, image: bytes, *, at: float, width: int, height: int,
            full: bool, source: str, group: str | None = None, bot: int | None = None, step: str | None = None,
            overlay: str | None = None) -> None:
    """Store the newest frame of ``instance`` (JPEG bytes) with what it shows."""
    publish_many(engine, [Frame(instance, image, at, width, height, full, source, group, bot, step, overlay)])


def publish_many(engine: Engine, frames: Sequence[Frame]) -> None:
    """Store several instances' newest frames in one transaction (a publisher's whole round: one query for the rows
    that exist, one prepared UPDATE executed for all of them, an INSERT for the instances new to the wall)."""
    if not frames:
        return
    c = LiveScreen
    rows = [{"k_host": f.instance.host, "k_serial": f.instance.serial, "at": f.at, "width": f.width,
             "height": f.height, "full": f.full, "jpeg": f.image, "source": f.source, "group": f.group, "bot": f.bot,
             "step": f.step, "overlay": f.overlay} for f in frames]
    with db.translate_db_errors("live wall: publish"):
        for _ in range(2):
            try:
                with engine.begin() as conn:
                    have = {(r.host, r.serial) for r in conn.execute(
                        select(c.host, c.serial).where(c.host.in_({f.instance.host for f in frames})))}
                    old = [row for row in rows if (row["k_host"], row["k_serial"]) in have]
                    if old:  # the SET clause is the parameters' column keys (Core's executemany)
                        conn.execute(_UPDATE_FRAME, old)
                    new = [{"host": row["k_host"], "serial": row["k_serial"],
                            **{k: v for k, v in row.items() if not k.startswith("k_")}}
                           for row in rows if (row["k_host"], row["k_serial"]) not in have]
                    if new:
                        conn.execute(insert(c), new)
                return
            except IntegrityError:  # a concurrent first insert of a row: the second try updates it
                continue


# built once: a publisher runs it every second, and building a statement costs more than executing it
_UPDATE_FRAME = update(LiveScreen).where(LiveScreen.host == bindparam("k_host"),
                                         LiveScreen.serial == bindparam("k_serial"))


def drive(engine: Engine, instance: InstanceId, *, group: str, bot: int, seconds: float = 30.0) -> None:
    """A bot drives ``instance`` for the next ``seconds`` (renew it while the bot runs)."""
    _upsert(engine, instance, {"driven_until": time.time() + seconds, "group": group, "bot": bot},
            "live wall: drive")


def release(engine: Engine, instance: InstanceId) -> None:
    """The bot no longer drives ``instance``."""
    with db.translate_db_errors("live wall: release"), db.session(engine) as s:
        s.execute(update(LiveScreen).where(*_row(instance))
                  .values(driven_until=0.0))
        s.commit()


def _row(instance: InstanceId) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The condition on ``live_screens`` that selects ``instance``'s row."""
    return LiveScreen.host == instance.host, LiveScreen.serial == instance.serial


def _upsert(engine: Engine, instance: InstanceId, values: dict[str, object], action: str) -> None:
    # Core statements on a connection, not an ORM session: this runs once a second per watched bot
    with db.translate_db_errors(action):
        for _ in range(2):
            try:
                with engine.begin() as conn:
                    done = conn.execute(update(LiveScreen).where(*_row(instance)).values(**values)).rowcount
                    if not done:
                        conn.execute(insert(LiveScreen).values(host=instance.host, serial=instance.serial, **values))
                return
            except IntegrityError:
                continue


def screens(engine: Engine, *, max_age_s: float = 60.0, now: float | None = None) -> list[Screen]:
    """The wall: every screen published in the last ``max_age_s`` seconds, by host then serial."""
    now = now or time.time()
    c = LiveScreen
    with db.translate_db_errors("live wall: screens"), engine.connect() as s:
        rows = s.execute(select(c.host, c.serial, c.at, c.width, c.height, c.full, c.source, c.group, c.bot, c.step,
                                c.overlay, c.driven_until)
                         .where(c.at > now - max_age_s, c.jpeg.is_not(None)).order_by(c.host, c.serial)).all()
    return [Screen(InstanceId(r.host, r.serial), r.at, r.width, r.height, r.full, r.source, r.group, r.bot, r.step,
                   r.overlay, driven=r.driven_until > now) for r in rows]


def driven(engine: Engine, host: str, *, now: float | None = None) -> set[InstanceId]:
    """The instances of ``host`` a bot drives now."""
    now = now or time.time()
    with db.translate_db_errors("live wall: driven"), engine.connect() as s:
        return {InstanceId(host, serial) for serial in s.scalars(
            select(LiveScreen.serial).where(LiveScreen.host == host, LiveScreen.driven_until > now))}


def jpeg(engine: Engine, instance: InstanceId) -> bytes | None:
    """The newest frame of ``instance`` (JPEG), or ``None``."""
    with db.translate_db_errors("live wall: frame"), engine.connect() as s:
        return s.scalar(select(LiveScreen.jpeg).where(*_row(instance)))


def jpegs(engine: Engine, instances: Iterable[InstanceId]) -> dict[InstanceId, tuple[float, bytes]]:
    """The newest frames of several instances in one query: ``{instance: (at, JPEG)}`` (an instance without a frame
    is absent)."""
    wanted = [and_(*_row(instance)) for instance in instances]
    if not wanted:
        return {}
    c = LiveScreen
    with db.translate_db_errors("live wall: frame"), engine.connect() as conn:
        rows = conn.execute(select(c.host, c.serial, c.at, c.jpeg).where(or_(*wanted), c.jpeg.is_not(None))).all()
    return {InstanceId(r.host, r.serial): (r.at, r.jpeg) for r in rows}


def forget_watches(engine: Engine, *, now: float | None = None) -> None:
    """Delete looks that ended (housekeeping; the console runs it now and then)."""
    with db.translate_db_errors("live wall: watch"), db.session(engine) as s:
        s.execute(delete(LiveWatch).where(LiveWatch.until < (now or time.time()) - 60))
        s.commit()

"""The live wall's rows in the emufleet database (``live_screens``, ``live_watch``): the one place every host's
bots and capturers meet the console, local or remote (the database is already shared by a fleet's hosts).

* the console says who looks (:func:`want`, a few seconds at a time, renewed while its page is visible);
* a bot or a host's idle capturer asks whether anyone looks at an instance (:func:`watching`) and publishes its
  newest frame (:func:`publish`); a bot marks the instance it drives (:func:`drive`) so nothing else captures it;
* the console reads the screens (:func:`screens`, :func:`jpeg`).

Times are Unix seconds. Every function raises :class:`~emufleet.errors.DatabaseError` when the database fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from emufleet import db
from emufleet.db import LiveScreen, LiveWatch

__all__ = ["ALL", "Screen", "Watch", "WATCH_S", "anyone_watching", "drive", "driven", "forget_watches", "jpeg",
           "publish", "release", "screens", "want", "watching"]

ALL = "*"
WATCH_S = 3.0  # how long one look lasts: the page renews it every second while visible


@dataclass(frozen=True, slots=True)
class Watch:
    """Whether anyone looks at an instance, and whether at device size."""

    wanted: bool
    full: bool = False


@dataclass(frozen=True, slots=True)
class Screen:
    """A row of the wall without its image: where, when, size (device px), who published it, the last image step
    and its overlay (JSON text), whether a bot drives it now."""

    host: str
    serial: str
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


def want(engine: Engine, host: str = ALL, serial: str = ALL, *, full: bool = False, seconds: float = WATCH_S,
         now: float | None = None) -> None:
    """Someone looks at ``host``/``serial`` (``*``: every) for the next ``seconds``; ``full``: at device size."""
    until = (now or time.time()) + seconds
    with db.translate_db_errors("live wall: watch"), db.session(engine) as s:
        for _ in range(2):  # a concurrent first insert of the same row: the second try updates it
            try:
                row = s.get(LiveWatch, (host, serial, full))
                if row is None:
                    s.add(LiveWatch(host=host, serial=serial, full=full, until=until))
                else:
                    row.until = max(row.until, until)
                s.commit()
                return
            except IntegrityError:
                s.rollback()


def watching(engine: Engine, host: str, serial: str, *, now: float | None = None) -> Watch:
    """Whether anyone looks at ``host``/``serial`` now (directly, or at the whole wall)."""
    now = now or time.time()
    with db.translate_db_errors("live wall: watch"), engine.connect() as conn:
        rows = conn.execute(select(LiveWatch.full).where(
            LiveWatch.host.in_((host, ALL)), LiveWatch.serial.in_((serial, ALL)), LiveWatch.until > now)).all()
    return Watch(bool(rows), any(full for (full,) in rows))


def anyone_watching(engine: Engine, host: str, *, now: float | None = None) -> bool:
    """Whether anyone looks at any instance of ``host`` now (the whole wall, or one instance's full view)."""
    now = now or time.time()
    with db.translate_db_errors("live wall: watch"), db.session(engine) as s:
        return s.scalar(select(LiveWatch.until).where(LiveWatch.host.in_((host, ALL)), LiveWatch.until > now)
                        .limit(1)) is not None


def publish(engine: Engine, host: str, serial: str, image: bytes, *, at: float, width: int, height: int,
            full: bool, source: str, group: str | None = None, bot: int | None = None, step: str | None = None,
            overlay: str | None = None) -> None:
    """Store the newest frame of ``host``/``serial`` (JPEG bytes) with what it shows."""
    values = {"at": at, "width": width, "height": height, "full": full, "jpeg": image, "source": source,
              "group": group, "bot": bot, "step": step, "overlay": overlay}
    _upsert(engine, host, serial, values, "live wall: publish")


def drive(engine: Engine, host: str, serial: str, *, group: str, bot: int, seconds: float = 30.0) -> None:
    """A bot drives ``host``/``serial`` for the next ``seconds`` (renew it while the bot runs)."""
    _upsert(engine, host, serial, {"driven_until": time.time() + seconds, "group": group, "bot": bot},
            "live wall: drive")


def release(engine: Engine, host: str, serial: str) -> None:
    """The bot no longer drives ``host``/``serial``."""
    with db.translate_db_errors("live wall: release"), db.session(engine) as s:
        s.execute(update(LiveScreen).where(LiveScreen.host == host, LiveScreen.serial == serial)
                  .values(driven_until=0.0))
        s.commit()


def _upsert(engine: Engine, host: str, serial: str, values: dict[str, object], action: str) -> None:
    # Core statements on a connection, not an ORM session: this runs once a second per watched bot
    with db.translate_db_errors(action):
        for _ in range(2):
            try:
                with engine.begin() as conn:
                    done = conn.execute(update(LiveScreen).where(LiveScreen.host == host, LiveScreen.serial == serial)
                                        .values(**values)).rowcount
                    if not done:
                        conn.execute(insert(LiveScreen).values(host=host, serial=serial, **values))
                return
            except IntegrityError:
                continue


def screens(engine: Engine, *, max_age_s: float = 60.0, now: float | None = None) -> list[Screen]:
    """The wall: every screen published in the last ``max_age_s`` seconds, by host then serial."""
    now = now or time.time()
    c = LiveScreen
    with db.translate_db_errors("live wall: screens"), db.session(engine) as s:
        rows = s.execute(select(c.host, c.serial, c.at, c.width, c.height, c.full, c.source, c.group, c.bot, c.step,
                                c.overlay, c.driven_until)
                         .where(c.at > now - max_age_s, c.jpeg.is_not(None)).order_by(c.host, c.serial)).all()
    return [Screen(r.host, r.serial, r.at, r.width, r.height, r.full, r.source, r.group, r.bot, r.step, r.overlay,
                   driven=r.driven_until > now) for r in rows]


def driven(engine: Engine, host: str, *, now: float | None = None) -> set[str]:
    """Serials of ``host`` a bot drives now."""
    now = now or time.time()
    with db.translate_db_errors("live wall: driven"), db.session(engine) as s:
        return set(s.scalars(select(LiveScreen.serial).where(LiveScreen.host == host,
                                                             LiveScreen.driven_until > now)))


def jpeg(engine: Engine, host: str, serial: str) -> bytes | None:
    """The newest frame of ``host``/``serial`` (JPEG), or ``None``."""
    with db.translate_db_errors("live wall: frame"), db.session(engine) as s:
        return s.scalar(select(LiveScreen.jpeg).where(LiveScreen.host == host, LiveScreen.serial == serial))


def forget_watches(engine: Engine, *, now: float | None = None) -> None:
    """Delete looks that ended (housekeeping; the console runs it now and then)."""
    with db.translate_db_errors("live wall: watch"), db.session(engine) as s:
        s.execute(delete(LiveWatch).where(LiveWatch.until < (now or time.time()) - 60))
        s.commit()

"""What a running routine needs from its bot: :class:`BotContext`, the frame cache and :class:`StepEvent`.

One context per bot: its device (calls serialised by ``device_lock``: the main routine and the sentries share
the device, digest §3.2), template set, routine registry, controller, variable store, account provider and
event hook. No global state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from emufleet.device.interface import DeviceLike
from emufleet.routines.accounts import AccountProvider
from emufleet.routines.control import Controller
from emufleet.routines.variables import VariableStore

if TYPE_CHECKING:
    from emufleet.resources import CapturePacer
    from emufleet.routines.registry import RoutineRegistry
    from emufleet.routines.sentries import SentryManager
    from emufleet.vision import Screen, TemplateSet
    from emufleet.vision.space import Region

__all__ = ["BotContext", "FrameCache", "MatchScore", "StepEvent"]

#: How old a frame ``FindImage``/``ClickIf*`` may reuse (digest §4.4).
FRAME_MAX_AGE_S = 0.1


@dataclass(frozen=True, slots=True)
class MatchScore:
    """One template check of a step: best score (``None`` if nothing could be scored) and the verdict.

    For failure evidence (:mod:`emufleet.bot.evidence`), in device pixels: ``region`` where the template was
    searched, ``location`` the best candidate's box whatever its score (``None`` if nothing could be scored), and
    the ``threshold`` it had to reach.
    """

    template: str
    score: float | None
    found: bool
    threshold: float | None = None
    region: Region | None = None
    location: Region | None = None


@dataclass(frozen=True, slots=True)
class StepEvent:
    """A step started, finished or failed (the hook the Prefect layer and ``routines run`` use).

    Attributes:
        kind: ``"started"``, ``"finished"`` or ``"failed"``.
        routine: registry key of the routine the step belongs to (a sub-routine's own key inside ``RunRoutine``).
        path: the step's place in its file, e.g. ``steps[2].actions[0]``; ``line`` its 1-based line.
        action: canonical action name. depth: 0 for a top-level step of the bot's routine, +1 per nesting.
        duration_ms: wall time of the step (``None`` for ``started``). scores: template checks made by the step
            and its nested steps (the last 50). error: the failure message. sentry: the sentry's routine key when
            the step ran in a sentry, else ``None``. bot_id: the bot. time: ``time.time()`` of the event.
        stuck_after_s: the step's own ``stuck_after`` (seconds), if it declares one.
    """

    kind: Literal["started", "finished", "failed"]
    routine: str
    path: str
    action: str
    depth: int
    line: int | None = None
    duration_ms: float | None = None
    scores: tuple[MatchScore, ...] = ()
    error: str | None = None
    sentry: str | None = None
    bot_id: str = ""
    time: float = field(default_factory=time.time)
    stuck_after_s: float | None = None


class FrameCache:
    """The last captured frame (a :class:`emufleet.vision.Screen`) and its capture time; thread-safe."""

    def __init__(self, max_age_s: float = FRAME_MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._frame: Screen | None = None
        self._at = 0.0

    def get(self) -> Screen | None:
        """The cached frame if it is at most ``max_age_s`` old."""
        with self._lock:
            if self._frame is not None and time.monotonic() - self._at <= self.max_age_s:
                return self._frame
            return None

    def latest(self) -> tuple[Screen, float] | None:
        """The last frame whatever its age, with its capture time (``time.monotonic()``); ``None`` before any."""
        with self._lock:
            return (self._frame, self._at) if self._frame is not None else None

    def put(self, frame: Screen) -> None:
        with self._lock:
            self._frame, self._at = frame, time.monotonic()

    def invalidate(self) -> None:
        with self._lock:
            self._frame = None


class BotContext:
    """Everything a routine run of one bot shares (main routine, sub-routines and sentries).

    Args:
        device: the device (``DeviceLike``; device pixels).
        templates: the template set routines match against (its ``space`` maps routine coordinates).
        registry: the routine registry (``RunRoutine`` and sentries resolve keys in it).
        controller: pause/resume/stop of the bot.
        variables: the bot's one variable store (a dict is copied into a new store).
        accounts: the account provider, or ``None`` (account actions then raise ``NoAccountPoolError``).
        on_event: called with every :class:`StepEvent`, from the thread that ran the step.
        bot_id: the bot's name in events.
        delay_unit_ms: the unit of ``Delay.count`` (the seed's INI ``Delay``, default 250 ms).
        wait_poll_s: seconds between the polls of ``WaitForImage`` (digest §1.5: 50 ms, a fresh frame each time).
        group_config: the group's ``routine_config`` (precedence: runtime > group > routine default).
        on_match: called after every template match with its duration (seconds) and whether it was found, from
            the thread that matched (the bot's metrics: :mod:`emufleet.bot.metrics`).
        pacer: spaces captures while the host is saturated (degraded mode, :mod:`emufleet.resources`) and hears
            each capture's latency; ``None``: captures are never held.

    ``on_notify`` (an attribute, ``None`` by default) receives a routine's ``Notify`` messages and whether the step
    wants the frame with it; the bot session sets it (:meth:`notify` logs the message without one).
    """

    def __init__(self, device: DeviceLike, templates: TemplateSet | None, registry: RoutineRegistry | None,
                 controller: Controller | None = None, variables: VariableStore | Mapping[str, object] | None = None,
                 accounts: AccountProvider | None = None, on_event: Callable[[StepEvent], None] | None = None,
                 bot_id: str = "", *, delay_unit_ms: float = 250.0, wait_poll_s: float = 0.05,
                 group_config: Mapping[str, object] | None = None,
                 on_match: Callable[[float, bool], None] | None = None, pacer: CapturePacer | None = None) -> None:
        self.device = device
        self.pacer = pacer
        self.templates = templates
        self.registry = registry
        self.controller = controller or Controller()
        self.variables = variables if isinstance(variables, VariableStore) else VariableStore(variables)
        self.accounts = accounts
        self.on_event = on_event
        self.on_match = on_match
        self.bot_id = bot_id or getattr(device, "serial", "")
        self.delay_unit_ms = delay_unit_ms
        self.wait_poll_s = wait_poll_s
        self.group_config = {k: str(v) for k, v in (group_config or {}).items()}
        self.device_lock = threading.RLock()
        self.frames = FrameCache()
        #: counters of the held account's result read from the screen (``ReadNumber record:``), reported by
        #: ``CompleteAccount`` where it leaves them out; emptied when an account is injected or released.
        self.screen_counts: dict[str, int] = {}
        self.on_notify: Callable[[str, bool], None] | None = None
        self._sentries: SentryManager | None = None
        self._sentries_lock = threading.Lock()

    @property
    def sentries(self) -> SentryManager:
        """The bot's sentry manager (created on first use)."""
        from emufleet.routines.sentries import SentryManager

        with self._sentries_lock:
            if self._sentries is None:
                self._sentries = SentryManager(self)
            return self._sentries

    def emit(self, event: StepEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def notify(self, message: str, *, screenshot: bool = True) -> None:
        """A routine's ``Notify``: to :attr:`on_notify` when set, else to the log (called from a bot thread)."""
        if self.on_notify is not None:
            self.on_notify(message, screenshot)
        else:
            logging.getLogger("emufleet.notify").info("%s: %s", self.bot_id, message)

"""A bot's notifications with pictures: gave up, stuck, and its routine's own ``Notify`` steps, each with the bot's
frame and the overlay of what its step was looking for (:func:`emufleet.bot.evidence.render`).

:class:`NotifyingObserver` wraps the bot's :class:`~emufleet.bot.observer.BotObserver` (everything passes through)
and watches three events:

* ``bot.stuck`` (a fault supervision saw: no progress, a click loop, a step timeout): sent with the failure evidence
  the session writes right after it (its newest frame, already drawn with the overlay), or with the current frame
  when no evidence comes before the next event;
* ``bot.gave-up``: sent with the newest evidence frame of this run, else the current frame;
* ``bot.notify`` (a routine's ``Notify`` step): its ``message``, with the current frame when the step asks for it.

"The current frame" is what ``frame_source`` returns (the bot's last capture and the last step's template checks,
drawn here). At most ``max_per_run`` notifications per bot run are sent (a bot stuck all night must not flood the
channel); the rest are logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from emufleet.bot.evidence import render
from emufleet.notify.webhook import Attachment, Message, WebhookNotifier

if TYPE_CHECKING:
    from emufleet.bot.events import BotEvent
    from emufleet.bot.observer import BotObserver
    from emufleet.groups.status import BotStatus
    from emufleet.routines.context import MatchScore

__all__ = ["FrameSource", "NotifyingObserver", "frame_attachment", "message_for"]

log = logging.getLogger(__name__)
#: The bot's current frame ((H, W, 3) uint8 BGR, device px) and the last step's template checks, or ``None``.
FrameSource = Callable[[], "tuple[np.ndarray, Sequence[MatchScore]] | None"]
DEFAULT_MAX_PER_RUN = 20


def frame_attachment(image: np.ndarray, name: str = "frame", *, max_width: int | None = None,
                     jpeg: bool = False) -> Attachment:
    """``image`` ((H, W, 3) BGR) encoded as ``<name>.png`` (or ``.jpg``, quality 80), downscaled to ``max_width``
    px if wider. Raises ``ValueError`` when OpenCV cannot encode it."""
    height, width = image.shape[:2]
    if max_width is not None and width > max_width:
        image = cv2.resize(image, (max_width, max(1, round(height * max_width / width))),
                           interpolation=cv2.INTER_AREA)
    ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 80]) if jpeg else (".png", [])
    ok, data = cv2.imencode(ext, image, params)
    if not ok:
        raise ValueError(f"could not encode a {image.shape} frame as {ext}")
    return Attachment(f"{name}{ext}", data.tobytes(), "image/jpeg" if jpeg else "image/png")


class NotifyingObserver:
    """``inner`` plus notifications with pictures to ``notifier`` (see the module docstring).

    Args:
        inner: the bot's observer. notifier: where messages go. frame_source: the bot's current frame (set it once
            the session exists; ``None``: only evidence files give pictures). link: a URL naming the bot's run
            (the Prefect UI's flow-run page), added to every message. max_per_run: cap per bot run.
    """

    def __init__(self, inner: BotObserver, notifier: WebhookNotifier, *, frame_source: FrameSource | None = None,
                 link: str | None = None, max_per_run: int = DEFAULT_MAX_PER_RUN) -> None:
        self.inner = inner
        self.notifier = notifier
        self.frame_source = frame_source
        self.link = link
        self.max_per_run = max_per_run
        self.count = 0
        self._status: BotStatus | None = None
        self._evidence: Path | None = None  # the newest evidence frame of this run (drawn with its overlay)
        self._stuck: BotEvent | None = None  # a bot.stuck waiting for its evidence

    # -- BotObserver ---------------------------------------------------------------------------------------------
    def status(self, status: BotStatus) -> None:
        self._status = status
        self.inner.status(status)

    def event(self, event: BotEvent) -> None:
        kind = event.kind.value
        if self._stuck is not None and kind not in ("bot.heartbeat", "bot.step-completed"):
            stuck, self._stuck = self._stuck, None  # no evidence came: the current frame
            self._notify(stuck, self._current(str(stuck.payload.get("message") or "stuck")))
        if kind == "bot.stuck":
            self._stuck = event
        elif kind == "bot.gave-up":
            picture = self._file(self._evidence) if self._evidence is not None else None
            self._notify(event, picture or self._current(f"gave up: {event.payload.get('reason')}"))
        elif kind == "bot.notify":
            wants = event.payload.get("screenshot") is not False
            self._notify(event, self._current(str(event.payload.get("message") or "")) if wants else None)
        self.inner.event(event)
        if kind == "bot.finished":
            self.notifier.close(timeout_s=0)  # its thread ends once the queue is posted

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[MatchScore]) -> None:
        if frames:
            self._evidence = frames[-1]
            if self._stuck is not None:
                stuck, self._stuck = self._stuck, None
                self._notify(stuck, self._file(frames[-1]))
        self.inner.evidence(reason, frames, step, scores)

    def progress(self, done: int, total: int) -> None:
        self.inner.progress(done, total)

    # -- messages ------------------------------------------------------------------------------------------------
    def _current(self, banner: str) -> Attachment | None:
        if self.frame_source is None:
            return None
        try:
            got = self.frame_source()
            if got is None:
                return None
            frame, scores = got
            return frame_attachment(render(frame, scores, [banner]))
        except Exception as exc:  # a picture is a courtesy: the text still goes out
            log.warning("notification picture not made: %s", exc)
            return None

    @staticmethod
    def _file(path: Path) -> Attachment | None:
        try:
            return Attachment(path.name, path.read_bytes(), "image/png")
        except OSError as exc:
            log.warning("evidence frame %s not attached: %s", path, exc)
            return None

    def _notify(self, event: BotEvent, picture: Attachment | None) -> None:
        if self.count >= self.max_per_run:
            log.info("notification cap (%d per run) reached: %s not sent", self.max_per_run, event.kind)
            return
        self.count += 1
        self.notifier.send(message_for(event, picture, self._status, self.link))


_TITLES = {"bot.gave-up": "gave up", "bot.stuck": "is stuck", "bot.notify": "says"}


def message_for(event: BotEvent, picture: Attachment | None, status: BotStatus | None = None,
                link: str | None = None) -> Message:
    """The message for a bot event: who (group, bot, host/instance, account), what, where in the routine."""
    bot, payload = event.bot, event.payload
    what = _TITLES.get(event.kind.value, event.kind.value)
    title = f"emufleet: {bot.group} bot {bot.bot} {what}"
    if event.kind.value == "bot.gave-up":
        text = f"{payload.get('reason') or 'no reason given'}"
        if payload.get("failures"):
            text += f" ({payload['failures']} failures)"
    elif event.kind.value == "bot.stuck":
        text = f"{payload.get('reason')}: {payload.get('message')}"
    else:
        text = str(payload.get("message") or "")
    fields = [("instance", bot.instance.key), ("account", bot.account or "-")]
    step = payload.get("step") or (status.step if status is not None else None)
    if step:
        fields.append(("step", str(step)))
    lines = [f"**{title}**: {text}"] + ([link] if link else [])
    return Message("\n".join(lines), (picture,) if picture is not None else (), title=title, fields=tuple(fields))

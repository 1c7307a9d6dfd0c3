"""A launch's digest: one message when a launch ends — accounts completed and failed, recoveries by rung, the bots'
end states, and the top failures, each with a thumbnail of its newest evidence frame.

Built from the bots' :class:`~emufleet.groups.BotStatus` records (the one bot record) and, by bot, the folders of
their evidence frames (the launch finds them from the bots' flow runs), so the engine needs no Prefect. A bot's
failure is its give-up reason, else the error of a bot that ended failed (:func:`failure_of`). Failures are
grouped by their message with digits masked (``timed out after 31 s`` and ``… 32 s`` are one failure), most
frequent first; a failure's thumbnail is the newest PNG in the evidence folders of the bots that had it
(:func:`emufleet.bot.evidence.evidence_dir`), when this host has one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2

from emufleet.groups import BotState, BotStatus
from emufleet.notify.bot import frame_attachment
from emufleet.notify.webhook import Attachment, Message

__all__ = ["THUMB_WIDTH", "TOP_FAILURES", "digest_message", "failure_of", "top_failures"]

TOP_FAILURES = 3
THUMB_WIDTH = 270  # px: half a 540-px device frame


@dataclass(frozen=True, slots=True)
class Failure:
    """A failure shared by ``bots``: its message (of the first bot that had it) and its newest evidence frame."""

    message: str
    bots: tuple[int, ...]
    frame: Path | None


def _key(message: str) -> str:
    return re.sub(r"\d+(?:\.\d+)?", "#", message.strip())


def _newest_png(folders: Sequence[Path]) -> Path | None:
    frames = [p for folder in folders if folder.is_dir() for p in folder.glob("*.png")]
    return max(frames, key=lambda p: (p.stat().st_mtime, p.name), default=None)


def failure_of(bot: BotStatus) -> str | None:
    """Why ``bot`` failed: its give-up reason, else its error if it ended failed; ``None`` when it did not fail."""
    return bot.gave_up or (bot.error if bot.state is BotState.FAILED else None)


def top_failures(bots: Sequence[BotStatus], evidence: Mapping[int, Path] | None = None,
                 limit: int = TOP_FAILURES) -> list[Failure]:
    """The ``limit`` most frequent failures (digits masked when grouping), with their newest evidence frame
    (``evidence``: bot index → the folder of its evidence frames, where this host has it)."""
    evidence = evidence or {}
    groups: dict[str, list[tuple[BotStatus, str]]] = {}
    for bot in bots:
        if failure := failure_of(bot):
            groups.setdefault(_key(failure), []).append((bot, failure))
    ranked = sorted(groups.values(), key=lambda members: (-len(members), members[0][0].bot))[:limit]
    return [Failure(members[0][1], tuple(b.bot for b, _ in members),
                    _newest_png([evidence[b.bot] for b, _ in members if b.bot in evidence])) for members in ranked]


def digest_message(group: str, bots: Sequence[BotStatus], *, outcome: str, evidence: Mapping[int, Path] | None = None,
                   link: str | None = None) -> Message:
    """The digest of a launch of ``group`` that ended ``outcome`` (``completed``, ``failed``, ``stopped``);
    ``evidence``: bot index → the folder of its evidence frames (the failures' thumbnails)."""
    completed = sum(b.accounts_completed for b in bots)
    failed = sum(b.accounts_failed for b in bots)
    rungs: Counter[str] = Counter()
    for bot in bots:
        rungs.update(bot.recoveries)
    states = Counter(b.state.value for b in bots)
    title = f"emufleet: launch of {group} {outcome}"
    lines = [f"**{title}**: {len(bots)} bots ({', '.join(f'{n} {s}' for s, n in sorted(states.items()))}), "
             f"accounts {completed} completed, {failed} failed"]
    lines.append("recoveries: " + (", ".join(f"{rung} {n}" for rung, n in rungs.most_common()) or "none"))
    failures = top_failures(bots, evidence)
    pictures: list[Attachment] = []
    for i, failure in enumerate(failures, 1):
        bots_text = ", ".join(str(b) for b in failure.bots)
        lines.append(f"{i}. {failure.message[:300]} (bot{'s' if len(failure.bots) > 1 else ''} {bots_text})")
        image = cv2.imread(str(failure.frame)) if failure.frame is not None else None
        if image is not None:
            pictures.append(frame_attachment(image, f"failure-{i}", max_width=THUMB_WIDTH, jpeg=True))
    if link:
        lines.append(link)
    fields = (("accounts completed", str(completed)), ("accounts failed", str(failed)),
              ("recoveries", str(sum(rungs.values()))))
    return Message("\n".join(lines), tuple(pictures), title=title, fields=fields)

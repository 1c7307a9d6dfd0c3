"""A launch's digest: one message when a launch ends — accounts completed and failed, recoveries by rung, the bots'
end states, and the top failures, each with a thumbnail of its newest evidence frame.

Built from plain :class:`DigestBot` records (the launch flow converts its table rows), so the engine needs no
Prefect. Failures are grouped by their message with digits masked (``timed out after 31 s`` and ``… 32 s`` are one
failure), most frequent first; a failure's thumbnail is the newest PNG in the evidence folders of the bots that had
it (:func:`emufleet.bot.evidence.evidence_dir`), when this host has one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from emufleet.hosts import InstanceId
from emufleet.notify.bot import frame_attachment
from emufleet.notify.webhook import Attachment, Message

__all__ = ["THUMB_WIDTH", "TOP_FAILURES", "DigestBot", "digest_message", "top_failures"]

TOP_FAILURES = 3
THUMB_WIDTH = 270  # px: half a 540-px device frame


@dataclass(frozen=True, slots=True)
class DigestBot:
    """One bot of a launch as the digest sees it: index, instance, end state, accounts completed and failed,
    recoveries by rung, why it failed (``None`` when it did not) and where its evidence frames are."""

    bot: int
    instance: InstanceId
    state: str
    accounts_completed: int = 0
    accounts_failed: int = 0
    recoveries: dict[str, int] = field(default_factory=dict)
    failure: str | None = None
    evidence: Path | None = None


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


def top_failures(bots: Sequence[DigestBot], limit: int = TOP_FAILURES) -> list[Failure]:
    """The ``limit`` most frequent failures (digits masked when grouping), with their newest evidence frame."""
    groups: dict[str, list[DigestBot]] = {}
    for bot in bots:
        if bot.failure:
            groups.setdefault(_key(bot.failure), []).append(bot)
    ranked = sorted(groups.values(), key=lambda members: (-len(members), members[0].bot))[:limit]
    return [Failure(members[0].failure or "", tuple(b.bot for b in members),
                    _newest_png([b.evidence for b in members if b.evidence is not None])) for members in ranked]


def digest_message(group: str, bots: Sequence[DigestBot], *, outcome: str, link: str | None = None) -> Message:
    """The digest of a launch of ``group`` that ended ``outcome`` (``completed``, ``failed``, ``stopped``)."""
    completed = sum(b.accounts_completed for b in bots)
    failed = sum(b.accounts_failed for b in bots)
    rungs: Counter[str] = Counter()
    for bot in bots:
        rungs.update(bot.recoveries)
    states = Counter(b.state for b in bots)
    title = f"emufleet: launch of {group} {outcome}"
    lines = [f"**{title}**: {len(bots)} bots ({', '.join(f'{n} {s}' for s, n in sorted(states.items()))}), "
             f"accounts {completed} completed, {failed} failed"]
    lines.append("recoveries: " + (", ".join(f"{rung} {n}" for rung, n in rungs.most_common()) or "none"))
    failures = top_failures(bots)
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

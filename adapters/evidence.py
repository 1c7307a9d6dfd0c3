"""Failure evidence on the bot's flow run: one markdown artifact per dump of a
:class:`~emufleet.bot.evidence.FrameRecorder`.

The artifact shows the frames inline, as downscaled JPEG ``data:`` URIs (the Prefect UI renders those in markdown
artifacts; it cannot show a local path: the browser may be on another machine and never reads ``file:`` URLs
from an ``http:`` page), then a table of what the step was looking for (template, score, threshold, found, region,
best candidate, device px) and the full-size PNG paths on the bot's host. Thumbnails keep the artifact small
(a few tens of KB per frame at 360 px wide) in the Prefect database; the PNGs stay lossless on disk.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

import cv2
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import ArtifactCreate

from adapters.registry import artifact_key
from emufleet.routines.context import MatchScore
from emufleet.vision import Region

__all__ = ["THUMB_WIDTH", "create_evidence_artifact", "evidence_key", "evidence_markdown"]

THUMB_WIDTH = 360  # px: two thirds of a 540-px device frame; the banner stays legible
_JPEG_QUALITY = 75


def evidence_key(group: str, bot: int) -> str:
    """The artifact key of a bot's evidence (lowercase letters, digits, dashes: Prefect's rule); the Artifacts page
    keeps one history per key."""
    return artifact_key("evidence", group, "bot", bot)


def _thumbnail(path: Path) -> str | None:
    image = cv2.imread(str(path))
    if image is None:
        return None
    height, width = image.shape[:2]
    if width > THUMB_WIDTH:
        image = cv2.resize(image, (THUMB_WIDTH, round(height * THUMB_WIDTH / width)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    return f"data:image/jpeg;base64,{base64.b64encode(data.tobytes()).decode()}" if ok else None


def _box(region: Region | None) -> str:
    return "-" if region is None else f"({region.x1}, {region.y1})-({region.x2}, {region.y2})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def evidence_markdown(paths: Sequence[Path], *, reason: str, step: str | None = None,
                      scores: Sequence[MatchScore] = ()) -> str:
    """The artifact's markdown: reason and step, the frames inline (thumbnails), the checks table, the file paths."""
    lines = [f"### Failure evidence: {_cell(reason)}", "", f"Step: `{step or '?'}`; frames oldest first.", ""]
    for path in paths:
        uri = _thumbnail(path)
        lines.append(f"![{path.name}]({uri})" if uri else f"*{path.name} could not be read*")
    lines += ["", "| template | score | threshold | found | region (device px) | best candidate (device px) |",
              "|---|---|---|---|---|---|"]
    for s in scores:
        score = "-" if s.score is None else f"{s.score:.3f}"
        threshold = "-" if s.threshold is None else f"{s.threshold:g}"
        lines.append(f"| {_cell(s.template)} | {score} | {threshold} | {'yes' if s.found else 'no'} | "
                     f"{_box(s.region)} | {_box(s.location)} |")
    if not scores:
        lines.append("| *the step made no template check* | | | | | |")
    lines += ["", "Full-size PNGs on the bot's host:", ""] + [f"* `{path}`" for path in paths]
    return "\n".join(lines) + "\n"


async def create_evidence_artifact(client: PrefectClient, paths: Sequence[Path], *, reason: str,
                                   flow_run_id: UUID | str | None, step: str | None = None,
                                   scores: Sequence[MatchScore] = (), key: str | None = None) -> UUID:
    """Attach a markdown artifact (:func:`evidence_markdown`) to ``flow_run_id`` (the bot's run; ``None``: no run).

    ``key`` (e.g. :func:`evidence_key`) also lists it on the Artifacts page. Returns the artifact id; Prefect
    client errors propagate (the caller decides whether evidence may fail the bot: it should not).
    """
    artifact = await client.create_artifact(ArtifactCreate(
        key=key, type="markdown", description=f"Failure evidence: {reason}"[:500],
        data=evidence_markdown(paths, reason=reason, step=step, scores=scores),
        flow_run_id=UUID(str(flow_run_id)) if flow_run_id else None))
    return artifact.id

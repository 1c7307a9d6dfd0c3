"""Failure evidence on the session Prefect server: a markdown artifact on the bot's flow run, frames inline."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.context import get_run_context

from adapters.evidence import THUMB_WIDTH, create_evidence_artifact, evidence_key
from emufleet.bot.evidence import FrameRecorder
from emufleet.routines import MatchScore
from emufleet.vision import Region
from flows.server import PrefectServer

pytestmark = pytest.mark.prefect

SCORES = [MatchScore("OK|button", 0.412, False, threshold=0.8, region=Region(100, 400, 300, 500),
                     location=Region(150, 420, 198, 448)), MatchScore("Menu", None, False)]


@flow(name="run-bot")
def _bot_run() -> str:
    return str(get_run_context().flow_run.id)


def test_artifact_on_the_bot_run_shows_frames_scores_and_paths(prefect_server: PrefectServer, tmp_path: Path) -> None:
    recorder = FrameRecorder(capacity=2)
    recorder.observe(np.full((960, 540, 3), (200, 30, 30), np.uint8), at=1.0)  # blue-ish, then red-ish
    recorder.observe(np.full((960, 540, 3), (30, 30, 200), np.uint8), at=2.0)
    recorder.looking_for("steps[2]", SCORES)
    paths = recorder.dump(tmp_path, "stuck: no progress", now=3.0)
    run_id = _bot_run()

    async def scenario() -> str:
        async with get_client() as client:
            await create_evidence_artifact(client, paths, reason="stuck: no progress", step=recorder.step,
                                           scores=recorder.scores, flow_run_id=run_id, key=evidence_key("Demo", 3))
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
            assert len(found) == 1 and found[0].type == "markdown" and found[0].key == "evidence-demo-bot-3"
            return str(found[0].data)

    markdown = asyncio.run(scenario())
    assert "stuck: no progress" in markdown and "`steps[2]`" in markdown
    assert "| OK\\|button | 0.412 | 0.8 | no | (100, 400)-(300, 500) | (150, 420)-(198, 448) |" in markdown
    assert "| Menu | - | - | no | - | - |" in markdown
    assert all(f"`{p}`" in markdown for p in paths)
    thumbs = re.findall(r"!\[[^]]*\]\(data:image/jpeg;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert len(thumbs) == 2
    images = [cv2.imdecode(np.frombuffer(base64.b64decode(t), np.uint8), cv2.IMREAD_COLOR) for t in thumbs]
    assert all(i.shape == (640, THUMB_WIDTH, 3) for i in images)
    assert images[0][600, 20, 0] > 150 and images[1][600, 20, 2] > 150  # the frames themselves, oldest first

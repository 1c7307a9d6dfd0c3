"""Notifications with pictures (emufleet.notify, adapters/pictures.py) against a local Discord-compatible webhook
receiver (tests/webhook.py): a bot that gives up or is stuck sends its frame with the overlay; a launch ends with
one digest (accounts, recoveries by rung, top failures with thumbnails); rate limits are honoured."""

from __future__ import annotations

import asyncio
import os
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from adapters.pictures import watch_frames
from emufleet.bot import BotSession, BotSpec, EngineAssets, RecoverySettings
from emufleet.bot.evidence import FrameRecorder
from emufleet.bot.health import HealthSettings
from emufleet.bot.observer import LogObserver
from emufleet.groups import BotState, BotStatus, RestartPolicy
from emufleet.groups.definition import RestartMode
from emufleet.hosts import InstanceId
from emufleet.notify import Message, NotifyingObserver, WebhookNotifier, digest_message
from emufleet.routines import RoutineRegistry
from emufleet.vision import TemplateSet
from tests.fleet import FleetHome
from tests.webhook import Post, WebhookReceiver

REPO = Path(__file__).resolve().parents[1]


def _image(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "the attachment is a picture"
    return image


def _bot(simulator: Callable[..., Any], tmp_path: Path, routine: str, hook: WebhookReceiver,
         **spec: Any) -> tuple[BotStatus, NotifyingObserver]:
    """One supervised bot session on a demo instance (home screen) playing ``routine``, notifying ``hook``."""
    inst = simulator(instances=1, scenario="demo").instances[0]
    inst.set_state("home_ready")
    root = tmp_path / "routines"
    (root / "t").mkdir(parents=True)
    (root / "t" / "r.yaml").write_text(textwrap.dedent(routine), encoding="utf-8")
    (root / "t" / "quick.yaml").write_text("version: 1\nsteps:\n  - {action: Sleep, duration: 50ms}\n")
    templates = TemplateSet.load(REPO / "templates" / "registry.yaml")
    registry = RoutineRegistry.load(root, templates)
    assert registry.invalid() == {}
    recovery = RecoverySettings.model_validate({"routine": "t/quick", **spec.pop("recovery", {})})
    bot_spec = BotSpec(group="pics", bot=3, instance=inst.serial, routine="t/r", recovery=recovery,
                       health=HealthSettings(interval=0.5), **spec)
    executor = ThreadPoolExecutor(8)
    observer = NotifyingObserver(LogObserver(), WebhookNotifier(hook.url), link="http://ui/runs/flow-run/x")

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: fn(*args))

    async def main() -> BotStatus:
        session = BotSession(bot_spec, EngineAssets(templates, registry), call=call, observer=observer,
                             evidence_dir=tmp_path / "evidence")
        watch_frames(observer, session)
        return await asyncio.wait_for(session.run(), timeout=120)

    try:
        return asyncio.run(main()), observer
    finally:
        executor.shutdown(wait=True)


@pytest.mark.slow
def test_a_bot_that_gives_up_sends_its_frame_with_the_overlay(simulator: Callable[..., Any],
                                                             tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        result, observer = _bot(simulator, tmp_path, """
            version: 1
            steps:
              - {action: FindImage, template: OpenPack}
            """, hook, restart_policy=RestartPolicy(mode=RestartMode.ON_FAILURE, max_restarts=5,
                                                    initial_delay=0.05, max_delay=0.1),
            recovery={"budget": {"failures": 2, "window": 600}})
        assert result.gave_up and result.state is BotState.FAILED
        posts = hook.wait_for(lambda got: any("gave up" in p.content for p in got))
    (post,) = [p for p in posts if "gave up" in p.content]
    assert "pics bot 3 gave up" in post.content and "OpenPack" in post.content
    assert "http://ui/runs/flow-run/x" in post.content
    (upload,) = post.files
    assert upload.field == "files[0]" and upload.content_type == "image/png"
    assert post.payload["attachments"] == [{"id": 0, "filename": upload.filename}]
    assert post.payload["embeds"][0]["image"]["url"] == f"attachment://{upload.filename}"
    frame = _image(upload.data)
    assert frame.shape == (960, 540, 3)
    assert tuple(int(c) for c in frame[4, 2]) == (32, 32, 32), "the overlay's banner is drawn on the frame"
    assert observer.notifier.sent == 1


@pytest.mark.slow
def test_a_stuck_bot_sends_its_failure_evidence(simulator: Callable[..., Any], tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        result, _ = _bot(simulator, tmp_path, """
            version: 1
            steps:
              - {action: Sleep, duration: 30s}
            """, hook, recovery={"stuck_after": 1.0, "rungs": ["routine"], "budget": {"failures": 1}})
        assert result.gave_up
        posts = hook.wait_for(lambda got: len(got) >= 2)
    stuck = next(p for p in posts if "is stuck" in p.content)
    assert "no_progress" in stuck.content or "stuck" in stuck.content
    (upload,) = stuck.files
    evidence = sorted((tmp_path / "evidence").glob("*.png"))
    assert upload.filename == evidence[-1].name and upload.data == evidence[-1].read_bytes()
    gave_up = next(p for p in posts if "gave up" in p.content)
    assert gave_up.files[0].data == evidence[-1].read_bytes(), "the give-up carries the newest evidence frame"


@pytest.mark.slow
def test_a_routines_notify_step_sends_its_message_with_the_frame(simulator: Callable[..., Any],
                                                               tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        result, _ = _bot(simulator, tmp_path, """
            version: 1
            steps:
              - {action: SetVariable, name: pack, value: god pack}
              - {action: WaitForImage, template: Main, timeout: 5}
              - {action: Notify, message: "found a ${pack}!"}
              - {action: Notify, message: "no picture", screenshot: false}
            """, hook)
        assert result.state is BotState.COMPLETED, result.errors
        posts = hook.wait_for(lambda got: len(got) >= 2)
    with_frame = next(p for p in posts if "found a god pack!" in p.content)
    assert "pics bot 3 says" in with_frame.content
    (upload,) = with_frame.files
    assert _image(upload.data).shape == (960, 540, 3)
    assert next(p for p in posts if "no picture" in p.content).files == []


def _evidence(folder: Path, reason: str, color: tuple[int, int, int]) -> Path:
    recorder = FrameRecorder(capacity=1)
    recorder.observe(np.full((960, 540, 3), color, np.uint8))
    return recorder.dump(folder, reason)[-1]


def test_the_digest_counts_accounts_and_recoveries_and_shows_the_top_failures(tmp_path: Path) -> None:
    older = _evidence(tmp_path / "b0", "timeout", (0, 0, 200))
    os.utime(older, (1_000_000, 1_000_000))
    _evidence(tmp_path / "b1", "timeout", (0, 200, 0))
    _evidence(tmp_path / "b2", "crash", (200, 0, 0))
    def bot(index: int, state: BotState, completed: int, failed: int, recoveries: dict[str, int],
            **end: str) -> BotStatus:
        return BotStatus(group="demo", bot=index, instance=InstanceId("local", f"127.0.0.1:{16384 + 32 * index}"),
                         state=state, accounts_completed=completed, accounts_failed=failed, recoveries=recoveries,
                         **end)

    bots = [bot(0, BotState.FAILED, 3, 1, {"restart_app": 2}, error="WaitForImage timed out after 31 s"),
            bot(1, BotState.FAILED, 1, 2, {"restart_app": 1, "routine": 1}, error="WaitForImage timed out after 32 s"),
            bot(2, BotState.FAILED, 0, 1, {}, error="adb: device offline", gave_up="gave up: adb_down"),
            bot(3, BotState.COMPLETED, 5, 0, {}, error="a recovered error: not a failure")]
    message = digest_message("demo", bots, outcome="failed", link="http://ui/run",
                             evidence={i: tmp_path / f"b{i}" for i in range(3)})
    with WebhookReceiver() as hook:
        hook.fail_first(429, {"retry_after": 0.05})  # Discord's rate limit: wait, then deliver
        assert WebhookNotifier(hook.url).send_now(message)
        (post,) = hook.posts
    assert hook.requests == 2
    text = post.content
    assert "launch of demo failed" in text and "accounts 9 completed, 4 failed" in text
    assert "recoveries: restart_app 3, routine 1" in text
    lines = text.splitlines()
    assert lines[2].startswith("1. WaitForImage timed out after 31 s (bots 0, 1)")
    assert lines[3].startswith("2. gave up: adb_down (bot 2)")
    assert [u.filename for u in post.files] == ["failure-1.jpg", "failure-2.jpg"]
    first = _image(post.files[0].data)
    assert first.shape[1] == 270 and first[300, 100][1] > 150, "the newest evidence of the first failure (green)"


def test_a_receiver_error_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with WebhookReceiver() as hook:
        hook.fail_first(400, {"message": "Invalid Form Body"})
        notifier = WebhookNotifier(hook.url)
        assert notifier.send_now(Message("hello")) is False
        assert notifier.failed == 1 and hook.requests == 1, "a 4xx is not retried"
    assert "not delivered (HTTP 400" in caplog.text


@pytest.mark.slow
@pytest.mark.prefect
def test_a_launch_ends_with_one_digest(prefect_server: Any, fleet_home: FleetHome, simulator: Callable[..., Any],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.launch_group import launch_group

    sim = simulator(instances=2)
    name = fleet_home.group("digest", instances=[0, 1], bots=2,
                           backend_options={"serials": [i.serial for i in sim.instances]}, launch={"repeat": True})
    with WebhookReceiver() as hook:
        monkeypatch.setenv("EMUFLEET_NOTIFY_WEBHOOK", hook.url)
        state = asyncio.run(launch_group(name, return_state=True))
        assert state.is_completed(), state.message
        posts: list[Post] = hook.wait_for(lambda got: any("launch of digest" in p.content for p in got))
    (digest,) = [p for p in posts if "launch of digest" in p.content]
    assert "launch of digest completed" in digest.content
    assert f"accounts {len(fleet_home.accounts)} completed, 0 failed" in digest.content
    assert str(state.state_details.flow_run_id) in digest.content or "runs/flow-run" in digest.content

"""Template capture from the console (docs/console.md "Template capture"; the CLI is ``emufleet templates
capture``): freeze a screen (``POST /api/capture/snapshot``: a local instance's screen now, or an uploaded PNG as
the body), drag a rectangle on it, judge the cut (``POST /api/capture`` with ``save: false``: the matcher's verdict
on that screen and on a folder of saved screens, the linter's warnings) and save it into the project's template set
(``save: true``: one entry line in the registry YAML, the PNG beside the others).

The person draws on the exact frame the cut is made from: a snapshot is kept in memory (the last
:data:`KEEP` of them) and named by a token.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from emufleet.boundary import JsonObject

if TYPE_CHECKING:
    import numpy as np

__all__ = ["KEEP", "router"]

router = APIRouter(prefix="/capture", tags=["capture"])
KEEP = 8
_ids = itertools.count(1)


class CaptureRequest(BaseModel):
    snapshot: str = Field(..., max_length=40, description="The token of a snapshot (POST /api/capture/snapshot).")
    box: tuple[int, int, int, int] = Field(..., description="x1, y1, x2, y2 in the snapshot's device px (half-open).")
    name: str = Field(..., min_length=1, max_length=100, description="The new template's name.")
    margin: int = Field(10, ge=0, le=2000, description="Template px around the box: its search region.")
    threshold: float = Field(0.8, ge=0.01, le=1.0)
    screens: str | None = Field(None, max_length=1000, description="A folder of saved screens (PNG) to judge it on.")
    save: bool = Field(False, description="Save into the template set (else only judge).")
    force: bool = Field(False, description="Replace a template of that name.")


def _store(request: Request) -> OrderedDict[str, np.ndarray]:
    state = request.app.state
    if not hasattr(state, "capture_snapshots"):
        state.capture_snapshots = OrderedDict()
    store: OrderedDict[str, np.ndarray] = state.capture_snapshots
    return store


def _keep(request: Request, frame: np.ndarray) -> JsonObject:
    store = _store(request)
    token = str(next(_ids))
    store[token] = frame
    while len(store) > KEEP:
        store.popitem(last=False)
    return {"snapshot": token, "width": int(frame.shape[1]), "height": int(frame.shape[0])}


@router.post("/snapshot", summary="Freeze a local instance's screen (?serial=), or the uploaded PNG body")
async def snapshot(request: Request, serial: str | None = Query(None, max_length=255)) -> JsonObject:
    import cv2

    from emufleet.errors import InputError
    from emufleet.vision.images import decode_image

    if serial:
        frame = await asyncio.to_thread(_screen, serial)
    else:
        body = await request.body()
        if not body:
            raise InputError("give ?serial= or a PNG screenshot as the request body")
        frame = await asyncio.to_thread(decode_image, body, "uploaded screenshot", cv2.IMREAD_COLOR)
    return _keep(request, frame)


def _screen(serial: str) -> np.ndarray:
    """The screen of ``serial``, a device the adb server lists as ``device`` now (anything else is refused at once:
    waiting for an unknown serial to appear would hold the request for the connect timeout).

    Raises:
        InputError: the adb server does not list ``serial`` as a ready device.
        DeviceError: the capture failed.
    """
    from emufleet.device import Device, connect
    from emufleet.errors import InputError

    if Device(serial).state() != "device":
        raise InputError(f"serial {serial!r}: the adb server lists no such ready device (see `adb devices`; "
                         "`adb connect HOST:PORT` connects an emulator)")
    return connect(serial, timeout_s=5.0).screenshot()


@router.get("/snapshot/{token}", summary="A snapshot as PNG (what the rectangle is drawn on)")
async def snapshot_png(request: Request, token: str) -> Response:
    import cv2

    frame = _store(request).get(token)
    if frame is None:
        raise HTTPException(404, f"no snapshot {token!r} (the console keeps the last {KEEP})")
    ok, data = await asyncio.to_thread(cv2.imencode, ".png", frame)
    return Response(data.tobytes(), media_type="image/png", headers={"Cache-Control": "no-store"})


def _judge_and_save(frame: np.ndarray, body: CaptureRequest) -> JsonObject:
    import cv2

    from emufleet.settings import data_dir
    from emufleet.vision import Region, load_templates
    from emufleet.vision.capture import judge, save
    from emufleet.vision.images import read_image

    registry = data_dir("templates") / "registry.yaml"
    templates = load_templates(registry)
    folder = Path(body.screens) if body.screens else None
    shots = [(p.name, read_image(p, cv2.IMREAD_COLOR)) for p in sorted(folder.iterdir())
             if p.suffix.lower() == ".png"] if folder is not None else []
    judged = judge(templates, frame, Region(*body.box), name=body.name, margin=body.margin,
                   threshold=body.threshold, screens=shots)
    made = judged.capture
    saved = str(save(made, registry, overwrite=body.force)) if body.save else None
    return {"name": made.name, "found": judged.found, "box": list(made.box.as_tuple()),
            "region": list(made.region.as_tuple()), "threshold": made.threshold, "saved": saved,
            "registry": str(registry),
            "verdicts": [{"label": v.label, "found": v.found, "score": round(v.score, 4),
                          "center": list(v.center) if v.center else None, "runner_up": v.runner_up,
                          "text": str(v)} for v in judged.verdicts],
            "warnings": [{"kind": f.kind, "message": f.message} for f in judged.warnings]}


@router.post("", summary="Judge a rectangle of a snapshot as a template (and save it with save: true)")
async def capture(request: Request, body: CaptureRequest) -> JsonObject:
    from emufleet.errors import InputError

    frame = _store(request).get(body.snapshot)
    if frame is None:
        raise HTTPException(404, f"no snapshot {body.snapshot!r} (the console keeps the last {KEEP})")
    try:
        return await asyncio.to_thread(_judge_and_save, frame, body)
    except OSError as exc:  # the screens folder or the registry's files
        raise InputError(str(exc)) from None

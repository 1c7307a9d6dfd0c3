"""The OCR engine: ``rapidocr`` (PP-OCR detection and recognition models shipped inside its wheel) on
``onnxruntime``, CPU only, loaded lazily and shared by every bot of the process.

This is the only module that imports ``rapidocr``, and only inside :func:`shared_engine`: a process whose routines
never read text never imports it nor pays its memory (``tests/vision/test_ocr.py`` checks it in a fresh process).
The models are the wheel's own files, named explicitly, so nothing is ever downloaded: a missing file is an
:class:`~emufleet.errors.OcrUnavailableError`. PP-OCRv6 ``small`` is one multilingual model (Chinese, Traditional
Chinese, English, Japanese and ~45 Latin-script languages), so one engine serves every language.

Costs (docs/vision.md): the first use loads the two models (≈ 0.1 s); reading a line is one recognition pass
(tens to a few hundred ms on the shared 2-core machine); a detection pass is added for larger regions.
Calls are serialised by a lock: onnxruntime already spreads one call over the cores.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import util
from pathlib import Path
from typing import Any

import numpy as np

from emufleet.errors import OcrUnavailableError

__all__ = ["OcrEngine", "TextLine", "engine_loaded", "shared_engine"]

_DET_MODEL = "PP-OCRv6_det_small.onnx"
_REC_MODEL = "PP-OCRv6_rec_small.onnx"


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line read: ``box`` ``(x1, y1, x2, y2)`` in the pixels of the image given, ``text``, ``score`` in [0, 1]."""

    box: tuple[int, int, int, int]
    text: str
    score: float


class OcrEngine:
    """One loaded rapidocr pipeline. Use :func:`shared_engine`, not this constructor.

    Raises ``OcrUnavailableError`` when ``rapidocr``/``onnxruntime`` or the packaged model files are missing.
    """

    def __init__(self) -> None:
        spec = util.find_spec("rapidocr")
        if spec is None or spec.origin is None or util.find_spec("onnxruntime") is None:
            raise OcrUnavailableError("reading text needs rapidocr and onnxruntime (pip install emufleet's "
                                      "dependencies: constraints.txt pins them)")
        models = Path(spec.origin).parent / "models"
        det, rec = models / _DET_MODEL, models / _REC_MODEL
        missing = [p.name for p in (det, rec) if not p.is_file()]
        if missing:
            raise OcrUnavailableError(f"rapidocr's packaged models are missing ({', '.join(missing)} in {models}); "
                                      "emufleet never downloads models")
        from rapidocr import RapidOCR

        self._ocr: Any = RapidOCR(params={
            "Global.log_level": "error", "Global.use_cls": False,
            "Det.model_path": str(det), "Rec.model_path": str(rec),
            # detection at most 960 px on the long side (PaddleOCR's own default), not rapidocr's "short side at
            # least 736", which blows a 540×40 strip up to 2000×150 and costs memory for nothing
            "Det.limit_type": "max", "Det.limit_side_len": 960,
        })
        self._lock = threading.Lock()

    def read_line(self, image: np.ndarray) -> TextLine:
        """Recognition alone on ``image`` (BGR uint8) taken as one line of text; the box is the whole image."""
        with self._lock:
            out = self._ocr(image, use_det=False, use_cls=False, use_rec=True)
        texts, scores = out.txts or (), out.scores or ()
        h, w = image.shape[:2]
        return TextLine((0, 0, w, h), "".join(texts), float(min(scores)) if scores else 0.0)

    def read_block(self, image: np.ndarray) -> list[TextLine]:
        """Detection, then recognition of each line found, in reading order (top to bottom, left to right)."""
        with self._lock:
            out = self._ocr(image, use_det=True, use_cls=False, use_rec=True)
        if out.boxes is None or not out.txts:
            return []
        h, w = image.shape[:2]
        lines = []
        for quad, text, score in zip(out.boxes, out.txts, out.scores, strict=True):
            xs, ys = np.asarray(quad)[:, 0], np.asarray(quad)[:, 1]
            x1, y1 = max(0, int(np.floor(xs.min()))), max(0, int(np.floor(ys.min())))
            x2, y2 = min(w, int(np.ceil(xs.max()))), min(h, int(np.ceil(ys.max())))
            if x2 > x1 and y2 > y1:
                lines.append(TextLine((x1, y1, x2, y2), str(text), float(score)))
        return _reading_order(lines)


def _reading_order(lines: list[TextLine]) -> list[TextLine]:
    """Rows top to bottom (a line whose centre lies within half a line height of a row's joins it), each row left
    to right."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda t: t.box[1] + t.box[3]):
        centre, half = (line.box[1] + line.box[3]) / 2, (line.box[3] - line.box[1]) / 2
        last = rows[-1][-1] if rows else None
        if last is not None and abs((last.box[1] + last.box[3]) / 2 - centre) <= half:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda t: t.box[0])]


_LOCK = threading.Lock()
_ENGINE: OcrEngine | None = None


def shared_engine() -> OcrEngine:
    """The process's one engine, loaded on first call (thread-safe). Raises ``OcrUnavailableError``."""
    global _ENGINE
    with _LOCK:
        if _ENGINE is None:
            _ENGINE = OcrEngine()
        return _ENGINE


def engine_loaded() -> bool:
    """Whether this process has loaded the engine yet."""
    return _ENGINE is not None

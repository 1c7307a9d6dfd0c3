"""Reading text: the shared engine (rapidocr, models from its wheel), the line and block paths on the demo game's
screens, a few checked lines of the real screens and ``emufleet vision read``. That a process whose routines read
no text never imports the OCR library is checked in a fresh process by ``tests/routines/test_plugins.py``."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from emufleet.cli import app
from emufleet.errors import VisionError
from emufleet.vision.images import read_template_image
from emufleet.vision.ocr_engine import shared_engine
from emufleet.vision.recognizers import read_image
from emufleet.vision.text import TextQuery, normalise, parse_number
from emufleet.vision.text_boxes import BoxRow

REPO = Path(__file__).resolve().parents[2]
HOME = REPO / "emufleet" / "sim" / "scenarios" / "demo" / "screens" / "home.png"


@pytest.fixture(scope="module")
def home() -> np.ndarray:
    frame = cv2.imread(str(HOME), cv2.IMREAD_COLOR)
    assert frame is not None
    return frame


def test_a_line_region_is_read_by_recognition_alone(home: np.ndarray) -> None:
    (line,) = read_image(home, (336, 30, 404, 62))  # the pink gem's counter, device px
    assert line.text == "1,250" and line.box == (336, 30, 404, 62) and line.score > 0.8
    assert parse_number(line.text) == 1250


def test_a_larger_region_is_read_line_by_line_in_reading_order(home: np.ndarray) -> None:
    lines = read_image(home, (0, 600, 540, 960))  # the two tiles and the bottom bar
    assert [t.text for t in lines] == ["DAILY", "EVENT", "2/3 done", "ends in 3d", "PACK", "MISSIONS", "MENU"]
    missions = lines[5]
    x1, y1, x2, y2 = missions.box
    assert 205 <= x1 < x2 <= 335 and 858 <= y1 < y2 <= 922  # inside the drawn button


def test_reads_stay_inside_the_box(home: np.ndarray) -> None:
    lines = read_image(home, (250, 600, 540, 830))
    assert [t.text for t in lines] == ["EVENT", "ends in 3d"]
    with pytest.raises(VisionError, match="not inside"):
        read_image(home, (500, 900, 600, 1000))


def test_one_engine_per_process_shared_by_threads() -> None:
    engines: list[object] = []
    threads = [threading.Thread(target=lambda: engines.append(shared_engine())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(engines) == 4 and all(e is engines[0] for e in engines)


def test_numbers_and_queries() -> None:
    assert [parse_number(t) for t in ("8,400", "1.234.567", "12 345", "０１２", "-3", "2.5")] == [
        8400, 1234567, 12345, 12, -3, 2.5]
    assert [parse_number(t) for t in ("12,34", "1,234.5", "x12", "12/20", "", "1,234,56")] == [None] * 6
    assert normalise("服務ID：  12 3", "zh") == "服務ID:123" and normalise("  Tap  to\tProceed ") == "Tap to Proceed"
    assert TextQuery("battle!", ignore_case=True).search("Battle!") is not None
    assert TextQuery(None, r"\d+ hr").search("06 hr 50 min") is not None
    with pytest.raises(ValueError, match="regular expression"):
        TextQuery(None, "(")
    with pytest.raises(ValueError, match="not both"):
        TextQuery("a", "b")


def test_real_screens_one_line_of_each_language_and_kind(text_lines: tuple[Path, list[BoxRow]]) -> None:
    root, rows = text_lines
    picked: dict[tuple[str, str], BoxRow] = {}
    for row in rows:
        picked.setdefault((row.lang, "") if row.lang != "en" else ("en", row.fields["kind"]), row)
    assert len(picked) == 8  # ja, zh, and the six kinds in English
    for row in picked.values():
        image = read_template_image(root / "screens" / row.fields["screen"]).image
        got = " ".join(t.text for t in read_image(image, row.box, lang=row.lang))
        assert got == normalise(row.fields["text"], row.lang), row


def test_cli_reads_a_box_and_a_tsv(tmp_path: Path, home: np.ndarray) -> None:
    cv2.imwrite(str(tmp_path / "home.png"), home)
    runner = CliRunner()
    one = runner.invoke(app, ["vision", "read", str(tmp_path / "home.png"), "--box", "336,30,404,62"])
    assert one.exit_code == 0 and one.stdout.strip() == "1,250", one.output
    tsv = tmp_path / "boxes.tsv"
    tsv.write_text("note\tscreen\tx1\ty1\tx2\ty2\n"
                   "gem\thome.png\t336\t30\t404\t62\n"
                   "gone\tmissing.png\t0\t0\t10\t10\n"
                   "coin\thome.png\t456\t30\t524\t62\n")
    many = runner.invoke(app, ["vision", "read", "--boxes", str(tsv), "--root", str(tmp_path)])
    assert many.exit_code == 1, many.output  # one row could not be read: reported, the others still are
    assert many.stdout.splitlines() == ["note\tscreen\tx1\ty1\tx2\ty2\tread", "gem\thome.png\t336\t30\t404\t62\t1,250",
                                        "gone\tmissing.png\t0\t0\t10\t10\t", "coin\thome.png\t456\t30\t524\t62\t8,400"]
    assert f"{tsv}:3: " in many.stderr and "missing.png" in many.stderr
    bad = tmp_path / "bad.tsv"
    bad.write_text("screen\tx1\ty1\tx2\n")
    refused = runner.invoke(app, ["vision", "read", "--boxes", str(bad)])
    assert refused.exit_code == 1 and f"{bad}:1:" in refused.stderr and "y2" in refused.stderr

"""The console process answers ``/health`` without Prefect imported (issue 21 item 3, a warm ``emufleet up`` in
≤ 10 s): ``import prefect`` costs ≈ 2 CPU s, paid by the first page that reads the Prefect API instead of by every
start of the console alongside the Prefect server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_console_app_and_its_routes_import_without_prefect() -> None:
    code = ("import sys, console.app, console.api, console.ops, console.pages, console.server; "
            "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))[:5])")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

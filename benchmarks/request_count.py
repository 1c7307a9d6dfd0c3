"""Counting a process's Prefect API requests, for the benchmarks: every ``httpx.AsyncClient.send`` (each retry
included) and the HTTP 503 answers among them.

In the benchmark's own process: ``counter = Requests()`` then ``counter.mark`` / ``counter.since(mark)``. In the
flow-run processes a Prefect worker starts (bots on other hosts), ``request_hook/sitecustomize.py`` on their
``PYTHONPATH`` calls :func:`count_to_file` when ``EMUFLEET_BENCH_REQUESTS_DIR`` is set: each process writes
``<dir>/<flow run id>.json`` (``{"requests": n, "busy": n}``) when it exits; :func:`read_counts` reads them back.
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["DIR_ENV", "Requests", "count_to_file", "read_counts"]

DIR_ENV = "EMUFLEET_BENCH_REQUESTS_DIR"


class Requests:
    """Counts the Prefect API requests of this process (every ``httpx`` send, each retry included) and the 503s."""

    def __init__(self) -> None:
        import httpx

        self.total = 0
        self.busy = 0
        original = httpx.AsyncClient.send

        async def send(client: httpx.AsyncClient, request: httpx.Request, *args: Any, **kwargs: Any) -> Any:
            response = await original(client, request, *args, **kwargs)
            self.total += 1
            self.busy += response.status_code == 503
            return response

        httpx.AsyncClient.send = send  # type: ignore[method-assign]

    def since(self, mark: tuple[int, int]) -> tuple[int, int]:
        return self.total - mark[0], self.busy - mark[1]

    @property
    def mark(self) -> tuple[int, int]:
        return self.total, self.busy


def count_to_file() -> None:
    """In a flow-run process (``PREFECT__FLOW_RUN_ID`` set) with ``EMUFLEET_BENCH_REQUESTS_DIR`` set: count its
    requests and write them at exit. Elsewhere (the worker itself, other commands), nothing."""
    folder, run_id = os.environ.get(DIR_ENV), os.environ.get("PREFECT__FLOW_RUN_ID")
    if not folder or not run_id:
        return
    counter = Requests()

    def write() -> None:
        path = Path(folder) / f"{run_id}.json"
        path.write_text(json.dumps({"requests": counter.total, "busy": counter.busy}), encoding="utf-8")

    atexit.register(write)


def read_counts(folder: Path) -> dict[str, tuple[int, int]]:
    """``{flow run id: (requests, busy)}`` of every process that wrote its count under ``folder``."""
    out = {}
    for path in folder.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        out[path.stem] = (int(data["requests"]), int(data["busy"]))
    return out

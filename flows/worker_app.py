"""The worker process ``emufleet up`` starts (:class:`flows.system.WorkerComponent`): Prefect's process worker, as
``prefect worker start --type process`` runs it, without the command line around it.

Why not ``prefect worker start``: that command imports Prefect's whole command line, then asks the API for the
pool's type before the worker starts, so it can only be started once the server answers and pays its imports
after that. This process imports the worker first, while the Prefect server is still starting (``emufleet up``
starts both at once), then waits for the server's ``/api/health`` (polled every 0.1 s, at most ``--wait`` s) and
starts the worker at once: the imports leave ``up``'s critical path.

Run: ``python -m flows.worker_app --pool P --queue Q --name N [--wait S]`` with ``PREFECT_API_URL`` set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

__all__ = ["main"]


def _wait_for_server(api_url: str, wait_s: float) -> bool:
    from emufleet.system.probe import http_ok

    deadline = time.monotonic() + wait_s
    while not http_ok(f"{api_url.rstrip('/')}/health", 1.0):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


async def _serve(pool: str, queue: str, name: str) -> None:
    from prefect.settings import PREFECT_WORKER_HEARTBEAT_SECONDS, PREFECT_WORKER_PREFETCH_SECONDS
    from prefect.workers.process import ProcessWorker

    worker = ProcessWorker(name=name, work_pool_name=pool, work_queues=[queue],
                           prefetch_seconds=PREFECT_WORKER_PREFETCH_SECONDS.value(),
                           heartbeat_interval_seconds=int(PREFECT_WORKER_HEARTBEAT_SECONDS.value()),
                           create_pool_if_not_found=True)
    await worker.start(with_healthcheck=False, printer=print)


def main(argv: list[str] | None = None) -> None:
    """Import the worker, wait for the server, serve the work queue until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the server's health")
    args = parser.parse_args(argv)
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        sys.exit("PREFECT_API_URL is not set")

    from emufleet.process import unwind_on_sigterm

    unwind_on_sigterm()  # `emufleet down` terminates us: leave the worker's loops as Ctrl-C does
    import prefect.workers.process  # noqa: F401 - the imports are the slow part: done before the server answers

    if not _wait_for_server(api_url, args.wait):
        sys.exit(f"the Prefect server at {api_url} did not answer within {args.wait:.0f} s")
    try:
        asyncio.run(_serve(args.pool, args.queue, args.name))
    except KeyboardInterrupt:
        print(f"worker {args.name!r} stopped", flush=True)


if __name__ == "__main__":
    main()

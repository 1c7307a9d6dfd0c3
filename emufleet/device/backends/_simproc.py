"""``python -m emufleet.device.backends._simproc --port P --scenario S``: one simulated instance, until SIGTERM.

The simulator backend runs each instance as its own detached process, so instances start and stop
independently (like MuMu instances) and outlive the CLI command that started them.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="emufleet-sim-instance")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scenario", default="demo")
    args = parser.parse_args(argv)

    from emufleet.sim import Simulator

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Simulator(instances=1, scenario=args.scenario, base_port=args.port):
        stop.wait()


if __name__ == "__main__":
    main()

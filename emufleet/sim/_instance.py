"""``python -m emufleet.sim._instance --port P --scenario S``: one simulated instance, until SIGTERM.

The simulator backend runs each instance as its own detached process, so instances start and stop
independently (like MuMu instances) and outlive the CLI command that started them. Each serves like
``emufleet sim up`` does (:func:`emufleet.sim.daemon.run_foreground`): it writes the same state files and serves the
same control socket, so ``emufleet sim status``, ``sim fault`` and ``sim down`` see and steer the instances a launch
or a deployment run started. It lives in :mod:`emufleet.sim`, not beside the backend: ``-m`` imports the module's
packages first, and ``emufleet.device``'s (adbutils and the device layer, ≈ 0.15 CPU s) is of no use to a simulator.
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="emufleet-sim-instance")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scenario", default="demo")
    args = parser.parse_args(argv)

    from emufleet.sim.daemon import run_foreground

    run_foreground(1, args.scenario, args.port)  # until SIGTERM/SIGINT; state files removed on the way out


if __name__ == "__main__":
    main()

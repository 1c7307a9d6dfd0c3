"""``python -m emufleet.sim.art [--root DIR]``: regenerate the demo art, scenario and template set."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._build import write


def main(argv: list[str] | None = None) -> int:
    """Write every generated file under ``--root`` (default: the checkout holding this package)."""
    parser = argparse.ArgumentParser(prog="python -m emufleet.sim.art", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[3],
                        help="repository root to write into (default: this checkout)")
    args = parser.parse_args(argv)
    paths = write(args.root)
    print(f"wrote {len(paths)} files under {args.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

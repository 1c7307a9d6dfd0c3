"""What the benchmarks share: median timing, and a simulator behind an isolated real adb server.

Imported by the scripts next to it (``python benchmarks/<name>.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from emufleet.sim.adbserver import find_free_base_port, isolated_adb_server

if TYPE_CHECKING:
    import adbutils

    from emufleet.device import Device
    from emufleet.sim import Simulator

__all__ = ["demo_device", "demo_project", "interleaved_median_ms", "median_ms", "simulator_behind_adb"]

REPO = Path(__file__).resolve().parent.parent


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeat`` calls, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def interleaved_median_ms(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """Median wall time in ms of each of ``fns`` over ``repeat`` rounds, each round calling every one in turn (after
    one warm-up round): on a shared machine a load spike then hits the compared calls alike, not one of them."""
    for fn in fns:
        fn()
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, samples, strict=True):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1000)
    return [statistics.median(s) for s in samples]


@contextmanager
def simulator_behind_adb(instances: int = 1, scenario: str = "demo"
                         ) -> Iterator[tuple[adbutils.AdbClient, Simulator]]:
    """An in-process :class:`~emufleet.sim.Simulator` on free ports and an isolated adb server (its client).

    The serials are not ``adb connect``-ed: :meth:`emufleet.device.Device.connect` does that, as in production.
    """
    from emufleet.sim import Simulator

    with isolated_adb_server() as client, Simulator(instances=instances, scenario=scenario,
                                                    base_port=find_free_base_port(instances)) as sim:
        yield client, sim


@contextmanager
def demo_device(state: str = "home_ready") -> Iterator[tuple[Device, Simulator]]:
    """One demo instance behind an isolated adb server, connected and ready as a :class:`Device`, showing
    ``state``."""
    from emufleet.device import Device

    with simulator_behind_adb() as (_, sim):
        inst = sim.instances[0]
        dev = Device(inst.serial)
        dev.connect(15)
        dev.wait_ready(30)
        inst.set_state(state)
        yield dev, sim


def demo_project(root: Path, accounts: int, shared: tuple[str, ...] = ("routines", "templates", "groups", "hosts")
                 ) -> Path:
    """A project root (``EMUFLEET_HOME``) with the checkout's ``shared`` folders linked, the ``demo`` pool, and
    ``accounts`` invented demo accounts (the shipped 12 are too few for big launches)."""
    import shutil

    root.mkdir(parents=True)
    for name in shared:
        (root / name).symlink_to(REPO / name, target_is_directory=True)
    (root / "pools").mkdir()
    shutil.copy(REPO / "pools" / "demo.yaml", root / "pools" / "demo.yaml")
    (root / "accounts").mkdir()
    for i in range(1, accounts + 1):
        (root / "accounts" / f"demo_{i:02d}.xml").write_text(
            "<?xml version='1.0' encoding='utf-8' standalone='yes' ?>\n<map>\n"
            f'    <string name="deviceAccount">demo_{i:02d}@emufleet.invalid</string>\n'
            f'    <string name="devicePassword">bench-{i:04d}</string>\n</map>\n', encoding="utf-8")
    return root

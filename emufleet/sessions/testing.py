"""The pytest helper: assert in a user's own suite that a routine still replays a recorded session.

Example (``tests/test_my_routines.py``)::

    from emufleet.sessions import assert_replays

    def test_daily_missions_still_replay():
        assert_replays("tests/sessions/daily-2026-05-01", "mygame/daily_missions",
                       routines="routines", templates="templates/registry.yaml")
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from emufleet.routines.registry import RoutineRegistry
from emufleet.sessions.check import ReplayReport, replay

__all__ = ["assert_replays"]


def assert_replays(session: str | Path, routine: str, *, routines: str | Path | RoutineRegistry,
                   templates: str | Path | None = None, overrides: Mapping[str, object] | None = None,
                   overlay_dir: str | Path | None = None) -> ReplayReport:
    """Replay ``routine`` against ``session`` and return the report; ``AssertionError`` (with the report's lines)
    on a divergence.

    ``routines``: a routine registry, or the folder of routine files (loaded over ``templates``: a template
    registry YAML or folder, required then). ``overlay_dir``: where the divergence's overlay goes.

    Raises:
        AssertionError: the replay diverged. SessionFormatError, RoutineError, TemplateRegistryError: bad input.
    """
    if not isinstance(routines, RoutineRegistry):
        from emufleet.vision import load_templates

        if templates is None:
            raise TypeError("templates is required when routines is a folder")
        routines = RoutineRegistry.load(Path(routines), load_templates(templates))
    report = replay(session, routine, routines, overrides=overrides,
                    overlay_dir=Path(overlay_dir) if overlay_dir is not None else None)
    if not report.ok:
        raise AssertionError(f"{routine} no longer replays {session}:\n" + "\n".join(report.lines()))
    return report

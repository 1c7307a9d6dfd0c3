"""What every bot of a launch shares, loaded once: the template set and the routine registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from emufleet import settings

if TYPE_CHECKING:
    from emufleet.routines import RoutineRegistry
    from emufleet.vision import TemplateSet

__all__ = ["EngineAssets", "load_assets"]


@dataclass(frozen=True)
class EngineAssets:
    """The template set and the routine registry of a launch (or of one ``routines run``)."""

    templates: TemplateSet
    registry: RoutineRegistry


def load_assets(*, validate_templates: bool = True, routines_root: Path | None = None,
                templates_path: Path | None = None) -> EngineAssets:
    """Load the template set and the routine registry (``validate_templates=False`` skips name checks).

    Raises:
        TemplateRegistryError: the template set is broken. RoutineValidationError: a routine is invalid.
    """
    from emufleet.routines import RoutineRegistry
    from emufleet.vision import load_templates

    templates = load_templates(templates_path)
    registry = RoutineRegistry.load(routines_root or settings.data_dir("routines"),
                                    templates=templates if validate_templates else None)
    return EngineAssets(templates, registry)

"""Loading a template set by path: the one function every caller uses (CLI, console, bot, simulator, sessions).

    ts = load_templates()                                   # the project's templates/ (EMUFLEET_DATA_DIR aware)
    ts = load_templates("../shared/seed-assets/templates")  # the seed's folder: every image, CSV regions merged
    ts = load_templates(path, errors=errors)                # keep going: bad files/entries appended to errors

Loading never lints: :func:`emufleet.vision.lint.lint` (``emufleet templates lint``) says which templates cannot be
verified or are ambiguous.
"""

from __future__ import annotations

from pathlib import Path

from emufleet.errors import TemplateRegistryError
from emufleet.settings import data_dir
from emufleet.vision.registry import TemplateSet
from emufleet.vision.seed import build_seed_registry

__all__ = ["is_seed_folder", "load_templates"]


def is_seed_folder(path: Path) -> bool:
    """Whether ``path`` is the seed's template folder (``legacy_regions.csv``, ``registry/``, ``images/``)."""
    return path.is_dir() and (path / "legacy_regions.csv").is_file() and (path / "registry").is_dir()


def load_templates(path: str | Path | None = None, *,
                   errors: list[TemplateRegistryError] | None = None) -> TemplateSet:
    """The template set at ``path``: a registry YAML file, a folder of them, or the seed's folder.

    Args:
        path: default :func:`emufleet.settings.data_dir` ``("templates")``. The seed's folder
            (:func:`is_seed_folder`) becomes a set of every seed image with the registry's entries and the CSV's
            regions (:func:`emufleet.vision.seed.build_seed_registry`), as the seed's routines expect.
        errors: keep going: bad registry files and entries are appended here and the set holds the others
            (:meth:`TemplateSet.load`).

    Raises:
        TemplateRegistryError: the registry is invalid (located); with ``errors``, only when there is no
            registry file at all.
    """
    path = Path(path) if path is not None else data_dir("templates")
    if is_seed_folder(path):
        return build_seed_registry(path)
    return TemplateSet.load(path, errors=errors)

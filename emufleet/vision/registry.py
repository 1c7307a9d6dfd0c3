"""Template registries: YAML files of named templates with threshold and region (digest §4.1).

A registry file is the seed's format plus an optional header that declares the coordinate space::

    version: 1
    coordinate_space: {width: 277, height: 534, title_bar: 45, device_width: 540, device_height: 960}
    scale: 1.0                           # the set's capture scale (``emufleet templates calibrate`` writes it)
    scale_tolerance: 0.04                # how far captures drift from it: the match's scale sweep
    low_texture: null                    # true/false overrides the measured low-texture rule (entries too)
    agreement: 0.75                      # pixel-agreement share that costs nothing (entries too)
    images: images                       # folder of the images, relative to this file
    templates:
      - name: OK
        path: ui/OK.png                  # relative to the images folder; .png/.PNG both found
        threshold: 0.8                   # 0 or missing: the matcher's calibrated default (docs/vision.md)
        region: {x1: 110, y1: 350, x2: 150, y2: 404}   # template space, half-open, must hold the template
        scale: 1.0                       # declared capture scale of the image; the match sweeps around it
        preload: true                    # accepted for the seed's files; every image is decoded at load
        unload_after: false              # accepted for the seed's files; the cache keeps images (§4.4)

Image paths stay inside the images folder (no absolute path, no ``..`` leaving it); the folder itself is the
registry's own unless its ``images:`` header (or the caller's ``images=``) names another: that is the explicit
way to share images. Fixed from the seed: unknown keys, a duplicate name (the seed silently kept the last), a
missing image and a region that cannot hold its template (the seed silently never found it, §4.3) are load-time
:class:`~emufleet.errors.TemplateRegistryError` s located at ``file:line:col``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from emufleet.datafiles import YAML_SUFFIXES, list_data_files
from emufleet.errors import TemplateRegistryError, VisionError
from emufleet.paths import DataPathText, data_path
from emufleet.validation import locate, validate
from emufleet.vision.images import read_template_image
from emufleet.vision.space import CoordinateSpace, Region, RegionMapping
from emufleet.yamlio import MarkedDict, load_yaml

__all__ = ["Template", "TemplateSet", "resolve_image_path"]

_T = TypeVar("_T")


class _EntryModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    path: str = Field(min_length=1)
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    region: RegionMapping | None = None
    scale: float = Field(default=1.0, gt=0.0, le=16.0, allow_inf_nan=False)
    scale_tolerance: float | None = Field(default=None, ge=0.0, le=0.5)
    low_texture: bool | None = None
    agreement: float | None = Field(default=None, gt=0.0, le=1.0)
    preload: bool = False
    unload_after: bool = False


class _SpaceModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int = Field(gt=0, le=100_000)
    height: int = Field(gt=0, le=100_000)
    title_bar: int = Field(ge=0)
    device_width: int = Field(gt=0, le=100_000)
    device_height: int = Field(gt=0, le=100_000)

    @model_validator(mode="after")
    def _board(self) -> _SpaceModel:
        if self.height <= self.title_bar:
            raise ValueError(f"height {self.height} must exceed title_bar {self.title_bar}")
        return self


class _RegistryFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] | None = None
    coordinate_space: _SpaceModel | None = None
    scale: float = Field(default=1.0, gt=0.0)
    scale_tolerance: float | None = Field(default=None, ge=0.0, le=0.5)
    low_texture: bool | None = None
    agreement: float | None = Field(default=None, gt=0.0, le=1.0)
    images: DataPathText | None = None  # Windows forms too (emufleet.paths)
    templates: list[_EntryModel]


@dataclass(frozen=True, slots=True, eq=False)
class Template:
    """One registered template.

    Attributes:
        name: the key routines use.
        path: the resolved image file.
        threshold: the minimum score for "found", or ``None`` for the matcher's default.
        region: where to search, in template space (half-open), or ``None`` for the whole board.
        scale: the capture scale of the image relative to its coordinate space: the entry's ``scale`` times the
            file header's (1.0 for the seed; ``emufleet templates calibrate`` measures the header's).
        scale_tolerance: how far real captures drift from ``scale`` (relative; the entry's, else the header's),
            or ``None`` for :func:`~emufleet.vision.match`'s default.
        low_texture: force the low-texture rule on (``True``) or off (``False``); ``None``: measured
            (:func:`emufleet.vision.verify.structure`). agreement: the pixel-agreement share that costs nothing
            (``None``: :data:`emufleet.vision.verify.AGREEMENT_FULL`). Entry over header, as for the others.
        image: (h, w, 3) uint8 BGR, read-only. mask: (h, w) uint8 0/255 of the opaque pixels, or ``None``.
        source: ``file:line`` of the registry entry, for messages.
    """

    name: str
    path: Path
    threshold: float | None
    region: Region | None
    scale: float
    image: np.ndarray = field(repr=False)
    mask: np.ndarray | None = field(repr=False)
    scale_tolerance: float | None = None
    low_texture: bool | None = None
    agreement: float | None = None
    preload: bool = False
    unload_after: bool = False
    source: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in template px."""
        return int(self.image.shape[1]), int(self.image.shape[0])


def resolve_image_path(images: Path, relative: str) -> Path | None:
    """``images/relative`` if it exists with exactly that name, else with the other case of ``.png``/``.PNG``.

    Lookup is case-sensitive on every platform (the seed has ``Premium.PNG`` next to ``*.png``, README).
    """
    candidate = data_path(relative, images)  # `ui\\OK.png` written on Windows names the same file here
    if _exists_exact(candidate):
        return candidate
    suffix = candidate.suffix
    if suffix.lower() == ".png":
        other = candidate.with_suffix(".PNG" if suffix == ".png" else ".png")
        if _exists_exact(other):
            return other
    return None


def _confined(relative: str) -> bool:
    """Whether ``relative`` names a file inside its images folder: not absolute, no ``..`` escaping it (checked
    on the text, ``\\`` counted as a separator, so a link the user made inside the folder still works)."""
    text = relative.replace("\\", "/")
    normal = posixpath.normpath(text)
    return not (text.startswith("/") or PureWindowsPath(relative).drive or normal == ".."
                or normal.startswith("../"))


def _exists_exact(path: Path) -> bool:
    # On case-insensitive file systems is_file() accepts any case; compare the listed name as well.
    try:
        return path.is_file() and path.name in {p.name for p in path.parent.iterdir()}
    except (OSError, ValueError):  # a name too long for the file system, a folder we may not list
        return False


class TemplateSet:
    """Named templates sharing one :class:`CoordinateSpace`.

    Example::

        ts = TemplateSet.load("templates/registry.yaml")
        ts = TemplateSet.load(seed / "registry", images=seed / "images", space=CoordinateSpace())
        tpl = ts.get("OK")
    """

    def __init__(self, templates: dict[str, Template], space: CoordinateSpace) -> None:
        self.space = space
        self._templates = dict(templates)

    def get(self, name: str) -> Template:
        """The template called ``name``. Raises :class:`VisionError` if it is not registered."""
        try:
            return self._templates[name]
        except KeyError:
            raise VisionError("not registered in the template set", template=name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._templates

    def __iter__(self) -> Iterator[Template]:
        return iter(self._templates.values())

    def __len__(self) -> int:
        return len(self._templates)

    @property
    def names(self) -> list[str]:
        """Template names in registry order."""
        return list(self._templates)

    @classmethod
    def load(cls, path: str | Path, *, images: str | Path | None = None,
             space: CoordinateSpace | None = None, errors: list[TemplateRegistryError] | None = None
             ) -> TemplateSet:
        """Load a registry YAML file, or every ``*.yaml``/``*.yml`` file of a folder (sorted by name).

        A folder without YAML files but with ``registry/`` and ``images/`` is read in the seed's layout.

        Args:
            path: a registry file or a folder of them.
            images: the images folder; default: each file's ``images:`` header (relative to the file), else the
                file's own folder.
            space: the coordinate space; default: the files' ``coordinate_space:`` header (all files must agree),
                else the seed's :class:`CoordinateSpace`.
            errors: keep going: each bad file (unreadable, invalid YAML or schema, a disagreeing
                ``coordinate_space``) and each bad entry is appended here and left out, and the set holds the
                rest. Without it the first error is raised.

        Raises:
            TemplateRegistryError: unreadable or invalid YAML, an unknown key, a duplicate name, a missing or
                undecodable image, an image path leaving its folder, a region outside the window or smaller than
                its template — located. With ``errors``, only a folder without any registry file.

        Loading does not lint: :func:`emufleet.vision.lint.lint` finds templates that cannot be verified.
        """
        path = Path(path)
        if path.is_dir():
            files = list_data_files(path, YAML_SUFFIXES, error=TemplateRegistryError)
            if not files and (path / "registry").is_dir() and (path / "images").is_dir():
                # The seed's layout (digest §4.1): registry/*.yaml with paths relative to images/.
                return cls.load(path / "registry", images=images if images is not None else path / "images",
                                space=space, errors=errors)
            if not files:
                raise TemplateRegistryError("no *.yaml registry file in this folder", file=path)
        else:
            files = [path]
        documents = []
        for file in files:
            with _collect(errors):
                documents.append((file, load_yaml(file, error=TemplateRegistryError)))
        return cls.from_data(documents, images=images, space=space, errors=errors)

    @classmethod
    def from_data(cls, documents: list[tuple[Path, Any]], *, images: str | Path | None = None,
                  space: CoordinateSpace | None = None, errors: list[TemplateRegistryError] | None = None
                  ) -> TemplateSet:
        """Build from already parsed registry documents ``[(file, data), …]``; see :meth:`load`.

        ``data`` is what :func:`emufleet.yamlio.load_yaml` returns (positions make errors located) or plain dicts.
        """
        models = []
        for f, data in documents:
            with _collect(errors):
                models.append((f, data, validate(_RegistryFileModel, data, f, error=TemplateRegistryError)))
        space = space or _header_space(models, errors) or CoordinateSpace()
        templates: dict[str, Template] = {}
        for file, data, model in models:
            base = Path(images) if images is not None else (
                data_path(model.images, file.parent) if model.images is not None else file.parent)
            for index, entry in enumerate(model.templates):
                with _collect(errors):
                    tpl = _build(entry, model, data, file, index, base, space)
                    if tpl.name in templates:
                        line, col = _where(data, ("templates", index, "name"))
                        raise TemplateRegistryError(
                            f"duplicate template name (first at {templates[tpl.name].source})", file=file,
                            line=line, col=col, field="name")
                    templates[tpl.name] = tpl
        return cls(templates, space)


@contextmanager
def _collect(errors: list[TemplateRegistryError] | None) -> Iterator[None]:
    """Raise a ``TemplateRegistryError`` of the block, or append it to ``errors`` (keep going)."""
    try:
        yield
    except TemplateRegistryError as exc:
        if errors is None:
            raise
        errors.append(exc)


def _header_space(models: list[tuple[Path, Any, _RegistryFileModel]],
                  errors: list[TemplateRegistryError] | None) -> CoordinateSpace | None:
    """The files' shared ``coordinate_space``; a file that disagrees is an error (kept going: left out)."""
    found: tuple[Path, CoordinateSpace] | None = None
    for item in list(models):
        file, data, model = item
        if model.coordinate_space is None:
            continue
        this = CoordinateSpace(**model.coordinate_space.model_dump())
        if found is not None and this != found[1]:
            line, col = _where(data, ("coordinate_space",))
            with _collect(errors):
                raise TemplateRegistryError(f"coordinate_space differs from {found[0]}'s", file=file, line=line,
                                            col=col, field="coordinate_space")
            models.remove(item)
        found = found or (file, this)
    return found[1] if found else None


def _where(data: Any, loc: tuple[int | str, ...]) -> tuple[int | None, int | None]:
    pos = locate(data, loc)
    return pos if pos else (None, None)


def _first(entry: _T | None, header: _T | None) -> _T | None:
    """The entry's value, else the file header's."""
    return entry if entry is not None else header


def _build(entry: _EntryModel, header: _RegistryFileModel, data: MarkedDict, file: Path, index: int,
           images: Path, space: CoordinateSpace) -> Template:
    def fail(message: str, field: str) -> TemplateRegistryError:
        line, col = _where(data, ("templates", index, field))
        return TemplateRegistryError(message, file=file, line=line, col=col, field=f"templates[{index}].{field}")

    if not _confined(entry.path):
        raise fail(f"image path {entry.path!r:.80} leaves the images folder {images} (write a path relative to "
                   "it, or point the registry's `images:` header at another folder)", "path")
    image_path = resolve_image_path(images, entry.path)
    if image_path is None:
        raise fail(f"image {entry.path!r} not found under {images}", "path")
    try:
        decoded = read_template_image(image_path)
    except VisionError as exc:
        raise fail(str(exc), "path") from exc
    w, h = decoded.size
    scale = entry.scale * header.scale
    region = entry.region
    if region is not None:
        if region.x2 > space.width or region.y2 > space.height:
            raise fail(f"region {region.as_tuple()} lies outside the {space.width}×{space.height} window", "region")
        if not region.fits(round(w * scale), round(h * scale)):
            raise fail(f"region {region.as_tuple()} ({region.width}×{region.height}) is smaller than the "
                       f"template ({w}×{h} at scale {scale:g}): it could never be found", "region")
    line, _ = _where(data, ("templates", index))
    return Template(
        name=entry.name, path=image_path, threshold=entry.threshold or None, region=region, scale=scale,
        image=decoded.image, mask=decoded.mask,
        scale_tolerance=_first(entry.scale_tolerance, header.scale_tolerance),
        low_texture=_first(entry.low_texture, header.low_texture), agreement=_first(entry.agreement, header.agreement),
        preload=entry.preload, unload_after=entry.unload_after,
        source=f"{file}:{line}" if line else str(file),
    )

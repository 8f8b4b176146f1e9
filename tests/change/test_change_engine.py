"""Engine.change end to end with a colour-rule segmenter: a painted change is measured across CRS and pixel size,
and the same scene on another grid reports no change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.config import EngineConfig
from core.engine import Engine
from tests.change.test_change_grid import _reprojected
from tests.masks import CLASSES
from tests.rasters import make_raster

BARREN, FOREST, WATER = (CLASSES.index(c) for c in ("barren", "forest", "water"))
COLOURS = {FOREST: (40, 200, 40), WATER: (40, 40, 200), BARREN: (200, 40, 40)}  # the colour rule's classes


def colour_rule(x: np.ndarray) -> np.ndarray:
    """[B, 3, h, w] 0..1 -> scores [B, K, h, w]: red is barren, green forest, blue water (a tiny stand-in model)."""
    scores = np.full((x.shape[0], len(CLASSES), *x.shape[2:]), -10.0, dtype=np.float32)
    scores[:, BARREN], scores[:, FOREST], scores[:, WATER] = x[:, 0], x[:, 1], x[:, 2]
    return scores


def _scene(cleared: bool) -> np.ndarray:
    """uint8 [3, 120, 160]: forest west, water east, a barren strip; ``cleared``: a 30 x 30 px forest block
    (rows 40-70, cols 20-50: 9 ha at 10 m) is barren."""
    rng = np.random.default_rng(0)
    cls = np.full((120, 160), FOREST, dtype=np.uint8)
    cls[:, 100:] = WATER
    cls[100:, :] = BARREN
    if cleared:
        cls[40:70, 20:50] = BARREN
    rgb = np.stack([np.vectorize(lambda c, b=b: COLOURS[c][b])(cls) for b in range(3)]).astype(np.int16)
    return np.clip(rgb + rng.integers(-10, 10, rgb.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def engine():  # noqa: ANN201
    with Engine(EngineConfig(model="tiny", device="cpu", tile=64, overlap=16, batch_size=4)) as eng:
        eng._predict = colour_rule  # the engine's segmentation path, with a rule instead of random weights
        yield eng


@pytest.mark.parametrize(("crs", "res"), [("EPSG:4326", (0.0002, 0.0002)), ("EPSG:32618", (20.0, 20.0))])
def test_cleared_forest_is_measured_on_another_grid(engine: Engine, tmp_path: Path, crs: str,
                                                    res: tuple[float, float]) -> None:
    before = make_raster(tmp_path / "before.tif", data=_scene(False), nodata=0, width=160, height=120)
    after_utm = make_raster(tmp_path / "after_utm.tif", data=_scene(True), nodata=0, width=160, height=120)
    after = _reprojected(after_utm, tmp_path / "after.tif", crs, res)
    r = engine.change(before, after, out=str(tmp_path / "change.tif"), polygons=str(tmp_path / "change.gpkg"),
                      question="how much forest was lost?")
    cleared = r.area("forest", "barren")
    assert cleared == pytest.approx(90_000.0, rel=0.1)  # 900 px of 100 m2, edges resampled at 20 m
    assert [(t.from_class, t.to_class) for t in r.reported()][0] == ("forest", "barren")
    assert r.answer is not None and r.answer["source"] == "measured" and "to barren land" in r.answer["sentence"]
    assert r.overlap_share > 0.9 and "Compared over the overlap" in r.summary()[1]
    assert "20 m grid and back" in r.noise.method  # the noise test goes the way the second date went
    assert Path(r.mask_path).is_file() and r.polygons_path and Path(r.polygons_path).is_file()


def test_the_same_scene_on_another_grid_is_no_change(engine: Engine, tmp_path: Path) -> None:
    before = make_raster(tmp_path / "before.tif", data=_scene(True), nodata=0, width=160, height=120)
    after = _reprojected(before, tmp_path / "after.tif", "EPSG:4326", (0.0002, 0.0002))
    r = engine.change(before, after, out=str(tmp_path / "change.tif"))
    assert r.reported() == [] and r.changed_m2 == 0.0
    assert r.summary()[0].startswith("No change above the noise floor")
    moved = sum(t.area_m2 for t in r.matrix if t.changed)
    assert moved < 0.05 * r.compared_m2  # edges only: what the noise floor is there for


def test_partial_overlap_is_compared_and_said(engine: Engine, tmp_path: Path) -> None:
    from affine import Affine

    before = make_raster(tmp_path / "before.tif", data=_scene(False), nodata=0, width=160, height=120)
    east = make_raster(tmp_path / "east.tif", data=_scene(False)[:, :, 80:], nodata=0, width=80, height=120,
                       transform=Affine(10.0, 0.0, 435730.0 + 800, 0.0, -10.0, 4179460.0))
    r = engine.change(before, east, out=str(tmp_path / "change.tif"))
    assert r.overlap_share == pytest.approx(1.0)  # the first date is segmented over the overlap only
    assert r.compared_m2 == pytest.approx(80 * 120 * 100.0, rel=0.02)
    assert r.provenance.aoi[0] == pytest.approx(435730.0 + 800)

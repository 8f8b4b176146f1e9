"""The change evaluation: each edit's reported area against its truth, and the unchanged pairs' other grids."""

from __future__ import annotations

from pathlib import Path

import pytest
import rasterio

from core.change.compare import compare_masks, noise_floor
from core.eval.change import edit_rows, reproject_like, table
from tests.change.change_masks import write_masks
from tests.masks import CLASSES
from tests.rasters import make_raster


def test_an_edit_counts_only_its_reported_pairs(tmp_path: Path) -> None:
    before, after, control = write_masks(tmp_path)
    r = compare_masks(before, after, CLASSES, noise_floor(before, control, len(CLASSES), "test"), tmp_path / "c.tif")
    truth = {"name": "hand", "edits": [
        {"edit": "forest cleared", "pairs": [{"from": "forest", "to": "barren", "area_m2": 630.0}], "area_m2": 630.0},
        {"edit": "forest creeping", "pairs": [{"from": "agriculture", "to": "forest", "area_m2": 500.0}],
         "area_m2": 500.0},
    ]}
    cleared, creeping = edit_rows(r, truth)
    assert cleared["measured_m2"] == pytest.approx(600.0) and cleared["error"] == pytest.approx(-30 / 630, abs=1e-4)
    assert cleared["ok"]  # within 5%
    assert creeping["measured_m2"] == 0.0 and not creeping["ok"]  # 5 px, inside the noise floor: not reported
    text = table({"edits": [cleared, creeping], "unchanged": []})
    assert "forest cleared" in text and "-4.8%" in text and "passed 1 of 2" in text


@pytest.mark.parametrize(("crs", "metres"), [("EPSG:4326", 20.0), ("EPSG:32617", 20.0)])
def test_unchanged_pairs_are_the_scene_on_another_grid(tmp_path: Path, crs: str, metres: float) -> None:
    src = make_raster(tmp_path / "scene.tif", width=96, height=80, nodata=0, descriptions=["red", "green", "blue"])
    out = reproject_like(Path(src), tmp_path / "other.tif", crs, metres)
    with rasterio.open(src) as a, rasterio.open(out) as b:
        assert b.crs.to_string() == crs and b.count == a.count and b.descriptions == a.descriptions
        assert b.width < a.width  # 20 m pixels over a 10 m scene
        if crs == "EPSG:32617":
            assert b.res == pytest.approx((metres, metres))

"""Objects of a class in a mask: 8-connected components, ground areas (UTM and geodesic), boxes, positions."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyproj import Geod

from core.landcover.grid import MaskGrid, default_min_area_m2, find_objects, read_mask
from tests.masks import CLASSES, WATER_BOXES, WATER_PX, scene_mask, write_mask
from tests.rasters import GEO_CRS, GEO_TRANSFORM, UTM_CRS, UTM_TRANSFORM


@pytest.fixture(scope="module")
def utm_grid(tmp_path_factory: pytest.TempPathFactory) -> MaskGrid:
    path = write_mask(tmp_path_factory.mktemp("mask") / "utm.tif", scene_mask(), UTM_CRS, UTM_TRANSFORM)
    return read_mask(path)


def test_water_objects_in_utm_match_the_hand_counted_figures(utm_grid: MaskGrid) -> None:
    found = find_objects(utm_grid, CLASSES, "water")
    assert found.min_area_m2 == pytest.approx(400.0)  # default: 4 pixels of 10 m x 10 m
    assert found.dropped == 1  # the 3-pixel speck D
    areas = [o.area_m2 for o in found.objects]
    assert areas == pytest.approx([100.0 * WATER_PX[k] for k in ("B", "A", "C")])  # largest first
    assert [o.area_px for o in found.objects] == [WATER_PX[k] for k in ("B", "A", "C")]
    b, a, c = found.objects
    assert b.box == WATER_BOXES["B"] and a.box == WATER_BOXES["A"]
    assert c.box == (30, 25, 35, 30)  # the diagonal chain and the block are one object (8-connectivity)
    assert a.centroid == pytest.approx((7.0, 5.0)) and b.centroid == pytest.approx((50.0, 48.0))
    # Positions are taken in the valid envelope (columns 0..72), not the whole 90-column grid.
    assert (a.position, b.position, c.position) == ("north-west", "south-east", "centre")
    for o in found.objects:
        assert int((found.labels == o.id).sum()) == o.area_px  # the label map holds exactly the object


def test_minimum_area_keeps_or_drops_specks(utm_grid: MaskGrid) -> None:
    assert len(find_objects(utm_grid, CLASSES, "water", min_area_m2=0.0).objects) == 4
    assert [o.area_px for o in find_objects(utm_grid, CLASSES, "water", min_area_m2=5000.0).objects] == [320, 60]
    assert default_min_area_m2(utm_grid, min_object_m2=1000.0) == 1000.0  # the engine's setting can raise it
    assert find_objects(utm_grid, CLASSES, "playground").objects == []  # absent class
    assert find_objects(utm_grid, CLASSES, "cars").objects == []  # not a class


def test_areas_on_wgs84_are_geodesic(tmp_path: Path) -> None:
    grid = read_mask(write_mask(tmp_path / "wgs84.tif", scene_mask(), GEO_CRS, GEO_TRANSFORM))
    found = find_objects(grid, CLASSES, "water")
    geod = Geod(ellps="WGS84")
    a, b, c, d, e, f = tuple(GEO_TRANSFORM)[:6]
    by_box = {o.box: o for o in found.objects}
    for c1, r1, c2, r2 in WATER_BOXES.values():
        lons = [c + a * c1, c + a * c2, c + a * c2, c + a * c1]
        lats = [f + e * r1, f + e * r1, f + e * r2, f + e * r2]
        expected = abs(geod.polygon_area_perimeter(lons, lats)[0])
        assert by_box[(c1, r1, c2, r2)].area_m2 == pytest.approx(expected, rel=0.005)
    # 0.0001 deg pixels at 37.7 N: about 11.1 m x 8.8 m, so the 4-pixel minimum is about 390 m2.
    assert 350.0 < found.min_area_m2 < 430.0


def test_a_large_mask_is_read_decimated_and_says_so(tmp_path: Path) -> None:
    path = write_mask(tmp_path / "utm.tif", scene_mask(), UTM_CRS, UTM_TRANSFORM)
    grid = read_mask(path, max_pixels=60 * 90 // 4)
    assert grid.decimation == 2 and grid.mask.shape == (30, 45)
    assert any("decimated 2x" in n for n in grid.notes)
    b = find_objects(grid, CLASSES, "water").objects[0]
    assert b.area_m2 == pytest.approx(32000.0)  # the even-aligned lake keeps its ground area on the coarser grid

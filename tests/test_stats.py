"""Tests for core.stats: areas in map units (projected, feet, geodesic), counts, positions, adjacency."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from affine import Affine

from core.errors import InputError
from core.stats import compute_stats, describe_stats, format_area, stats_from_mask_file

UTM = "EPSG:32618"
NORTH_UP = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_000_000.0)  # 10 m pixels
CLASSES = ["background", "water", "forest", "building"]

# WGS84 ellipsoid, for the analytic area of a lat/lon cell
_A, _F = 6378137.0, 1 / 298.257223563
_B, _E2 = _A * (1 - _F), _F * (2 - _F)


def _zone(lat_deg: float) -> float:
    """Ellipsoid area from the equator to ``lat_deg`` per radian of longitude (m2)."""
    s, e = math.sin(math.radians(lat_deg)), math.sqrt(_E2)
    return _B**2 * (s / (2 * (1 - _E2 * s * s)) + math.log((1 + e * s) / (1 - e * s)) / (4 * e))


def _cell_area(lat0: float, lat1: float, dlon: float) -> float:
    return math.radians(dlon) * (_zone(lat1) - _zone(lat0))


def _by_name(stats, name):
    return next(s for s in stats.classes if s.name == name)


def test_square_of_10_px_at_10_m_is_one_hectare() -> None:
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 1  # 100 m x 100 m
    s = compute_stats(mask, CLASSES, NORTH_UP, UTM)
    water = _by_name(s, "water")
    assert water.area_m2 == pytest.approx(10_000.0) and water.area_ha == pytest.approx(1.0)
    assert s.total_area_m2 == pytest.approx(40_000.0) and s.valid_area_m2 == pytest.approx(40_000.0)
    assert water.fraction == pytest.approx(0.25) and s.background_area_m2 == pytest.approx(30_000.0)
    assert [c.name for c in s.classes] == ["water"]  # background is not a class entry
    assert s.crs == "EPSG:32618" and s.notes == []
    big = np.ones((100, 100), np.uint8)  # 100 x 100 px at 1 m is one hectare too; at 10 m it is 100 ha
    assert compute_stats(big, CLASSES, Affine(1.0, 0, 0, 0, -1.0, 0), UTM).valid_area_m2 == pytest.approx(1e4)
    assert compute_stats(big, CLASSES, NORTH_UP, UTM).classes[0].area_ha == pytest.approx(100.0)


def test_feet_crs_converts_to_square_metres() -> None:
    mask = np.ones((100, 100), np.uint8)
    s = compute_stats(mask, CLASSES, Affine(10.0, 0, 980_000.0, 0, -10.0, 200_000.0), "EPSG:2263")  # US ft
    assert s.classes[0].area_m2 == pytest.approx((1000 * 1200 / 3937) ** 2)


@pytest.mark.parametrize("lat", [0.0, 60.0])
def test_geographic_areas_match_the_ellipsoid(lat: float) -> None:
    mask = np.ones((100, 100), np.uint8)
    transform = Affine(0.001, 0, 10.0, 0, -0.001, lat + 0.1)  # 0.001 deg pixels, lat .. lat + 0.1
    s = compute_stats(mask, CLASSES, transform, "EPSG:4326")
    assert s.classes[0].area_m2 == pytest.approx(_cell_area(lat, lat + 0.1, 0.1), rel=1e-9)
    pixel = Affine(0.001, 0, 10, 0, -0.001, lat + 0.001)
    one = compute_stats(np.ones((1, 1), np.uint8), CLASSES, pixel, "EPSG:4326")
    assert one.valid_area_m2 == pytest.approx(_cell_area(lat, lat + 0.001, 0.001), rel=1e-9)
    assert "geodesic areas on the CRS ellipsoid" in s.notes
    # a rotated (90 degrees) grid over the same cells measures the same area
    turned = transform * Affine.rotation(90) * Affine.translation(0, -100)
    rotated = compute_stats(mask, CLASSES, turned, "EPSG:4326")
    assert rotated.valid_area_m2 == pytest.approx(s.valid_area_m2, rel=1e-6)


def test_geographic_area_shrinks_with_latitude() -> None:
    mask = np.ones((10, 10), np.uint8)
    at = [compute_stats(mask, CLASSES, Affine(0.001, 0, 0, 0, -0.001, lat), "EPSG:4326").valid_area_m2
          for lat in (0.01, 60.01)]
    assert at[1] / at[0] == pytest.approx(0.5, abs=0.005)  # ~cos(60)


def test_web_mercator_areas_are_corrected_to_ground_areas() -> None:
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(10.0, 60.0)
    mask = np.ones((100, 100), np.uint8)
    s = compute_stats(mask, CLASSES, Affine(10.0, 0, x, 0, -10.0, y), "EPSG:3857")
    lat_south = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(x, y - 1000)[1]
    dlon = 1000 / (_A * math.pi / 180)
    assert s.valid_area_m2 == pytest.approx(_cell_area(lat_south, 60.0, dlon), rel=1e-6)
    assert s.valid_area_m2 < 1e6 / 3.9  # grid area would be 1 km2: four times too much at 60 N


def test_object_counts_with_minimum_area_and_8_connectivity() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[5, 5] = 3  # 100 m2
    mask[20:22, 20:22] = 3  # 400 m2
    mask[50:60, 50:60] = 3  # 10 000 m2
    mask[80, 80] = mask[81, 81] = 3  # diagonal neighbours: one object of 200 m2
    assert _by_name(compute_stats(mask, CLASSES, NORTH_UP, UTM), "building").count == 4
    assert _by_name(compute_stats(mask, CLASSES, NORTH_UP, UTM, min_object_m2=150), "building").count == 3
    assert _by_name(compute_stats(mask, CLASSES, NORTH_UP, UTM, min_object_m2=500), "building").count == 1


def test_positions_follow_the_map_not_the_array() -> None:
    mask = np.zeros((90, 90), np.uint8)
    mask[0:20, 70:90] = 1  # array top-right
    mask[40:50, 40:50] = 2  # centre
    mask[75:90, 0:10] = 3  # array bottom-left
    s = compute_stats(mask, CLASSES, NORTH_UP, UTM)
    assert [(c.name, c.position) for c in s.classes] == [
        ("water", "north-east"), ("building", "south-west"), ("forest", "centre")]
    water = _by_name(s, "water")
    assert water.centroid == pytest.approx((500_000.0 + 800.0, 4_000_000.0 - 100.0))
    south_up = compute_stats(mask, CLASSES, Affine(10.0, 0, 500_000.0, 0, 10.0, 3_999_100.0), UTM)
    assert _by_name(south_up, "water").position == "south-east"  # row 0 is the southern edge
    assert _by_name(south_up, "building").position == "north-west"


def test_positions_are_relative_to_the_valid_area() -> None:
    mask = np.full((90, 90), 255, np.uint8)
    mask[0:30, 0:30] = 0  # the analysed area is the top-left block
    mask[0:5, 25:30] = 1
    assert compute_stats(mask, CLASSES, NORTH_UP, UTM).classes[0].position == "north-east"


def test_adjacency_and_nodata() -> None:
    mask = np.zeros((40, 40), np.uint8)
    mask[:, :20] = 1  # water | forest, sharing a 40-pixel vertical boundary
    mask[:, 20:] = 2
    mask[:10, :] = 255  # nodata stripe: no edges there
    mask[30:32, 30:32] = 3  # building inside forest: 8 edges
    s = compute_stats(mask, CLASSES, NORTH_UP, UTM)
    pairs = {(p.a, p.b): p for p in s.adjacency}
    shared = pairs[("water", "forest")]
    assert shared.edges == 30 and shared.length_m == pytest.approx(300)
    assert pairs[("forest", "building")].edges == 8
    assert s.valid_area_m2 == pytest.approx(30 * 40 * 100) and s.total_area_m2 == pytest.approx(40 * 40 * 100)
    assert _by_name(s, "forest").adjacent_to == ["building", "water"]
    assert sum(c.fraction for c in s.classes) == pytest.approx(1.0)


def test_background_pairs_are_not_reported() -> None:
    mask = np.zeros((10, 10), np.uint8)
    mask[:, :5] = 1
    assert compute_stats(mask, CLASSES, NORTH_UP, UTM).adjacency == []


def test_describe_stats_is_short_and_deterministic() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[:, :31] = 1
    mask[:, 31:] = 2
    mask[10:15, 40:45] = 3
    mask[60:65, 80:85] = 3
    text = describe_stats(compute_stats(mask, CLASSES, NORTH_UP, UTM))
    assert text == ("Area 1.00 km2. forest 68.5% 68.5 ha, 1 object, centre; "
                    "water 31.0% 31.0 ha, 1 object, west; building 0.5% 5000 m2, 2 objects, centre. "
                    "Adjacent: water-forest, forest-building.")
    names = ["background", "agricultural land", "water body", "forest", "building", "road", "barren",
             "playground", "greenhouse", "parking lot"]
    rng = np.random.default_rng(0)
    big = rng.integers(0, len(names), (200, 200)).astype(np.uint8)
    long_text = describe_stats(compute_stats(big, names, NORTH_UP, UTM))
    assert len(long_text) <= 600 and all(n in long_text for n in names[1:])
    assert describe_stats(compute_stats(big, names, NORTH_UP, UTM), max_chars=200).count("more") == 1
    assert format_area(50) == "50 m2" and format_area(2.5e6) == "2.50 km2"


def test_bad_masks_raise_input_error() -> None:
    with pytest.raises(InputError):
        compute_stats(np.zeros((2, 2, 2), np.uint8), CLASSES, NORTH_UP, UTM)
    with pytest.raises(InputError):
        compute_stats(np.full((2, 2), 300, np.int32), CLASSES, NORTH_UP, UTM)


def _write_mask(path, mask: np.ndarray, transform: Affine, nodata: int = 255) -> None:
    profile = dict(driver="GTiff", width=mask.shape[1], height=mask.shape[0], count=1, dtype="uint8",
                   crs=UTM, transform=transform, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(mask, 1)


def test_stats_from_mask_file_full_and_decimated(tmp_path) -> None:
    rng = np.random.default_rng(1)
    mask = np.zeros((400, 400), np.uint8)
    mask[:, 200:] = 1
    mask[100:300, 50:150] = 2
    mask[rng.random((400, 400)) < 0.01] = 255  # scattered nodata
    path = tmp_path / "mask.tif"
    _write_mask(path, mask, NORTH_UP)
    full = stats_from_mask_file(path, CLASSES)
    ref = compute_stats(mask, CLASSES, NORTH_UP, UTM)
    assert full.decimation == 1 and full.valid_area_m2 == pytest.approx(ref.valid_area_m2)
    small = stats_from_mask_file(path, CLASSES, max_pixels=10_000)
    assert small.decimation == 4 and small.shape == (100, 100) and any("decimated" in n for n in small.notes)
    assert small.total_area_m2 == pytest.approx(ref.total_area_m2)
    assert _by_name(small, "water").area_m2 == pytest.approx(_by_name(ref, "water").area_m2, rel=0.03)
    with pytest.raises(InputError):
        stats_from_mask_file(tmp_path / "missing.tif", CLASSES)

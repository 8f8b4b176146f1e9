"""Tests for core.geo: pixel <-> CRS boxes, reprojection, merging across tiles, GeoPackage layers."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import numpy as np
import pytest
from affine import Affine
from rasterio.transform import array_bounds
from rasterio.warp import transform_bounds
from rasterio.windows import from_bounds

from core.errors import InputError
from core.geo import (
    box_iou,
    crs_box_to_window,
    crs_to_pixel,
    merge_boxes,
    model_box_to_crs,
    nms,
    pixel_box_to_crs,
    pixel_size,
    pixel_to_crs,
    read_boxes_gpkg,
    reproject_box,
    tile_box_to_scene,
    write_boxes_gpkg,
)
from core.results import Box

NORTH_UP = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_000_000.0)  # UTM 18N, 10 m pixels
SOUTH_UP = Affine(10.0, 0.0, 500_000.0, 0.0, 10.0, 3_990_000.0)
ROTATED = NORTH_UP * Affine.rotation(30.0)
TRANSFORMS = [NORTH_UP, SOUTH_UP, ROTATED]


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_pixel_crs_round_trip(transform: Affine) -> None:
    rng = np.random.default_rng(0)
    cols, rows = rng.uniform(-50, 2000, 100), rng.uniform(-50, 2000, 100)
    x, y = pixel_to_crs(cols, rows, transform)
    ex, ey = transform * (cols, rows)  # affine's own mapping as the oracle
    np.testing.assert_allclose(x, ex)
    np.testing.assert_allclose(y, ey)
    c2, r2 = crs_to_pixel(x, y, transform)
    np.testing.assert_allclose(c2, cols, atol=1e-6)
    np.testing.assert_allclose(r2, rows, atol=1e-6)


@pytest.mark.parametrize("transform", [NORTH_UP, SOUTH_UP])
def test_whole_raster_box_matches_rasterio_bounds(transform: Affine) -> None:
    west, south, east, north = array_bounds(300, 200, transform)
    got = pixel_box_to_crs((0, 0, 200, 300), transform)
    np.testing.assert_allclose(got, (min(west, east), min(south, north), max(west, east), max(south, north)))
    assert got[0] < got[2] and got[1] < got[3]


def test_rotated_box_is_envelope_of_all_corners() -> None:
    corners = [ROTATED * (c, r) for c, r in [(10, 20), (110, 20), (110, 70), (10, 70)]]
    xs, ys = zip(*corners)
    got = pixel_box_to_crs((10, 20, 110, 70), ROTATED)
    np.testing.assert_allclose(got, (min(xs), min(ys), max(xs), max(ys)))


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_crs_box_to_window_inverts_pixel_box(transform: Affine) -> None:
    window = (37, 12, 64, 128)
    c, r, w, h = window
    box = pixel_box_to_crs((c, r, c + w, r + h), transform)
    if transform is ROTATED:  # the envelope of a rotated window covers more pixels
        wc, wr, ww, wh = crs_box_to_window(box, transform)
        assert wc <= c and wr <= r and wc + ww >= c + w and wr + wh >= r + h
    else:
        assert crs_box_to_window(box, transform) == window


def test_crs_box_to_window_matches_rasterio_and_clips() -> None:
    box = (500_123.0, 3_998_777.0, 500_987.0, 3_999_555.0)
    win = from_bounds(*box, transform=NORTH_UP).round_offsets(op="floor").round_lengths(op="ceil")
    got = crs_box_to_window(box, NORTH_UP)
    assert got[:2] == (int(win.col_off), int(win.row_off))
    assert got[0] + got[2] >= win.col_off + win.width - 1e-9
    partly_outside = (499_000.0, 3_999_000.0, 500_050.0, 4_001_000.0)
    assert crs_box_to_window(partly_outside, NORTH_UP, 100, 100) == (0, 0, 5, 100)
    with pytest.raises(InputError):
        crs_box_to_window((0.0, 0.0, 10.0, 10.0), NORTH_UP, 100, 100)


def test_tile_and_model_boxes_to_crs() -> None:
    window = (256, 512, 512, 512)
    assert tile_box_to_scene((0, 0, 512, 512), window) == (256, 512, 768, 1024)
    assert tile_box_to_scene((0, 0, 256, 256), window, image_size=(256, 256)) == (256, 512, 768, 1024)
    full = model_box_to_crs((0, 0, 999, 999), window, NORTH_UP)
    np.testing.assert_allclose(full, pixel_box_to_crs((256, 512, 768, 1024), NORTH_UP))
    half = model_box_to_crs((0, 499.5, 499.5, 999), window, NORTH_UP)  # south-west quarter of the window
    np.testing.assert_allclose(half, pixel_box_to_crs((256, 768, 512, 1024), NORTH_UP))
    south_up = model_box_to_crs((0, 0, 999, 499.5), window, SOUTH_UP)  # image top half = south on south-up
    assert south_up[1] == pytest.approx(SOUTH_UP.f + 512 * 10.0)
    clipped = model_box_to_crs((-20, -20, 1200, 1200), window, NORTH_UP)
    np.testing.assert_allclose(clipped, full)


def test_reproject_box_envelope_contains_densified_edges() -> None:
    box = (400_000.0, 4_400_000.0, 700_000.0, 4_700_000.0)  # wide UTM box: curved edges in lon/lat
    got = reproject_box(box, "EPSG:32618", "EPSG:4326")
    np.testing.assert_allclose(got, transform_bounds("EPSG:32618", "EPSG:4326", *box, densify_pts=21))
    from pyproj import Transformer

    t = np.linspace(0, 1, 201)
    along_x, along_y = box[0] + t * (box[2] - box[0]), box[1] + t * (box[3] - box[1])
    xs = np.concatenate([along_x, np.full_like(t, box[2]), along_x, np.full_like(t, box[0])])
    ys = np.concatenate([np.full_like(t, box[1]), along_y, np.full_like(t, box[3]), along_y])
    lon, lat = Transformer.from_crs("EPSG:32618", "EPSG:4326", always_xy=True).transform(xs, ys)
    eps = 1e-4  # degrees; 21 points an edge already catch the bulge
    assert got[0] <= lon.min() + eps and got[2] >= lon.max() - eps
    assert got[1] <= lat.min() + eps and got[3] >= lat.max() - eps
    corner_lats = lat[[0, 200, 201, 401, 402, 602, 603, 803]]
    assert got[3] > corner_lats.max() + 0.005  # the north edge bulges above its corners near the meridian


def test_merge_seam_cut_object_from_overlapping_tiles() -> None:
    # a ship 100 m long cut by a vertical seam; tiles overlap, so the pieces overlap by 20 m
    left = Box(0.0, 0.0, 60.0, 20.0, "ship", 0.7)
    right = Box(40.0, 1.0, 100.0, 21.0, "ship", 0.9)
    other = Box(500.0, 500.0, 520.0, 520.0, "ship", 0.5)
    merged = merge_boxes([left, right, other], tolerance=20.0)
    assert merged[0] == Box(0.0, 0.0, 100.0, 21.0, "ship", 0.9)
    assert merged[1] == other and len(merged) == 2


def test_merge_chain_across_four_tiles_and_tolerance() -> None:
    pieces = [Box(0, 0, 50, 50, "field", 0.5), Box(51, 0, 90, 50, "field", 0.6),
              Box(0, 51, 50, 80, "field", 0.8), Box(51, 51, 90, 80, "field", 0.4)]  # 1 m gaps at the seams
    assert merge_boxes(pieces, tolerance=0.0) == sorted(pieces, key=lambda b: -b.score)
    merged = merge_boxes(pieces, tolerance=2.0)
    assert merged == [Box(0, 0, 90, 80, "field", 0.8)]


def test_merge_keeps_labels_corner_contacts_and_far_boxes_apart() -> None:
    a = Box(0, 0, 10, 10, "car", 0.9)
    corner = Box(10, 10, 20, 20, "car", 0.8)  # touches only at a corner: two cars, not one
    other_label = Box(5, 0, 15, 10, "truck", 0.7)
    assert len(merge_boxes([a, corner, other_label], tolerance=1.0)) == 3
    assert len(merge_boxes([a, corner], tolerance=1.0, min_shared=0.0)) == 1
    dup = Box(1, 1, 11, 11, "car", 0.95)
    assert merge_boxes([a, dup]) == [Box(0, 0, 11, 11, "car", 0.95)]


def test_nms_and_iou() -> None:
    a, b = Box(0, 0, 10, 10, "car", 0.9), Box(1, 0, 11, 10, "car", 0.8)
    assert box_iou(a, b) == pytest.approx(90 / 110)
    assert box_iou(a, Box(20, 20, 30, 30, "car", 1.0)) == 0.0
    c = Box(1, 0, 11, 10, "truck", 0.85)
    assert nms([b, a, c]) == [a, c]
    assert nms([b, a, c], per_label=False) == [a]
    assert pixel_size(NORTH_UP) == pytest.approx(10.0) and pixel_size(ROTATED) == pytest.approx(10.0)


def test_geopackage_round_trip(tmp_path) -> None:
    path = tmp_path / "ground.gpkg"
    boxes = [Box(500_000.0, 3_999_000.0, 500_100.0, 3_999_050.0, "ship", 0.9),
             Box(500_200.0, 3_999_100.0, 500_260.0, 3_999_300.0, "harbour", 0.4)]
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    write_boxes_gpkg(path, boxes, "EPSG:32618", prompt="ships", source="/data/s2.tif", model="tiny",
                     layer="ships", created=when)
    write_boxes_gpkg(path, boxes[:1], "EPSG:32618", layer="other")  # a second layer keeps the first
    got, rows, crs = read_boxes_gpkg(path, layer="ships")
    assert got == boxes and crs == "EPSG:32618"
    assert rows[0]["prompt"] == "ships" and rows[1]["source"] == "/data/s2.tif" and rows[0]["model"] == "tiny"
    assert rows[0]["created"] == "2024-05-01T12:30:00Z"
    assert len(read_boxes_gpkg(path, layer="other")[0]) == 1
    write_boxes_gpkg(path, [], "EPSG:32618", layer="ships")  # replaced by an empty layer
    assert read_boxes_gpkg(path, layer="ships")[0] == []
    assert sorted(os.listdir(tmp_path)) == ["ground.gpkg"]  # no temporary file left behind

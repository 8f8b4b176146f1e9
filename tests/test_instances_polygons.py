"""Outlines of objects: valid polygons in the raster CRS with the pixels' area, holes, oriented boxes, GeoPackage."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import CRS, Geod
from rasterio import features

from core.instances.polygons import (
    ORIENTED_LAYER,
    outline,
    read_objects_gpkg,
    to_found_object,
    write_objects_gpkg,
)  # fmt: skip
from core.landcover.grid import find_objects, read_mask
from tests.masks import CLASSES, WATER, scene_mask, write_mask
from tests.rasters import GEO_CRS, GEO_TRANSFORM, UTM_CRS, UTM_TRANSFORM


def _shapes_mask() -> np.ndarray:
    """Water shapes on agriculture (100 x 120): a disk, a square ring, a rectangle rotated by 30 degrees."""
    mask = np.full((100, 120), CLASSES.index("agriculture"), dtype=np.uint8)
    rows, cols = np.mgrid[0:100, 0:120] + 0.5
    mask[(rows - 25) ** 2 + (cols - 25) ** 2 <= 12**2] = WATER  # disk, radius 12 px
    mask[5:35, 60:90] = WATER
    mask[15:25, 70:80] = CLASSES.index("forest")  # the ring's hole: 10 x 10 px
    rect = shapely.affinity.rotate(shapely.box(30, 62, 80, 78), 30, origin="center")  # 50 x 16 px
    mask[features.rasterize([rect], out_shape=mask.shape, transform=Affine.identity()).astype(bool)] = WATER
    return mask


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_mask(tmp_path_factory.mktemp("shapes") / "utm.tif", _shapes_mask(), UTM_CRS, UTM_TRANSFORM)


def test_outlines_are_valid_in_the_raster_crs_with_the_pixel_area(shapes: str) -> None:
    grid = read_mask(shapes)
    found = find_objects(grid, CLASSES, "water")
    assert len(found.objects) == 3
    x0, y0 = UTM_TRANSFORM.c, UTM_TRANSFORM.f
    scene = shapely.box(x0, y0 - 100 * 10.0, x0 + 120 * 10.0, y0)
    for obj in found.objects:
        geom = outline(found, obj, grid)
        assert geom.is_valid and not geom.is_empty and geom.geom_type in ("Polygon", "MultiPolygon")
        assert scene.contains(geom)  # CRS coordinates of the scene, not pixels
        assert geom.area == pytest.approx(obj.area_m2, rel=0.03)  # simplified by one pixel, area kept
    ring = next(o for o in found.objects if o.box == (60, 5, 90, 35))
    poly = outline(found, ring, grid)
    assert len(poly.interiors) == 1 and poly.area == pytest.approx(ring.area_m2)  # the hole is kept: 800 px


def test_oriented_box_of_a_rotated_rectangle_is_tighter_than_its_box(shapes: str) -> None:
    grid = read_mask(shapes)
    found = find_objects(grid, CLASSES, "water")
    rect = next(o for o in found.objects if o.box[0] >= 25 and o.box[1] >= 40)
    obj = to_found_object(found, rect, grid, "rule")
    oriented = shapely.Polygon(obj.oriented_box)
    horizontal = shapely.box(obj.box.x1, obj.box.y1, obj.box.x2, obj.box.y2)
    assert obj.oriented_box[0] == obj.oriented_box[-1] and len(obj.oriented_box) == 5  # a closed ring
    assert oriented.area < 0.6 * horizontal.area  # the 50 x 16 px rectangle turned by 30 degrees
    assert oriented.area == pytest.approx(50 * 16 * 100.0, rel=0.12)
    angle = math.degrees(math.atan2(obj.oriented_box[1][1] - obj.oriented_box[0][1],
                                    obj.oriented_box[1][0] - obj.oriented_box[0][0])) % 90
    assert min(abs(angle - 30), abs(angle - 60)) < 5  # its sides follow the rectangle's (y up in UTM)
    assert obj.score == 1.0 and obj.label == "water" and shapely.from_wkt(obj.polygon_wkt).is_valid


def test_outlines_on_wgs84_have_the_geodesic_area(tmp_path: Path) -> None:
    grid = read_mask(write_mask(tmp_path / "wgs84.tif", scene_mask(), GEO_CRS, GEO_TRANSFORM))
    found = find_objects(grid, CLASSES, "water")
    geod = Geod(ellps="WGS84")
    for obj in found.objects[:2]:  # the two rectangles
        geom = outline(found, obj, grid)
        assert -75.73 <= geom.bounds[0] < geom.bounds[2] <= -75.72  # degrees, in the scene
        assert abs(geod.geometry_area_perimeter(geom)[0]) == pytest.approx(obj.area_m2, rel=0.005)


def test_geopackage_has_the_raster_crs_fields_and_optional_oriented_layer(shapes: str, tmp_path: Path) -> None:
    import pyogrio

    grid = read_mask(shapes)
    found = find_objects(grid, CLASSES, "water")
    objects = [to_found_object(found, o, grid, "water objects of at least 400 m2, largest first (3 of 3)")
               for o in found.objects]
    out = tmp_path / "found.gpkg"
    write_objects_gpkg(out, objects, UTM_CRS, prompt="the lakes", source=shapes, model="tiny-random", oriented=True)
    assert sorted(n for n, _ in pyogrio.list_layers(out)) == sorted(["objects", ORIENTED_LAYER])
    geoms, rows, crs = read_objects_gpkg(out)
    assert CRS.from_user_input(crs) == CRS.from_user_input(UTM_CRS)
    assert len(geoms) == 3 and all(g.geom_type == "MultiPolygon" and g.is_valid for g in geoms)
    assert [r["area_m2"] for r in rows] == pytest.approx([o.area_m2 for o in objects])
    assert {r["prompt"] for r in rows} == {"the lakes"} and {r["model"] for r in rows} == {"tiny-random"}
    assert rows[0]["rule"].endswith("(3 of 3)") and rows[0]["position"] and rows[0]["created"].endswith("Z")
    boxes, box_rows, _ = read_objects_gpkg(out, ORIENTED_LAYER)
    assert len(boxes) == 3 and all(b.buffer(1e-3).contains(g) for b, g in zip(boxes, geoms))
    write_objects_gpkg(out, objects[:1], UTM_CRS)  # replaced whole: no stale oriented layer
    assert [n for n, _ in pyogrio.list_layers(out)] == ["objects"]
    assert os.listdir(tmp_path) == ["found.gpkg"]  # no temporary file left


def test_an_empty_selection_writes_an_empty_layer(tmp_path: Path) -> None:
    out = write_objects_gpkg(tmp_path / "none.gpkg", [], GEO_CRS)
    geoms, rows, crs = read_objects_gpkg(out)
    assert geoms == [] and rows == [] and CRS.from_user_input(crs) == CRS.from_user_input(GEO_CRS)

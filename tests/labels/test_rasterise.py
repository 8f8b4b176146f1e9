"""Label polygons land on the right pixels across CRSs, and label classes map to model classes as documented."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from core.errors import InputError
from core.labels.rasterise import UNLABELLED, parse_mapping, rasterise_file, resolve_mapping
from tests.rasters import UTM_CRS, UTM_TRANSFORM, make_raster

X0, Y0 = UTM_TRANSFORM.c, UTM_TRANSFORM.f  # north-west corner of the test raster, 10 m pixels


def pixels(c0: int, r0: int, c1: int, r1: int) -> object:
    """The UTM rectangle of pixel columns c0..c1-1 and rows r0..r1-1."""
    return box(X0 + 10 * c0, Y0 - 10 * r1, X0 + 10 * c1, Y0 - 10 * r0)


def write_labels(path: Path, rows: list[tuple[str, object]], crs: str) -> Path:
    frame = gpd.GeoDataFrame({"kind": [n for n, _ in rows]}, geometry=[g for _, g in rows], crs=UTM_CRS)
    frame.to_crs(crs).to_file(path, layer="labels", driver="GPKG")
    return path


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3857", UTM_CRS])
def test_polygons_in_any_crs_land_on_the_same_utm_pixels(tmp_path: Path, crs: str) -> None:
    raster = make_raster(tmp_path / "r.tif", width=60, height=50)
    rows = [("lake", pixels(5, 10, 25, 30)), ("woods", pixels(40, 2, 50, 8))]
    labels, grid = rasterise_file(raster, write_labels(tmp_path / "l.gpkg", rows, crs), "kind")
    assert labels.names == ["lake", "woods"]
    want = np.full((50, 60), UNLABELLED)
    want[10:30, 5:25] = 0
    want[2:8, 40:50] = 1
    assert np.array_equal(grid.classes, want)  # 400 + 60 pixels, exactly, from lon/lat or web mercator
    assert set(np.unique(grid.polygons)) == {-1, 0, 1}


def test_labels_off_the_raster_are_noted_and_bad_fields_refused(tmp_path: Path) -> None:
    raster = make_raster(tmp_path / "r.tif", width=20, height=20)
    path = write_labels(tmp_path / "l.gpkg", [("lake", pixels(2, 2, 6, 6)), ("lake", pixels(200, 200, 210, 210))],
                        "EPSG:4326")
    _, grid = rasterise_file(raster, path, "kind")
    assert (grid.classes == 0).sum() == 16
    assert grid.notes and "1 polygon" in grid.notes[0]
    with pytest.raises(InputError, match="no field 'class'"):
        rasterise_file(raster, path, "class")


def test_mapping_parses_and_resolves() -> None:
    assert parse_mapping(["veg=forest+agriculture", "pv=building"]) == {"veg": ["forest", "agriculture"],
                                                                       "pv": ["building"]}
    for bad in (["veg"], ["=water"], ["veg=forest+"], ["a=water", "a=forest"]):
        with pytest.raises(InputError):
            parse_mapping(bad)
    model = ["background", "water", "forest", "agriculture"]
    got = resolve_mapping(["water", "lakes", "woods", "solar panels", "veg"], model, {"veg": ["forest", "agriculture"]})
    assert got == {"water": ["water"], "lakes": ["water"], "woods": ["forest"], "solar panels": [],
                   "veg": ["forest", "agriculture"]}
    with pytest.raises(InputError, match="no class 'road'"):
        resolve_mapping(["x"], model, {"x": ["road"]})

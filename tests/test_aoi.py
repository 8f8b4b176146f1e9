"""Areas of interest: parsing, bbox and polygon windows in the scene CRS and other EPSG codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyproj import Transformer

from core.aoi import aoi_from_bbox, normalise_crs, parse_aoi, resolve_aoi
from core.errors import InputError
from core.raster import RasterInfo, open_raster
from core.tiling import PixelWindow
from tests.rasters import GEO_CRS, GEO_TRANSFORM, make_raster

X0, Y0 = 435730.0, 4179460.0  # UTM fixture origin, 10 m pixels


@pytest.fixture(scope="module")
def utm(tmp_path_factory: pytest.TempPathFactory) -> RasterInfo:
    return open_raster(make_raster(tmp_path_factory.mktemp("aoi") / "utm.tif", 400, 300))


def test_parse() -> None:
    a = parse_aoi(" 1,2,3,4 ")
    assert a.is_box and a.crs is None
    assert parse_aoi("1,2,3,4@epsg:4326").crs == "EPSG:4326"
    assert parse_aoi("-75.7,37.7,-75.6,37.75@4326").crs == "EPSG:4326"
    p = parse_aoi("POLYGON((0 0, 10 0, 10 10, 0 0))@EPSG:32618")
    assert not p.is_box and p.crs == "EPSG:32618" and p.geometry["type"] == "Polygon"
    assert normalise_crs(None) is None and normalise_crs(32618) == "EPSG:32618"
    for bad in ["1,2,3", "a,b,c,d", "3,2,1,4", "POLYGON((0 0, 1 1", "POINT(1 2)", "1,2,3,4@EPSG:99999999"]:
        with pytest.raises(InputError):
            parse_aoi(bad)


def test_bbox_in_scene_crs(utm: RasterInfo) -> None:
    aw = resolve_aoi(utm, [X0 + 100, Y0 - 800, X0 + 1000, Y0 - 200])
    assert aw.window == PixelWindow(10, 20, 90, 60) and aw.mask is None
    assert aw.bounds == (X0 + 100, Y0 - 800, X0 + 1000, Y0 - 200)
    part = resolve_aoi(utm, f"{X0 - 500},{Y0 - 500},{X0 + 55},{Y0 + 500}")
    assert part.window == PixelWindow(0, 0, 6, 50)  # clipped to the scene, partial pixels kept


def test_bbox_in_other_epsg(utm: RasterInfo) -> None:
    to_geo = Transformer.from_crs("EPSG:32618", "EPSG:4326", always_xy=True)
    lon0, lat0 = to_geo.transform(X0 + 1000, Y0 - 2000)
    lon1, lat1 = to_geo.transform(X0 + 2500, Y0 - 1000)
    aw = resolve_aoi(utm, [lon0, lat0, lon1, lat1], crs=4326)
    w = aw.window
    # the lon/lat box is slightly rotated in UTM: it contains the UTM corners, within a few pixels
    assert abs(w.col_off - 100) <= 3 and abs(w.col_end - 250) <= 3
    assert abs(w.row_off - 100) <= 3 and abs(w.row_end - 200) <= 3
    assert aw.mask is not None and aw.mask.shape == (w.height, w.width)
    assert 0.9 < aw.mask.mean() <= 1.0
    assert resolve_aoi(utm, f"{lon0},{lat0},{lon1},{lat1}@EPSG:4326").window == w


def test_polygon_in_other_epsg_mask(utm: RasterInfo) -> None:
    to_geo = Transformer.from_crs("EPSG:32618", "EPSG:4326", always_xy=True)
    corners = [(X0 + 500, Y0 - 500), (X0 + 2500, Y0 - 500), (X0 + 500, Y0 - 2500)]  # right triangle
    ring = ", ".join(f"{x} {y}" for x, y in (to_geo.transform(*c) for c in corners + corners[:1]))
    aw = resolve_aoi(utm, f"POLYGON(({ring}))@EPSG:4326")
    assert aw.mask is not None
    assert abs(aw.window.col_off - 50) <= 2 and abs(aw.window.width - 200) <= 3
    assert abs(aw.mask.mean() - 0.5) < 0.03  # half the bounding window
    assert aw.mask[5, 5] and not aw.mask[-5, -5]


def test_geographic_raster_with_utm_box(tmp_path: Path) -> None:
    info = open_raster(make_raster(tmp_path / "g.tif", 300, 200, crs=GEO_CRS, transform=GEO_TRANSFORM))
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32618", always_xy=True)
    x0, y0 = to_utm.transform(-75.72, 37.745)  # pixel (100, 150)
    x1, y1 = to_utm.transform(-75.71, 37.75)  # pixel (200, 100)
    aw = resolve_aoi(info, aoi_from_bbox([x0, y0, x1, y1], "EPSG:32618"))
    assert abs(aw.window.col_off - 100) <= 3 and abs(aw.window.row_off - 100) <= 3
    assert abs(aw.window.col_end - 200) <= 3 and abs(aw.window.row_end - 150) <= 3


def test_outside_and_bad(utm: RasterInfo, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="outside"):
        resolve_aoi(utm, [X0 - 5000, Y0 - 100, X0 - 1000, Y0])
    with pytest.raises(InputError, match="outside"):
        resolve_aoi(utm, "10,50,10.1,50.1@EPSG:4326")  # Europe, far from this UTM 18N scene
    with pytest.raises(InputError, match="does not cover"):
        corner_miss = (
            f"POLYGON(({X0 - 900} {Y0 + 10}, {X0 + 5} {Y0 + 10}, {X0 - 900} {Y0 - 900}, {X0 - 900} {Y0 + 10}))"
        )
        resolve_aoi(utm, corner_miss)
    no_crs = open_raster(make_raster(tmp_path / "n.tif", 50, 50, crs=None))
    with pytest.raises(InputError, match="no CRS"):
        resolve_aoi(no_crs, "1,2,3,4@EPSG:4326")
    box = [X0 + 100, Y0 - 800, X0 + 1000, Y0 - 200]  # no CRS given: the raster's own coordinates
    assert resolve_aoi(no_crs, box).window == PixelWindow(10, 20, 40, 30)


def test_lon_lat_box_across_the_antimeridian_is_placed_on_both_sides(tmp_path: Path) -> None:
    """'179.96,-17.01,-179.99,-16.99@EPSG:4326' (west edge east of the east edge) is the box across 180°."""
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32760", always_xy=True)
    x, y = to_utm.transform(179.97, -17.0)  # Fiji, UTM 60S; the scene spans 180°
    info = open_raster(make_raster(tmp_path / "fiji.tif", 64, 64, crs="EPSG:32760",
                                   transform=(100.0, 0.0, x - 3200, 0.0, -100.0, y + 3200)))
    placed = resolve_aoi(info, "179.96,-17.01,-179.99,-16.99@EPSG:4326")
    west, _ = to_utm.transform(179.96, -17.0)
    east, _ = to_utm.transform(180.0 + 0.01 - 360.0, -17.0)  # -179.99
    assert east > x  # the east side lies east of the scene centre in UTM 60S
    width_m = placed.bounds[2] - placed.bounds[0]
    assert width_m == pytest.approx(min(east, x + 3200) - max(west, x - 3200), abs=250)  # both sides, not one
    assert placed.mask is not None and placed.mask.any()
    with pytest.raises(InputError, match="empty"):
        resolve_aoi(info, "179.96,-16.99,-179.99,-17.01@EPSG:4326")  # south above north stays an error
    with pytest.raises(InputError, match="empty"):
        resolve_aoi(info, f"{x + 100},{y - 100},{x - 100},{y + 100}")  # projected: west > east is an error

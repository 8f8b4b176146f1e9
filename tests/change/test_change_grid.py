"""The second date read onto the first's grid across CRSs and pixel sizes, and where two rasters overlap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject

from core.change.grid import Grid, overlap_bounds, raster_pixel_m, resampling_for, warp_to_grid
from core.errors import InputError
from tests.rasters import UTM_CRS, UTM_TRANSFORM, make_raster


def _halves(width: int = 96, height: int = 80) -> np.ndarray:
    """uint8 [3, h, w]: west half 200, east half 40 (a sharp north-south edge in the middle)."""
    data = np.full((3, height, width), 40, dtype=np.uint8)
    data[:, :, : width // 2] = 200
    return data


def _reprojected(src_path: str, dst_path: Path, crs: str, res: tuple[float, float], nodata: float | None = 0) -> str:
    """The raster reprojected to ``crs`` at ``res`` (a second date on another grid)."""
    with rasterio.open(src_path) as src:
        t, w, h = calculate_default_transform(src.crs, crs, src.width, src.height, *src.bounds, resolution=res)
        out = np.zeros((src.count, h, w), dtype=src.dtypes[0])
        reproject(src.read(), out, src_transform=src.transform, src_crs=src.crs, dst_transform=t, dst_crs=crs,
                  resampling=Resampling.average, dst_nodata=0)
        profile = {"driver": "GTiff", "width": w, "height": h, "count": src.count, "dtype": src.dtypes[0],
                   "crs": crs, "transform": t, "nodata": nodata}
        with rasterio.open(dst_path, "w", **profile) as dst:
            dst.write(out)
    return str(dst_path)


@pytest.mark.parametrize(("crs", "res"), [("EPSG:4326", (0.0002, 0.0002)), ("EPSG:32617", (20.0, 20.0)),
                                          (UTM_CRS, (5.0, 5.0))])
def test_second_date_lands_on_the_first_grid(tmp_path: Path, crs: str, res: tuple[float, float]) -> None:
    first = make_raster(tmp_path / "first.tif", data=_halves())
    second = _reprojected(first, tmp_path / "second.tif", crs, res)
    grid = Grid.of(first)
    vrt = warp_to_grid(second, grid, tmp_path / "second_on_first.vrt",
                       resampling_for(raster_pixel_m(second), grid.pixel_m))
    with rasterio.open(vrt) as ds:
        assert (ds.width, ds.height, ds.crs.to_epsg()) == (96, 80, 32618)
        assert tuple(ds.transform)[:6] == pytest.approx(tuple(UTM_TRANSFORM)[:6])
        band = ds.read(1, window=rasterio.windows.Window(0, 10, 96, 60))  # windows are warped as they are read
        valid = ds.read_masks(1, window=rasterio.windows.Window(0, 10, 96, 60)) > 0
    west, east = band[:, 5:40][valid[:, 5:40]], band[:, 56:91][valid[:, 56:91]]
    assert west.size > 1000 and east.size > 1000
    assert np.median(west) == pytest.approx(200, abs=3) and np.median(east) == pytest.approx(40, abs=3)
    edge = band[:, 44:52].astype(float).mean(axis=0)
    assert edge[0] > edge[-1]  # the edge stays in the middle, where it was


def test_outside_the_second_raster_is_nodata(tmp_path: Path) -> None:
    """A second date covering only the west half: the east half of the first grid reads as nodata (an alpha band
    is added when the file has no nodata value)."""
    first = make_raster(tmp_path / "first.tif", width=96, height=80)
    west = make_raster(tmp_path / "west.tif", width=48, height=80, transform=UTM_TRANSFORM, seed=3)
    vrt = warp_to_grid(west, Grid.of(first), tmp_path / "west_on_first.vrt")
    with rasterio.open(vrt) as ds:
        assert ds.count == 4  # red, green, blue kept at 1-3; alpha last
        m = ds.read_masks(1)
    assert m[:, :46].all() and not m[:, 50:].any()
    assert overlap_bounds(first, west) == pytest.approx((435730.0, 4178660.0, 436210.0, 4179460.0))


def test_no_overlap_and_no_crs_are_refused(tmp_path: Path) -> None:
    first = make_raster(tmp_path / "first.tif")
    far = make_raster(tmp_path / "far.tif", transform=Affine(10.0, 0.0, 535730.0, 0.0, -10.0, 4179460.0))
    assert overlap_bounds(first, far) is None
    bare = make_raster(tmp_path / "bare.tif", crs=None)
    with pytest.raises(InputError, match="no CRS"):
        overlap_bounds(first, bare)


def test_moved_grid_is_whole_pixels_away_and_the_same_size() -> None:
    g = Grid(UTM_CRS, tuple(UTM_TRANSFORM)[:6], 96, 80)  # type: ignore[arg-type]
    moved = g.moved(3)
    assert (moved.width, moved.height, moved.crs) == (96, 80, UTM_CRS)
    assert moved.transform[2] == pytest.approx(g.transform[2] + 30.0)  # 3 pixels of 10 m east
    assert moved.transform[5] == pytest.approx(g.transform[5] - 30.0)  # and south
    assert g.pixel_m == pytest.approx(10.0, rel=1e-3) and moved.pixel_m == pytest.approx(g.pixel_m)

"""Opening rasters, band profiles, the scene stretch, windowed and overview reads, bad inputs."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio

from core.errors import InputError
from core.raster import (
    compute_stretch,
    detect_profile,
    open_raster,
    read_overview,
    read_window,
    scene_profile,
)
from core.results import Provenance
from core.tiling import PixelWindow
from tests.rasters import GEO_CRS, GEO_TRANSFORM, UTM_TRANSFORM, make_raster

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "sentinel2_demo.tif"


def test_open_utm(tmp_path: Path) -> None:
    p = make_raster(tmp_path / "a.tif", 96, 80, 4, "uint16", nodata=0, descriptions=["B2", "B3", "B4", "B8"])
    info = open_raster(p)
    assert (info.width, info.height, info.count, info.dtype) == (96, 80, 4, "uint16")
    assert info.crs == "EPSG:32618" and info.epsg == 32618
    assert info.transform == tuple(UTM_TRANSFORM)[:6] and info.res == (10.0, 10.0)
    assert info.nodata == 0.0 and info.descriptions == ["B2", "B3", "B4", "B8"]


def test_open_geographic_and_custom_crs(tmp_path: Path) -> None:
    info = open_raster(make_raster(tmp_path / "g.tif", crs=GEO_CRS, transform=GEO_TRANSFORM))
    assert info.crs == "EPSG:4326" and info.epsg == 4326
    laea = "+proj=laea +lat_0=37 +lon_0=-75 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    custom = open_raster(make_raster(tmp_path / "c.tif", crs=laea))
    assert custom.epsg is None and custom.crs.startswith("PROJCS")
    assert open_raster(make_raster(tmp_path / "n.tif", crs=None)).crs == ""


def _corrupt(path: str) -> str:
    with rasterio.open(path) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
        size = int(ds.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1))
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * size)
    return path


def test_bad_inputs_raise_input_error(tmp_path: Path) -> None:
    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a raster\n")
    good = make_raster(tmp_path / "good.tif", 64, 64)
    (tmp_path / "truncated.tif").write_bytes(Path(good).read_bytes()[: os.path.getsize(good) // 2])
    cases = {
        tmp_path / "missing.tif": "not found",
        tmp_path / "empty.tif": "Not a readable raster",
        tmp_path / "notes.txt": "Not a readable raster",
        _corrupt(make_raster(tmp_path / "bad.tif", 64, 64)): "corrupt",
        tmp_path / "truncated.tif": "corrupt",
    }
    for path, words in cases.items():
        with pytest.raises(InputError, match=words) as err:
            open_raster(path)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "count,descriptions,name,bands",
    [
        (13, None, "sentinel2", (4, 3, 2)),
        (12, None, "sentinel2", (4, 3, 2)),
        (11, None, "landsat8", (4, 3, 2)),
        (8, None, "worldview", (5, 3, 2)),
        (4, None, "naip", (1, 2, 3)),
        (4, ["B2 (blue)", "B3 (green)", "B4 (red)", "B8 (NIR)"], "described", (3, 2, 1)),
        (8, ["Coastal", "Blue", "Green", "Yellow", "Red", "Red edge", "NIR1", "NIR2"], "described", (5, 3, 2)),
        (3, None, "rgb", (1, 2, 3)),
        (5, None, "first3", (1, 2, 3)),
        (2, None, "grey", (1, 1, 1)),
        (1, None, "grey", (1, 1, 1)),
    ],
)
def test_detect_profile(tmp_path: Path, count: int, descriptions: list[str], name: str, bands: tuple) -> None:
    info = open_raster(make_raster(tmp_path / "p.tif", 32, 32, count, "uint16", descriptions=descriptions))
    profile = detect_profile(info)
    assert (profile.name, profile.rgb_bands, profile.scale) == (name, bands, "percentile")
    assert profile.detected_from == ("descriptions" if descriptions else "band count")


def test_profile_override(tmp_path: Path) -> None:
    info = open_raster(make_raster(tmp_path / "p.tif", 32, 32, 4))
    assert detect_profile(info, "bgrn").rgb_bands == (3, 2, 1)
    assert detect_profile(info, rgb_bands=(4, 1, 2)).detected_from == "override"
    with pytest.raises(InputError, match="Unknown sensor 'modis'"):
        detect_profile(info, "modis")
    with pytest.raises(InputError, match="comes as 7 .*, 8 .*, 11 .* bands, but this raster has 4"):
        detect_profile(info, "landsat8")


def test_uint8_passes_through(tmp_path: Path) -> None:
    p = make_raster(tmp_path / "u8.tif", 50, 40, 3)
    profile = scene_profile(p)
    assert profile.scale == "uint8" and profile.ready
    rgb, valid = read_window(p, PixelWindow(5, 7, 20, 10), profile)
    with rasterio.open(p) as ds:
        raw = ds.read(window=((7, 17), (5, 25))).astype(np.float32)
    assert rgb.dtype == np.float32 and rgb.shape == (3, 10, 20) and valid.all()
    np.testing.assert_allclose(rgb, raw / 255.0, rtol=1e-6)


def test_stretch_is_per_scene(tmp_path: Path) -> None:
    p = make_raster(tmp_path / "u16.tif", 120, 100, 4, "uint16", nodata=0, nodata_box=(0, 0, 30, 20))
    info = open_raster(p)
    profile = detect_profile(info)
    assert not profile.ready
    with pytest.raises(ValueError, match="compute_stretch"):
        read_window(p, PixelWindow(0, 0, 8, 8), profile)
    profile = compute_stretch(p, profile, max_size=1024)  # overview == full scene here
    with rasterio.open(p) as ds:
        data = ds.read([1, 2, 3]).astype(np.float64)
    valid = ~np.all(data == 0, axis=0)
    expected = [np.percentile(b[valid], [2, 98]) for b in data]
    np.testing.assert_allclose(profile.low, [e[0] for e in expected], rtol=1e-5)
    np.testing.assert_allclose(profile.high, [e[1] for e in expected], rtol=1e-5)
    # the same pixel has the same value whatever window it is read in
    a, _ = read_window(p, PixelWindow(40, 30, 50, 50), profile)
    b, _ = read_window(p, PixelWindow(60, 50, 60, 50), profile)
    np.testing.assert_array_equal(a[:, 20:, 20:], b[:, :30, :30])
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.max() == 1.0
    json.dumps(Provenance(raster=p, band_profile=profile.to_dict()).band_profile)


def test_nodata_becomes_invalid(tmp_path: Path) -> None:
    p = make_raster(tmp_path / "nd.tif", 64, 48, 3, "uint16", nodata=0, nodata_box=(10, 5, 20, 10))
    profile = scene_profile(p)
    rgb, valid = read_window(p, PixelWindow(0, 0, 64, 48), profile)
    assert not valid[5:15, 10:30].any() and valid.sum() == 64 * 48 - 200
    assert (rgb[:, ~valid] == 0).all()


def test_internal_mask_band_and_averaged_overview(tmp_path: Path) -> None:
    p = make_raster(tmp_path / "m.tif", 64, 64, 3, "uint16")
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(p, "r+") as ds:
        keep = np.full((64, 64), 255, np.uint8)
        keep[:, :30] = 0  # west part masked out
        ds.write_mask(keep)
    profile = scene_profile(p)
    _, valid = read_window(p, PixelWindow(0, 0, 64, 64), profile)
    assert not valid[:, :30].any() and valid[:, 30:].all()
    _, small = read_overview(p, profile, max_size=8)  # 8 x 8 px blocks: only all-masked ones are invalid
    assert not small[:, :3].any() and small[:, 3:].all()
    with pytest.raises(InputError, match="the raster has 3 bands"):
        detect_profile(open_raster(p), rgb_bands=(1, 2, 4))


def test_float_nan_and_grey(tmp_path: Path) -> None:
    data = np.random.default_rng(3).random((1, 40, 40)).astype(np.float32)
    data[0, :4] = np.nan
    p = make_raster(tmp_path / "f.tif", 40, 40, 1, "float32", data=data)
    profile = scene_profile(p)
    assert profile.name == "grey"
    rgb, valid = read_window(p, PixelWindow(0, 0, 40, 40), profile)
    assert not valid[:4].any() and valid[4:].all()
    np.testing.assert_array_equal(rgb[0], rgb[1])
    np.testing.assert_array_equal(rgb[0], rgb[2])


def test_read_overview_is_bounded(tmp_path: Path) -> None:
    p = make_raster(tmp_path / "o.tif", 600, 300, 3)
    profile = scene_profile(p)
    rgb, valid = read_overview(p, profile, max_size=100)
    assert rgb.shape == (3, 50, 100) and valid.shape == (50, 100)
    part, _ = read_overview(p, profile, max_size=64, window=PixelWindow(100, 0, 200, 300))
    assert part.shape == (3, 64, 43)
    full, _ = read_overview(p, profile, max_size=4096)
    assert full.shape == (3, 300, 600)  # never upsampled


@pytest.mark.skipif(not DEMO.exists(), reason="demo scene not generated")
def test_demo_scene_is_rgbn_natural_colour() -> None:
    info = open_raster(DEMO)
    assert (info.count, info.dtype, info.crs) == (4, "uint16", "EPSG:32618")
    profile = scene_profile(DEMO)
    assert (profile.name, profile.rgb_bands, profile.detected_from) == ("described", (3, 2, 1), "descriptions")
    rgb, valid = read_overview(DEMO, profile, max_size=128)
    assert valid.all() and 0.1 < float(rgb.mean()) < 0.6 and rgb.min() == 0.0 and rgb.max() == 1.0


def test_a_spectral_profile_reads_reflectance_planes_beside_rgb(tmp_path) -> None:
    from core.raster import SPECTRAL_CHANNELS

    path = make_raster(tmp_path / "ms.tif", width=40, height=30, count=4, dtype="uint16", nodata=0,
                       nodata_box=(0, 0, 5, 5), descriptions=["B2 blue", "B3 green", "B4 red", "B8 NIR"], seed=2)
    info = open_raster(path)
    assert compute_stretch(path, detect_profile(info)).spectral is None  # off unless asked for
    profile = compute_stretch(path, detect_profile(info, spectral=True))
    window = PixelWindow(0, 0, 40, 30)
    image, valid = read_window(path, window, profile)
    rgb, _ = read_window(path, window, replace(profile, spectral=None))
    assert image.shape == (3 + SPECTRAL_CHANNELS, 30, 40) and np.array_equal(image[:3], rgb)
    with rasterio.open(path) as src:
        dn = src.read().astype(np.float32)
    assert np.allclose(image[3 + 3][valid], dn[3][valid] / 10000.0)  # NIR = DN / 10000
    assert np.allclose(image[3 + 2][valid], dn[2][valid] / 10000.0)  # red
    assert not image[3:9, ~valid].any() and not valid[:5, :5].any()  # nodata reads as 0
    assert np.all(image[3 + 6] == 1.0) and np.all(image[3 + 7] == 0.0)  # has NIR, no SWIR
    assert not image[3 + 4 : 3 + 6].any()  # the absent SWIR bands are 0

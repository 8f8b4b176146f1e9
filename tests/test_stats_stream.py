"""Statistics taken while the tiled writer writes blocks == statistics of the written mask read back (UTM, 4326)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy.ndimage import uniform_filter

from core.stats import BlockStats, SceneStats, compute_stats, stats_from_mask_file
from core.tiled import segment_raster
from tests.rasters import GEO_CRS, GEO_TRANSFORM, UTM_CRS, UTM_TRANSFORM, make_raster

CLASSES = ["background", "water", "field", "town"]


def _predict(batch: np.ndarray) -> np.ndarray:
    """A 3x3 box filter of the bands and a fourth score: 4 classes with smooth, several-pixel regions."""
    f = uniform_filter(batch, size=(1, 1, 3, 3), mode="constant")  # [B, 3, h, w]
    rest = 1.0 - f.mean(axis=1, keepdims=True) + 0.3 * f[:, :1] * f[:, 1:2]
    return np.concatenate([f, rest], axis=1).astype(np.float32)  # [B, 4, h, w]


def _assert_same(streamed: SceneStats, ref: SceneStats) -> None:
    """Areas equal up to float summation order; counts, centroids, positions and adjacency exactly."""
    assert streamed.total_area_m2 == pytest.approx(ref.total_area_m2, rel=1e-12)
    assert streamed.valid_area_m2 == pytest.approx(ref.valid_area_m2, rel=1e-12)
    assert streamed.background_area_m2 == pytest.approx(ref.background_area_m2, rel=1e-12, abs=1e-9)
    assert [s.name for s in streamed.classes] == [s.name for s in ref.classes] and len(ref.classes) >= 2
    for s, r in zip(streamed.classes, ref.classes):
        assert s.area_m2 == pytest.approx(r.area_m2, rel=1e-12) and s.fraction == pytest.approx(r.fraction, rel=1e-12)
        assert (s.count, s.centroid, s.position, s.adjacent_to) == (r.count, r.centroid, r.position, r.adjacent_to)
    assert streamed.adjacency == ref.adjacency and streamed.notes == ref.notes and streamed.shape == ref.shape


@pytest.mark.parametrize("crs,transform", [(UTM_CRS, UTM_TRANSFORM), (GEO_CRS, GEO_TRANSFORM)])
def test_streamed_sums_equal_second_pass(tmp_path: Path, crs: str, transform: Affine) -> None:
    """Several 256 px blocks, overlapping tiles, a nodata box in the source and an AOI mask cutting a corner."""
    width, height = 300, 270
    src = make_raster(tmp_path / "s.tif", width, height, 3, "uint16", crs=crs, transform=transform, nodata=0,
                      nodata_box=(0, 0, 40, 120), seed=5)
    keep = np.ones((height, width), bool)
    keep[200:, 250:] = False  # outside an AOI: nodata as well
    result = segment_raster(src, _predict, CLASSES, tmp_path / "m.tif", tile=64, overlap=16, batch_size=3, mask=keep)
    with rasterio.open(result.mask_path) as ds:
        mask, crs_read, tr = ds.read(1), ds.crs, ds.transform
    sums = result.sums
    assert sums is not None and sums.shape == (height, width) and result.tiles > 4
    np.testing.assert_array_equal(sums.counts, np.bincount(mask.ravel(), minlength=256))  # exact
    assert sums.counts[255] >= 40 * 120 + 70 * 50 and sums.counts[:4].sum() > 0
    rows, cols = np.nonzero(mask != 255)
    assert sums.box == (cols.min(), rows.min(), cols.max(), rows.max())
    for kw in ({}, {"min_object_px": 4, "min_object_m2": 500.0}):
        ref = compute_stats(mask, CLASSES, tr, crs_read, 255, **kw)
        streamed = compute_stats(mask, CLASSES, tr, crs_read, 255, sums=sums, **kw)
        _assert_same(streamed, ref)
    from_file = stats_from_mask_file(result.mask_path, CLASSES, nodata=255, sums=sums)
    _assert_same(from_file, compute_stats(mask, CLASSES, tr, crs_read, 255))
    assert result.timings["stats"] >= 0.0


def test_blocks_in_any_order_rotated_geographic() -> None:
    """A rotated lat/lon grid (areas per pixel, made per block), blocks added out of order, nodata scattered."""
    rng = np.random.default_rng(3)
    mask = rng.integers(0, 4, (70, 90)).astype(np.uint8)
    mask[rng.random(mask.shape) < 0.05] = 255
    turned = Affine(0.0001, 0.00003, -75.7, 0.00002, -0.0001, 37.7)
    acc = BlockStats(turned, "EPSG:4326", 70, 90, 255)
    blocks = [(r, c) for r in range(0, 70, 32) for c in range(0, 90, 32)]
    for r, c in blocks[::-1]:
        acc.add(r, c, mask[r:r + 32, c:c + 32])
    _assert_same(compute_stats(mask, CLASSES, turned, "EPSG:4326", sums=acc.sums()),
                 compute_stats(mask, CLASSES, turned, "EPSG:4326"))


def test_missing_blocks_are_an_error() -> None:
    acc = BlockStats(Affine(10.0, 0, 500_000.0, 0, -10.0, 4_000_000.0), UTM_CRS, 64, 64, 255)
    acc.add(0, 0, np.zeros((32, 64), np.uint8))
    with pytest.raises(RuntimeError, match="2048 of 4096"):
        acc.sums()


def test_decimated_read_keeps_full_resolution_areas(tmp_path: Path) -> None:
    """Above ``max_pixels`` objects come from a decimated read, but areas and centroids from the full sums."""
    rng = np.random.default_rng(2)
    mask = np.zeros((200, 200), np.uint8)
    mask[:, 101:] = 1
    mask[50:153, 20:77] = 2
    mask[rng.random(mask.shape) < 0.02] = 255
    transform = Affine(10.0, 0, 500_000.0, 0, -10.0, 4_000_000.0)
    path = tmp_path / "m.tif"
    with rasterio.open(path, "w", driver="GTiff", width=200, height=200, count=1, dtype="uint8", crs=UTM_CRS,
                       transform=transform, nodata=255) as dst:
        dst.write(mask, 1)
    acc = BlockStats(transform, UTM_CRS, 200, 200, 255)
    acc.add(0, 0, mask)
    full = compute_stats(mask, CLASSES, transform, UTM_CRS)
    small = stats_from_mask_file(path, CLASSES, max_pixels=2_500, sums=acc.sums())
    assert small.decimation == 4 and any("objects and adjacency decimated" in n for n in small.notes)
    assert small.valid_area_m2 == pytest.approx(full.valid_area_m2, rel=1e-12)
    for s, r in zip(small.classes, full.classes):
        assert (s.name, s.centroid) == (r.name, r.centroid) and s.area_m2 == pytest.approx(r.area_m2, rel=1e-12)
    assert small.gsd_m == pytest.approx(10.0, rel=0.01)

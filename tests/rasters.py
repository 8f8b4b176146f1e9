"""Fixture rasters for tests: small seeded GeoTIFFs with a real CRS (UTM 18N or WGS 84)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np
import rasterio
from affine import Affine
from scipy.ndimage import gaussian_filter

# Sentinel-2 tile origin on the US Atlantic coast (the demo scene), 10 m pixels.
UTM_CRS = "EPSG:32618"
UTM_TRANSFORM = Affine(10.0, 0.0, 435730.0, 0.0, -10.0, 4179460.0)
# The same area in geographic coordinates, about 10 m pixels.
GEO_CRS = "EPSG:4326"
GEO_TRANSFORM = Affine(0.0001, 0.0, -75.73, 0.0, -0.0001, 37.76)

_RANGES = {"uint8": (0, 255), "uint16": (200, 4000), "int16": (-500, 4000), "float32": (0.0, 0.6)}


def scene_values(
    count: int, height: int, width: int, dtype: str = "uint8", seed: int = 0, smooth: float = 3.0
) -> np.ndarray:
    """Seeded, spatially smooth band values ``[count, height, width]`` in a range typical of ``dtype``."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((count, height, width)).astype(np.float32)
    field = np.stack([gaussian_filter(b, smooth) for b in noise]) if smooth > 0 else noise
    field = (field - field.min()) / max(float(np.ptp(field)), 1e-6)  # 0..1
    lo, hi = _RANGES.get(dtype, (0.0, 1.0))
    values = lo + field * (hi - lo)
    return values.astype(dtype) if np.dtype(dtype).kind == "f" else np.round(values).astype(dtype)


def make_raster(
    path: Union[str, os.PathLike[str]],
    width: int = 96,
    height: int = 80,
    count: int = 3,
    dtype: str = "uint8",
    crs: Optional[str] = UTM_CRS,
    transform: Affine = UTM_TRANSFORM,
    nodata: Optional[float] = None,
    nodata_box: Optional[tuple[int, int, int, int]] = None,
    descriptions: Optional[Sequence[str]] = None,
    seed: int = 0,
    data: Optional[np.ndarray] = None,
) -> str:
    """Write a small tiled GeoTIFF and return its path.

    Args:
        path: where to write.
        width: pixels.
        height: pixels.
        count: bands.
        dtype: numpy/GDAL type name.
        crs: CRS string, or None for a raster without georeferencing.
        transform: geotransform.
        nodata: nodata value written to the file's metadata.
        nodata_box: ``(col_off, row_off, width, height)`` set to ``nodata`` in every band.
        descriptions: band descriptions.
        seed: random seed of the values.
        data: ``[count, height, width]`` values to write instead of generated ones.
    """
    values = scene_values(count, height, width, dtype, seed) if data is None else data.astype(dtype)
    if nodata_box is not None:
        c, r, w, h = nodata_box
        values[:, r : r + h, c : c + w] = nodata
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": count, "dtype": dtype,
        "crs": crs, "transform": transform, "nodata": nodata,
    }  # fmt: skip
    if width >= 16 and height >= 16:
        profile.update(tiled=True, blockxsize=16 * max(1, min(width, height, 256) // 16), compress="deflate")
        profile["blockysize"] = profile["blockxsize"]
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values)
        for i, text in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, text)
    return os.fspath(path)

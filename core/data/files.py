"""Writing the benchmark's rasters: GeoTIFFs with CRS + transform (deflate, no timestamps)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

import numpy as np


def write_geotiff(
    path: Union[str, Path],
    array: np.ndarray,
    crs: str,
    transform: Sequence[float],
    nodata: Optional[float] = None,
) -> Path:
    """Write [H, W] or [C, H, W] ``array`` as a tiled-off, deflate-compressed GeoTIFF.

    Args:
        transform: (a, b, c, d, e, f) in rasterio order: x = a*col + b*row + c.
    """
    import rasterio
    from affine import Affine

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = array[None] if array.ndim == 2 else array
    profile = dict(
        driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype=data.dtype.name,
        crs=crs, transform=Affine(*transform[:6]), compress="deflate", predictor=2 if data.dtype != np.uint8 else 1,
    )
    if data.shape[0] == 3 and data.dtype == np.uint8:
        profile["photometric"] = "RGB"
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def read_geo(path: Union[str, Path]) -> tuple[str, tuple[float, ...]]:
    """(CRS as 'EPSG:xxxx' or WKT, transform as 6 floats) of a raster."""
    import rasterio

    with rasterio.open(Path(path)) as src:
        crs = src.crs.to_string() if src.crs else ""
        return crs, tuple(float(v) for v in tuple(src.transform)[:6])

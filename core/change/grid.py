"""The second date on the first date's grid: warped VRTs that GDAL reads window by window, never whole."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

from core.errors import InputError

PathLike = Union[str, "os.PathLike[str]"]
Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS, geotransform (a, b, c, d, e, f) and size in pixels."""

    crs: str
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int

    @classmethod
    def of(cls, path: PathLike) -> Grid:
        """The grid of a raster file."""
        import rasterio

        with rasterio.open(os.fspath(path)) as ds:
            return cls(_crs_text(ds.crs), tuple(float(v) for v in ds.transform[:6]),  # type: ignore[arg-type]
                       ds.width, ds.height)

    @property
    def bounds(self) -> Bounds:
        """(xmin, ymin, xmax, ymax) in the grid's CRS (the envelope of its four corners)."""
        from core.geo import pixel_box_to_crs

        return pixel_box_to_crs((0, 0, self.width, self.height), self.transform)

    @property
    def pixel_m(self) -> float:
        """The mean ground pixel size in metres (geodesic on geographic CRSs)."""
        return pixel_m(self.transform, self.crs, self.height, self.width)

    def moved(self, pixels: int) -> Grid:
        """The same grid moved by a whole number of its pixels along both axes (no resampling: pixels match)."""
        from affine import Affine

        t = Affine(*self.transform) * Affine.translation(pixels, pixels)
        return Grid(self.crs, tuple(t)[:6], self.width, self.height)  # type: ignore[arg-type]


def _crs_text(crs: Any) -> str:
    if crs is None:
        return ""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def pixel_m(transform: Any, crs: Any, height: int, width: int) -> float:
    """The mean ground pixel size in metres of a grid (square root of the mean pixel area)."""
    from core.stats import pixel_areas

    return float(math.sqrt(float(np.mean(pixel_areas(transform, crs, height, width)))))


def raster_pixel_m(path: PathLike) -> float:
    """The mean ground pixel size in metres of a raster file."""
    g = Grid.of(path)
    return g.pixel_m


def overlap_bounds(before: PathLike, after: PathLike) -> Optional[Bounds]:
    """The envelope, in the first raster's CRS, of where the two rasters overlap; None when they do not.

    The second raster's bounds are reprojected with densified edges, so the envelope may be a little larger
    than the true overlap; pixels outside the second raster are nodata once it is read onto the first's grid.

    Raises:
        InputError: a raster without a CRS (the second could not be placed on the first).
    """
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(os.fspath(before)) as a, rasterio.open(os.fspath(after)) as b:
        for ds, name in ((a, before), (b, after)):
            if ds.crs is None:
                raise InputError(f"The raster {os.fspath(name)} has no CRS: both dates must be georeferenced to be "
                                 "compared.")
        ab = Grid.of(before).bounds
        bb = tuple(b.bounds)
        if a.crs != b.crs:
            bb = transform_bounds(b.crs, a.crs, *bb, densify_pts=21)
    box = (max(ab[0], bb[0]), max(ab[1], bb[1]), min(ab[2], bb[2]), min(ab[3], bb[3]))
    return box if box[0] < box[2] and box[1] < box[3] else None


def resampling_for(source_m: float, target_m: float) -> str:
    """'average' when the source pixels are clearly finer than the target's (no aliasing), else 'bilinear'."""
    return "average" if source_m * 1.5 < target_m else "bilinear"


def warp_to_grid(src: PathLike, grid: Grid, out: PathLike, resampling: str = "bilinear") -> str:
    """Write ``out`` (a .vrt) that reads ``src`` reprojected onto ``grid`` on the fly; returns its path.

    Nothing is resampled now: GDAL warps only the windows that are read. Pixels outside ``src`` are nodata
    (its nodata value, else its alpha band, else an alpha band added last: band numbers stay those of ``src``).
    """
    import rasterio
    import rasterio.shutil
    from affine import Affine
    from rasterio.enums import ColorInterp, Resampling
    from rasterio.vrt import WarpedVRT

    with rasterio.open(os.fspath(src)) as ds:
        kw: dict[str, Any] = dict(crs=grid.crs or None, transform=Affine(*grid.transform), width=grid.width,
                                  height=grid.height, resampling=Resampling[resampling])
        if ds.nodata is not None:
            kw.update(src_nodata=ds.nodata, nodata=ds.nodata)
        elif ColorInterp.alpha not in ds.colorinterp:  # a source alpha band is carried as it is
            kw.update(add_alpha=True)
        with WarpedVRT(ds, **kw) as vrt:
            rasterio.shutil.copy(vrt, os.fspath(out), driver="VRT")
    return os.fspath(out)


def same_grid(a: PathLike, b: PathLike) -> bool:
    """True when two rasters share CRS, transform and size."""
    return Grid.of(a) == Grid.of(b)

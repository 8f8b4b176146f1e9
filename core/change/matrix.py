"""From-to areas of two class masks on one grid, read block by block, and which changes beat the noise floor."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from core.stats import pixel_areas

PathLike = Union[str, "os.PathLike[str]"]
NODATA = 255
BLOCK_PIXELS = 1 << 21  # rows are read in blocks of about this many pixels
NOISE_FACTOR = 2.0  # a from-to change is reported when it is larger than this many times its noise floor
MIN_PIXELS = 4  # and covers at least this many pixels (a smaller patch is a speck, as objects are counted)
NOISE_Z = 2.0  # the noise count's upper bound: this many standard deviations above it (Poisson, about 98%)


def blocks(height: int, width: int) -> Iterator[tuple[int, int]]:
    """(row_start, row_stop) blocks of about :data:`BLOCK_PIXELS` pixels."""
    step = max(1, BLOCK_PIXELS // max(width, 1))
    for r0 in range(0, height, step):
        yield r0, min(height, r0 + step)


def transitions(first: PathLike, second: PathLike, k: int) -> np.ndarray:
    """Area in m2 [k, k] of pixels of class i in ``first`` and class j in ``second`` (both valid).

    The two masks must share one grid; they are read in row blocks, so memory does not grow with the scene.

    Raises:
        ValueError: the masks' grids differ.
    """
    import rasterio
    from rasterio.windows import Window

    out = np.zeros(k * k, dtype=np.float64)
    with rasterio.open(os.fspath(first)) as a, rasterio.open(os.fspath(second)) as b:
        if (a.width, a.height, a.transform, a.crs) != (b.width, b.height, b.transform, b.crs):
            raise ValueError(f"{first} and {second} are not on one grid")
        area = pixel_areas(a.transform, a.crs, a.height, a.width)
        for r0, r1 in blocks(a.height, a.width):
            win = Window(0, r0, a.width, r1 - r0)
            x, y = a.read(1, window=win), b.read(1, window=win)
            valid = (x < k) & (y < k)
            weights = np.broadcast_to(area[r0:r1], x.shape)[valid]
            out += np.bincount(x[valid].astype(np.int64) * k + y[valid], weights=weights, minlength=k * k)
    return out.reshape(k, k)


def valid_area(mask: PathLike, k: int) -> float:
    """Ground area in m2 of the pixels of a class mask that hold a class (not nodata), read in row blocks."""
    import rasterio
    from rasterio.windows import Window

    total = 0.0
    with rasterio.open(os.fspath(mask)) as ds:
        area = pixel_areas(ds.transform, ds.crs, ds.height, ds.width)
        for r0, r1 in blocks(ds.height, ds.width):
            x = ds.read(1, window=Window(0, r0, ds.width, r1 - r0))
            total += float(np.broadcast_to(area[r0:r1], x.shape)[x < k].sum())
    return total


def mean_pixel_m2(mask: PathLike) -> float:
    """The mean ground area of one pixel of a raster, in m2."""
    import rasterio

    with rasterio.open(os.fspath(mask)) as ds:
        return float(np.mean(pixel_areas(ds.transform, ds.crs, ds.height, ds.width)))


@dataclass
class Transition:
    """One from-to pair of classes over the compared area."""

    from_class: str
    to_class: str
    area_m2: float
    share: float  # of the compared (overlap) area, 0..1
    noise_m2: float  # what the segmentation's own disagreement on unchanged ground predicts for this pair
    reported: bool  # a change (from != to) larger than NOISE_FACTOR times its noise and MIN_PIXELS pixels

    @property
    def area_ha(self) -> float:
        return self.area_m2 / 1e4

    @property
    def changed(self) -> bool:
        return self.from_class != self.to_class

    def to_dict(self) -> dict[str, Any]:
        """The JSON row: ``from``, ``to``, ``area_m2``, ``area_ha``, ``share``, ``noise_m2``, ``reported``."""
        return {"from": self.from_class, "to": self.to_class, "area_m2": round(self.area_m2, 2),
                "area_ha": round(self.area_ha, 4), "share": round(self.share, 6), "noise_m2": round(self.noise_m2, 2),
                "reported": self.reported}


def reported_pairs(areas: np.ndarray, noise_rate: np.ndarray, pixel_m2: float,
                   factor: float = NOISE_FACTOR) -> np.ndarray:
    """Bool [k, k]: off-diagonal pairs whose area beats ``factor`` x their noise floor and :data:`MIN_PIXELS`.

    ``noise_rate`` [k, k] is each pair's share of unchanged ground in the noise test; the floor of a pair is
    that share of the compared area, counted in pixels ``n`` and raised to its upper bound
    ``n + Z sqrt(n) + Z^2 / 2`` (:data:`NOISE_Z`): one noise map measures a rare pair's disagreement from a few
    pixels, and a few pixels more on the second date are no evidence of change.
    """
    total = float(areas.sum())
    noise_px = noise_rate * total / pixel_m2
    bound_m2 = (noise_px + NOISE_Z * np.sqrt(noise_px) + NOISE_Z**2 / 2) * pixel_m2
    out = (areas >= factor * bound_m2 * (1 - 1e-6)) & (areas >= MIN_PIXELS * pixel_m2 * (1 - 1e-6))
    np.fill_diagonal(out, False)
    return out


def transition_rows(classes: Sequence[str], areas: np.ndarray, noise_rate: np.ndarray,
                    reported: np.ndarray) -> list[Transition]:
    """Every from-to pair (unchanged pairs included), in class order."""
    total = float(areas.sum()) or 1.0
    k = len(classes)
    return [Transition(classes[i], classes[j], float(areas[i, j]), float(areas[i, j]) / total,
                       float(noise_rate[i, j]) * float(areas.sum()), bool(reported[i, j]))
            for i in range(k) for j in range(k)]

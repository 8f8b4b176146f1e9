"""A class-index mask with its ground geometry: objects (connected components), positions and distances."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from core.errors import InputError
from core.landcover.regions import Region
from core.stats import _row_factors, _weighted_bincount

NODATA = 255
MAX_PIXELS = 16_000_000  # masks above this are read decimated (nearest), as core.stats measures them
MIN_PIXELS = 4  # components smaller than this many pixels are segmentation noise, not objects
_GRID = (("north-west", "north", "north-east"), ("west", "centre", "east"), ("south-west", "south", "south-east"))


@dataclass
class MaskGrid:
    """A class-index mask as read, with its georeferencing and per-pixel ground areas.

    ``pixel_area`` is [H, 1] (north-up grids: one area per row) or [H, W], in m2, from
    :func:`core.stats._row_factors`: geodesic on geographic CRSs, scale-corrected on projected ones.
    """

    mask: np.ndarray  # uint8 [H, W] class indices; ``nodata`` outside the analysed area
    transform: tuple[float, float, float, float, float, float]  # a, b, c, d, e, f
    crs: Any  # rasterio/pyproj CRS or None
    nodata: int = NODATA
    decimation: int = 1  # > 1: each pixel stands for decimation**2 source pixels
    notes: list[str] = field(default_factory=list)
    pixel_area: np.ndarray = field(init=False, repr=False)
    envelope: tuple[float, float, float, float] = field(init=False)  # valid pixels: c1, r1, c2, r2 (pixel edges)

    def __post_init__(self) -> None:
        self.mask = np.asarray(self.mask)
        if self.mask.ndim != 2 or self.mask.size == 0:
            raise InputError(f"The mask must be a non-empty 2-D array, got shape {self.mask.shape}.")
        self.mask = self.mask.astype(np.uint8, copy=False)
        self.transform = tuple(float(v) for v in tuple(self.transform)[:6])  # type: ignore[assignment]
        h, w = self.mask.shape
        self.pixel_area, _, _, notes = _row_factors(self.transform, self.crs, h, w)
        self.notes = list(self.notes) + notes
        valid = self.mask != self.nodata
        rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
        self.envelope = ((float(cols[0]), float(rows[0]), cols[-1] + 1.0, rows[-1] + 1.0) if len(rows)
                         else (0.0, 0.0, float(w), float(h)))

    @property
    def gsd_m(self) -> float:
        """One ground pixel size in metres: the square root of the mean pixel area."""
        return float(math.sqrt(float(np.mean(self.pixel_area))))

    def fractions(self, col: float, row: float) -> tuple[float, float]:
        """Where pixel (col, row) lies in the valid envelope: (0..1 west->east, 0..1 north->south)."""
        c1, r1, c2, r2 = self.envelope
        return ((col - c1) / (c2 - c1) if c2 > c1 else 0.5, (row - r1) / (r2 - r1) if r2 > r1 else 0.5)

    def position_of(self, col: float, row: float) -> str:
        """The 3x3 position word of pixel (col, row) in the valid envelope, as core.stats words it."""
        fx, fy = self.fractions(col, row)
        return _GRID[min(max(int(fy * 3), 0), 2)][min(max(int(fx * 3), 0), 2)]


@dataclass
class Component:
    """One connected component (8-connectivity) of a class."""

    id: int  # its value in :attr:`ClassObjects.labels`
    label: str  # the class
    area_m2: float  # sum of its pixels' ground areas
    area_px: int
    box: tuple[int, int, int, int]  # pixel c1, r1, c2, r2 (exclusive ends)
    centroid: tuple[float, float]  # pixel (col, row) of the centre of mass, pixel edges at integers
    position: str  # 3x3 cell of the centroid within the valid envelope


@dataclass
class ClassObjects:
    """The objects of one class in a mask."""

    cls: str
    labels: np.ndarray  # int32 [H, W]: component id, 0 elsewhere
    objects: list[Component]  # components of at least ``min_area_m2``, largest first
    min_area_m2: float
    dropped: int  # components below ``min_area_m2``


def read_mask(path: Union[str, os.PathLike], max_pixels: int = MAX_PIXELS) -> MaskGrid:
    """Read a class-index mask GeoTIFF (band 1), decimated (nearest) above ``max_pixels`` like core.stats.

    A decimated read scales the transform, so areas stay in ground units; the grid's ``notes`` say so,
    and objects and outlines are then those of the coarser grid.
    """
    from core.raster import read_class_mask

    got = read_class_mask(path, max_pixels)
    factor, size = got.factor, got.size
    nodata = got.nodata if got.nodata is not None else NODATA
    notes = [f"objects found on the mask decimated {factor}x (nearest) from {size[0]}x{size[1]} pixels: "
             "small objects may be missed and outlines are coarser"] if factor > 1 else []
    return MaskGrid(got.mask, got.transform, got.crs, nodata, factor, notes)



def default_min_area_m2(grid: MaskGrid, min_object_m2: float = 0.0) -> float:
    """The smallest object kept: ``max(min_object_m2, 4 pixels)`` in m2.

    A component of fewer than :data:`MIN_PIXELS` pixels is a speck the segmentation left (one or two
    pixels off), not an object a user can see or outline; ``min_object_m2`` (EngineConfig) can raise it.
    """
    return max(float(min_object_m2), MIN_PIXELS * float(np.mean(grid.pixel_area)))


def find_objects(grid: MaskGrid, classes: Sequence[str], cls: str,
                 min_area_m2: Optional[float] = None) -> ClassObjects:
    """Connected components (8-connectivity) of ``cls`` with their areas, boxes, centroids and positions.

    Args:
        grid: the mask.
        classes: class names by index in the mask.
        cls: the class whose objects to find (none when it is not in ``classes``).
        min_area_m2: components smaller than this are dropped (default :func:`default_min_area_m2`).
    """
    from scipy import ndimage

    floor = default_min_area_m2(grid) if min_area_m2 is None else float(min_area_m2)
    if cls not in classes:
        return ClassObjects(cls, np.zeros(grid.mask.shape, np.int32), [], floor, 0)
    sel = grid.mask == classes.index(cls)
    labels, n = ndimage.label(sel, structure=np.ones((3, 3), dtype=bool))
    labels = labels.astype(np.int32, copy=False)
    if n == 0:
        return ClassObjects(cls, labels, [], floor, 0)
    areas = _weighted_bincount(labels, grid.pixel_area, n + 1)
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    keep = [i for i in range(1, n + 1) if areas[i] >= floor]
    centres = ndimage.center_of_mass(sel, labels, keep) if keep else []
    slices = ndimage.find_objects(labels)
    objects = []
    for i, (row, col) in zip(keep, centres):
        sl = slices[i - 1]
        c, r = float(col) + 0.5, float(row) + 0.5  # pixel centres at .5
        box = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
        objects.append(Component(i, cls, float(areas[i]), int(counts[i]), box, (c, r), grid.position_of(c, r)))
    objects.sort(key=lambda o: (-o.area_m2, o.id))
    return ClassObjects(cls, labels, objects, floor, n - len(keep))


def object_pixels(found: ClassObjects, obj: Component) -> np.ndarray:
    """Bool [h, w] of the object's pixels within its box."""
    c1, r1, c2, r2 = obj.box
    return found.labels[r1:r2, c1:c2] == obj.id


def near_limit_m(grid: MaskGrid, distance: str) -> float:
    """What "next to" (max(5 m, 2 px)) or "near" (max(20 m, 10 px)) means on this grid, in metres.

    The same thresholds as the benchmark's (core.data.measure) and the question engine's (core.query).
    """
    gsd = grid.gsd_m
    return max(20.0, 10.0 * gsd) if distance == "near" else max(5.0, 2.0 * gsd)


def distance_to_class(grid: MaskGrid, classes: Sequence[str], cls: str) -> np.ndarray:
    """Distance in metres from every pixel to the nearest pixel of ``cls`` (inf where the class is absent).

    Euclidean in pixels times one ground pixel size (:attr:`MaskGrid.gsd_m`).
    """
    from scipy import ndimage

    target = grid.mask == classes.index(cls) if cls in classes else np.zeros(grid.mask.shape, bool)
    if not target.any():
        return np.full(grid.mask.shape, np.inf, dtype=np.float32)
    return (ndimage.distance_transform_edt(~target) * grid.gsd_m).astype(np.float32)


def in_region(grid: MaskGrid, obj: Component, reg: Optional[Region]) -> bool:
    """Whether the object's centroid lies in the region of the valid envelope (None: the whole area).

    This is how the benchmark places objects: "buildings in the north-west" are those whose centre of mass
    lies in that ninth."""
    if reg is None or reg.whole:
        return True
    fx, fy = grid.fractions(*obj.centroid)
    return (reg.cols[0] <= fx < reg.cols[1] + (reg.cols[1] == 1.0)
            and reg.rows[0] <= fy < reg.rows[1] + (reg.rows[1] == 1.0))

"""The measured facts of one area that queries run over: the land-cover mask, its statistics, objects, distances."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from core.query.types import Region
from core.stats import SceneStats, _row_factors, _weighted_bincount, compute_stats

NODATA = 255
PRESENT_MIN_FRACTION = 0.002  # a class is present from 0.2% of the area (as the benchmark decides presence)
_GRID = (("north-west", "north", "north-east"), ("west", "centre", "east"), ("south-west", "south", "south-east"))


@dataclass
class MaskObject:
    """One connected component (8-connectivity) of a class in the mask."""

    label: str
    id: int  # its value in the class's component map
    area_m2: float
    centroid: tuple[float, float]  # pixel (col, row) of the centre of mass
    box: tuple[int, int, int, int]  # pixel c1, r1, c2, r2 (exclusive ends)
    position: str  # 3x3 cell of the centroid within the valid envelope


class AreaFacts:
    """A class-index mask with its transform and CRS, measured once and queried many times.

    Everything is lazy and cached: per-class component maps, distance maps in metres, region statistics.
    Distances use one ground pixel size (the square root of the mean pixel area), which is exact on
    projected grids and within the pixel's own distortion on geographic ones.
    """

    def __init__(self, mask: np.ndarray, transform: Sequence[float], crs: Any, classes: Sequence[str],
                 nodata: int = NODATA, min_object_m2: float = 0.0, stats: Optional[SceneStats] = None) -> None:
        self.mask = np.asarray(mask, dtype=np.uint8)
        self.transform = tuple(float(v) for v in tuple(transform)[:6])
        self.crs = crs
        self.classes = list(classes)
        self.nodata = nodata
        self.min_object_m2 = float(min_object_m2)
        self.stats = stats or compute_stats(self.mask, self.classes, self.transform, crs, nodata, min_object_m2)
        h, w = self.mask.shape
        area, _, _, _ = _row_factors(self.transform, crs, h, w)
        self.pixel_area = np.broadcast_to(area, (h, w)) if area.shape[1] == 1 else area  # m2 per pixel
        self.gsd_m = float(math.sqrt(float(np.mean(area))))
        valid = self.mask != nodata
        rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
        self.envelope = ((float(cols[0]), float(rows[0]), cols[-1] + 1.0, rows[-1] + 1.0) if len(rows)
                         else (0.0, 0.0, float(w), float(h)))
        self._objects: dict[str, list[MaskObject]] = {}
        self._labels: dict[str, np.ndarray] = {}
        self._edt: dict[str, np.ndarray] = {}
        self._regions: dict[str, SceneStats] = {}

    @classmethod
    def from_file(cls, path: str | os.PathLike, classes: Sequence[str], min_object_m2: float = 0.0,
                  stats: Optional[SceneStats] = None, max_pixels: int = 16_000_000) -> AreaFacts:
        """Facts of a class-mask GeoTIFF, read decimated (nearest) above ``max_pixels`` as the statistics are."""
        import rasterio
        from rasterio.enums import Resampling

        with rasterio.open(os.fspath(path)) as src:
            factor = max(1, math.ceil(math.sqrt(src.width * src.height / max_pixels)))
            out_h, out_w = math.ceil(src.height / factor), math.ceil(src.width / factor)
            mask = src.read(1, out_shape=(out_h, out_w), resampling=Resampling.nearest)
            transform = src.transform * src.transform.scale(src.width / out_w, src.height / out_h)
            nodata = int(src.nodata) if src.nodata is not None else NODATA
            crs = src.crs
        return cls(mask, tuple(transform)[:6], crs, classes, nodata, min_object_m2, stats)

    # ----- classes ---------------------------------------------------------------------------------
    def index(self, cls: str) -> int:
        return self.classes.index(cls)

    def fraction(self, cls: str, region: Optional[Region] = None) -> float:
        """Share of the valid area (0..1) covered by ``cls``, in the whole area or a region of it."""
        s = self.region_stats(region)
        return next((c.fraction for c in s.classes if c.name == cls), 0.0)

    def area_m2(self, cls: str, region: Optional[Region] = None) -> float:
        s = self.region_stats(region)
        return next((c.area_m2 for c in s.classes if c.name == cls), 0.0)

    def present(self, cls: str, region: Optional[Region] = None) -> bool:
        return self.fraction(cls, region) >= PRESENT_MIN_FRACTION

    # ----- regions ---------------------------------------------------------------------------------
    def region_window(self, region: Region) -> tuple[int, int, int, int]:
        """Pixel window (r0, r1, c0, c1) of a region of the valid envelope."""
        c1, r1, c2, r2 = self.envelope
        rows = [int(round(r1 + f * (r2 - r1))) for f in region.rows]
        cols = [int(round(c1 + f * (c2 - c1))) for f in region.cols]
        return rows[0], max(rows[1], rows[0] + 1), cols[0], max(cols[1], cols[0] + 1)

    def region_stats(self, region: Optional[Region]) -> SceneStats:
        """Statistics of the whole area (None) or of one region, measured like the whole."""
        if region is None or region.whole:
            return self.stats
        if region.name not in self._regions:
            r0, r1, c0, c1 = self.region_window(region)
            a, b, c, d, e, f = self.transform
            shifted = (a, b, c + a * c0 + b * r0, d, e, f + d * c0 + e * r0)
            self._regions[region.name] = compute_stats(self.mask[r0:r1, c0:c1], self.classes, shifted, self.crs,
                                                       self.nodata, self.min_object_m2)
        return self._regions[region.name]

    def in_region(self, obj: MaskObject, region: Optional[Region]) -> bool:
        """Whether an object's centroid lies in the region (how the benchmark places objects)."""
        if region is None or region.whole:
            return True
        c1, r1, c2, r2 = self.envelope
        fx = (obj.centroid[0] - c1) / max(c2 - c1, 1e-9)
        fy = (obj.centroid[1] - r1) / max(r2 - r1, 1e-9)
        return region.cols[0] <= fx < region.cols[1] + (region.cols[1] == 1.0) and \
            region.rows[0] <= fy < region.rows[1] + (region.rows[1] == 1.0)

    def position_of(self, col: float, row: float) -> str:
        c1, r1, c2, r2 = self.envelope
        fx = (col - c1) / (c2 - c1) if c2 > c1 else 0.5
        fy = (row - r1) / (r2 - r1) if r2 > r1 else 0.5
        return _GRID[min(max(int(fy * 3), 0), 2)][min(max(int(fx * 3), 0), 2)]

    def share_in_cell(self, cls: str, position: str) -> float:
        """Share of the class's area that lies in the 3x3 cell named ``position``."""
        from core.query.regions import REGIONS

        total = self.area_m2(cls)
        return self.area_m2(cls, REGIONS[f"{position} ninth"]) / total if total > 0 else 0.0

    # ----- objects ---------------------------------------------------------------------------------
    def objects(self, cls: str) -> list[MaskObject]:
        """Connected components of ``cls`` of at least ``min_object_m2``, largest first."""
        if cls not in self._objects:
            from scipy import ndimage

            if cls not in self.classes:
                self._objects[cls] = []
                return []
            labels, n = ndimage.label(self.mask == self.index(cls), structure=np.ones((3, 3), dtype=bool))
            self._labels[cls] = labels
            areas = _weighted_bincount(labels, self.pixel_area, n + 1)
            out = []
            for i, sl in enumerate(ndimage.find_objects(labels), start=1):
                if sl is None or areas[i] < self.min_object_m2:
                    continue
                rr, cc = np.nonzero(labels[sl] == i)
                col, row = float(cc.mean() + sl[1].start + 0.5), float(rr.mean() + sl[0].start + 0.5)
                box = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
                out.append(MaskObject(cls, i, float(areas[i]), (col, row), box, self.position_of(col, row)))
            self._objects[cls] = sorted(out, key=lambda o: -o.area_m2)
        return self._objects[cls]

    def count(self, cls: str, region: Optional[Region] = None) -> int:
        return sum(self.in_region(o, region) for o in self.objects(cls))

    # ----- distances -------------------------------------------------------------------------------
    def distance_to(self, cls: str) -> np.ndarray:
        """Distance in metres from every pixel to the nearest pixel of ``cls`` (inf when absent)."""
        if cls not in self._edt:
            from scipy import ndimage

            target = self.mask == self.index(cls) if cls in self.classes else np.zeros(self.mask.shape, bool)
            if not target.any():
                self._edt[cls] = np.full(self.mask.shape, np.inf, dtype=np.float32)
            else:
                self._edt[cls] = (ndimage.distance_transform_edt(~target) * self.gsd_m).astype(np.float32)
        return self._edt[cls]

    def class_distance(self, a: str, b: str) -> float:
        """Smallest distance in metres between pixels of classes ``a`` and ``b`` (inf if either is absent)."""
        if a not in self.classes:
            return float("inf")
        sel = self.mask == self.index(a)
        return float(self.distance_to(b)[sel].min()) if sel.any() else float("inf")

    def object_distance(self, obj: MaskObject, cls: str) -> float:
        """Smallest distance in metres from an object's pixels to ``cls``."""
        self.objects(obj.label)
        c1, r1, c2, r2 = obj.box
        own = self._labels[obj.label][r1:r2, c1:c2] == obj.id
        return float(self.distance_to(cls)[r1:r2, c1:c2][own].min())

    def next_to_m(self) -> float:
        """What "next to" means: 5 m, or 2 pixels on coarse imagery (as the benchmark decides)."""
        return max(5.0, 2.0 * self.gsd_m)

    def near_m(self) -> float:
        """What "near" means: 20 m, or 10 pixels on coarse imagery."""
        return max(20.0, 10.0 * self.gsd_m)

    def water_types(self) -> list[tuple[str, MaskObject]]:
        """Each water object's kind (sea, river, lake, pond) by the benchmark's shape and size rule."""
        from scipy import ndimage

        from core.data.measure import water_type

        objs = self.objects("water") if "water" in self.classes else []
        if not objs:
            return []
        water = self.mask == self.index("water")
        edt = ndimage.distance_transform_edt(np.pad(water, 1))[1:-1, 1:-1]
        h, w = self.mask.shape
        out = []
        for o in objs:
            if o.area_m2 < max(25.0, 4 * self.gsd_m**2):  # specks are not water bodies (the benchmark's rule)
                continue
            c1, r1, c2, r2 = o.box
            own = self._labels["water"][r1:r2, c1:c2] == o.id
            width_m = 2.0 * float(edt[r1:r2, c1:c2][own].max()) * self.gsd_m
            edge = c1 == 0 or r1 == 0 or c2 == w or r2 == h
            out.append((water_type(o.area_m2, width_m, edge), o))
        return out

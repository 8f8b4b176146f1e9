"""Per-class areas (m2/ha, geodesic on geographic CRSs), object counts, positions and adjacency of a mask."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from core.errors import InputError
from core.geo import Transform, pixel_box_to_crs, pixel_to_crs
from core.results import ClassStat

SCALE_TOLERANCE = 0.01  # projected CRSs whose areal scale is within 1% of 1 (UTM...) keep exact grid areas
_CHUNK_PIXELS = 1 << 21  # rows are processed in blocks of about this many pixels (bounded temporaries)
_WORDS = (  # [south..north][west..east]
    ("south-west", "south", "south-east"),
    ("west", "centre", "east"),
    ("north-west", "north", "north-east"),
)


@dataclass
class Adjacency:
    """Two classes sharing a boundary (4-neighbour pixel edges)."""

    a: str
    b: str
    edges: int  # shared pixel edges
    length_m: float  # shared boundary length in metres


@dataclass
class SceneStats:
    """Statistics of one analysed area: what :func:`describe_stats` turns into text."""

    total_area_m2: float  # every pixel of the mask, nodata included
    valid_area_m2: float  # pixels that are not nodata
    classes: list[ClassStat]  # present, non-background classes, largest first
    adjacency: list[Adjacency]  # longest shared boundary first
    background_area_m2: float = 0.0
    crs: str = ""
    shape: tuple[int, int] = (0, 0)  # (height, width) of the mask that was measured
    decimation: int = 1  # > 1: a decimated read; each pixel stands for decimation**2 source pixels
    notes: list[str] = field(default_factory=list)

    @property
    def gsd_m(self) -> float:
        """The source raster's ground pixel size in metres (mean over the mask; nan when unknown)."""
        h, w = self.shape
        if h * w == 0 or self.total_area_m2 <= 0:
            return float("nan")
        return math.sqrt(self.total_area_m2 / (h * w)) / max(self.decimation, 1)


def _row_factors(
    transform: Transform, crs: Any, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Per-row pixel area [H,1] (or per-pixel [H,W]) in m2, and per-row edge lengths [H] in m.

    Returns (area, len_between_columns, len_between_rows, notes).
    """
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    det = abs(a * e - b * d)
    rows = np.arange(height, dtype=np.float64)
    ones = np.ones(height)
    notes: list[str] = []
    if crs is None:
        notes.append("the raster has no CRS: its map units are taken as metres, so areas may be wrong "
                     "(shares and counts are not)")
        return det * ones[:, None], math.hypot(b, e) * ones, math.hypot(a, d) * ones, notes
    from pyproj import CRS, Transformer

    crs = CRS.from_user_input(crs)
    if crs.is_geographic:
        geod = crs.get_geod()
        lat = np.radians(d * (width / 2) + e * (rows + 0.5) + f)  # row centre latitude
        w = 1.0 - geod.es * np.sin(lat) ** 2
        m_rad, n_rad = geod.a * (1 - geod.es) / w**1.5, geod.a / np.sqrt(w)  # meridian / prime vertical radii
        deg = math.pi / 180

        def length(dlon: float, dlat: float) -> np.ndarray:
            return np.hypot(dlon * deg * n_rad * np.cos(lat), dlat * deg * m_rad)

        if b == 0 and d == 0:  # north-up: cell area depends on the row only (geodesic polygon per row)
            lats = f + e * np.arange(height + 1)
            area = np.array([abs(geod.polygon_area_perimeter([c, c + a, c + a, c], [y0, y0, y1, y1])[0])
                             for y0, y1 in zip(lats[:-1], lats[1:])])[:, None]
        else:  # rotated: analytic M*N*cos(lat) at every pixel centre
            cols = np.arange(width) + 0.5
            lat2 = np.radians(d * cols[None, :] + e * (rows[:, None] + 0.5) + f)
            w2 = 1.0 - geod.es * np.sin(lat2) ** 2
            area = det * deg**2 * geod.a**2 * (1 - geod.es) * np.cos(lat2) / w2**2
        notes.append("geodesic areas on the CRS ellipsoid")
        return area, length(b, e), length(a, d), notes
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    area, len_c, len_r = det * unit**2 * ones, math.hypot(b, e) * unit * ones, math.hypot(a, d) * unit * ones
    try:  # ground area of the centre-column cell of each row (geodesic polygon on the CRS ellipsoid)
        c0 = float(width // 2)
        cols = np.array([c0, c0 + 1, c0 + 1, c0])[None, :].repeat(height, 0)  # [H, 4]
        x, y = pixel_to_crs(cols, rows[:, None] + np.array([0.0, 0.0, 1.0, 1.0]), transform)
        lon, lat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform(x, y)
        geod = crs.get_geod()
        ground = np.array([abs(geod.polygon_area_perimeter(lo, la)[0]) for lo, la in zip(lon, lat)])
        scale = area / ground  # areal scale of the projection along the centre column
    except Exception:  # no geodetic CRS or ellipsoid to measure on: keep grid areas
        scale = np.ones(height)
    if np.all(np.isfinite(scale)) and np.max(np.abs(scale - 1.0)) > SCALE_TOLERANCE:
        area, len_c, len_r = area / scale, len_c / np.sqrt(scale), len_r / np.sqrt(scale)
        notes.append("areas corrected for the projection's scale (geodesic, per row)")
    return area[:, None], len_c, len_r, notes


def pixel_areas(transform: Transform, crs: Any, height: int, width: int) -> np.ndarray:
    """Ground area of every pixel in m2, [H, 1] (north-up) or [H, W], as :func:`compute_stats` measures it
    (geodesic on geographic CRSs, scale-corrected on projected ones; map units as metres without a CRS)."""
    area, _, _, _ = _row_factors(tuple(transform)[:6], crs or None, height, width)
    return np.asarray(area, dtype=np.float64)


def _weighted_bincount(labels: np.ndarray, area: np.ndarray, minlength: int) -> np.ndarray:
    """Sum of pixel areas per label value, row block by row block."""
    out = np.zeros(minlength, dtype=np.float64)
    step = max(1, _CHUNK_PIXELS // max(labels.shape[1], 1))
    for r0 in range(0, labels.shape[0], step):
        sub = labels[r0:r0 + step]
        wts = np.broadcast_to(area[r0:r0 + step], sub.shape).ravel()
        got = np.bincount(sub.ravel(), weights=wts, minlength=minlength)
        out += got[:minlength]  # bincount is at least minlength long
    return out


def compute_stats(
    mask: np.ndarray,
    classes: Sequence[str],
    transform: Transform,
    crs: Any,
    nodata: Optional[int] = 255,
    min_object_m2: float = 0.0,
    background: Sequence[str] = ("background",),
    min_object_px: int = 0,
) -> SceneStats:
    """Measure a class-index mask in map units.

    Args:
        mask: [H, W] class indices (uint8); ``nodata`` marks pixels outside the analysed area.
        classes: class names by index; indices without a name are called ``class_<i>``.
        transform: the mask's affine transform (a, b, c, d, e, f); crs: its CRS (None: units are metres).
        min_object_m2: connected components (8-connectivity) smaller than this are not counted.
        min_object_px: nor those smaller than this many pixels of the mask's mean ground area (specks the
            segmentation leaves are not objects); the floor is ``max(min_object_m2, min_object_px * mean
            pixel area)``, the same as :func:`core.landcover.grid.default_min_area_m2`.
        background: class names measured as background: in ``background_area_m2``, not in the class list.
    """
    from scipy import ndimage

    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0:
        raise InputError(f"The mask must be a non-empty 2-D array, got shape {mask.shape}.")
    if mask.dtype != np.uint8:
        if mask.min() < 0 or mask.max() > 255:
            raise InputError("The mask holds values outside 0..255; it must be a uint8 class-index mask.")
        mask = mask.astype(np.uint8)
    height, width = mask.shape
    area, len_c, len_r, notes = _row_factors(transform, crs, height, width)
    names = [classes[i] if i < len(classes) else f"class_{i}" for i in range(256)]
    counts = np.zeros(256, dtype=np.int64)
    csum, rsum = np.zeros(256), np.zeros(256)
    step = max(1, _CHUNK_PIXELS // width)
    for r0 in range(0, height, step):
        sub = mask[r0:r0 + step].ravel()
        nrows = len(sub) // width
        counts += np.bincount(sub, minlength=256)
        csum += np.bincount(sub, weights=np.tile(np.arange(width) + 0.5, nrows), minlength=256)
        rsum += np.bincount(sub, weights=np.repeat(np.arange(r0, r0 + nrows) + 0.5, width), minlength=256)
    areas = _weighted_bincount(mask, area, 256)
    floor_m2 = max(float(min_object_m2), min_object_px * float(np.mean(area)))
    total = float(areas.sum())
    valid_ids = [i for i in range(256) if counts[i] > 0 and i != nodata]
    valid = float(sum(areas[i] for i in valid_ids))
    bg_names = {n.lower() for n in background}
    is_bg = [names[i].lower() in bg_names for i in range(256)]

    # Envelope of the valid pixels in the CRS (image rows when there is no CRS) for the 3x3 position grid.
    ok = mask != nodata if nodata is not None else np.ones_like(mask, dtype=bool)
    rows_ok, cols_ok = np.flatnonzero(ok.any(axis=1)), np.flatnonzero(ok.any(axis=0))
    env = (0.0, 0.0, 0.0, 0.0)
    if len(rows_ok):
        pix = (float(cols_ok[0]), float(rows_ok[0]), cols_ok[-1] + 1.0, rows_ok[-1] + 1.0)
        env = pixel_box_to_crs(pix, transform) if crs is not None else (pix[0], -pix[3], pix[2], -pix[1])

    stats: list[ClassStat] = []
    structure = np.ones((3, 3), dtype=bool)
    for i in valid_ids:
        if is_bg[i]:
            continue
        labels, n = ndimage.label(mask == i, structure=structure)
        comp = _weighted_bincount(labels, area, n + 1)[1:]
        col, row = csum[i] / counts[i], rsum[i] / counts[i]
        x, y = pixel_to_crs(col, row, transform) if crs is not None else (col, -row)
        fx = (x - env[0]) / (env[2] - env[0]) if env[2] > env[0] else 0.5
        fy = (y - env[1]) / (env[3] - env[1]) if env[3] > env[1] else 0.5
        stats.append(ClassStat(
            name=names[i], area_m2=float(areas[i]), area_ha=float(areas[i]) / 1e4,
            fraction=float(areas[i]) / valid if valid > 0 else 0.0, count=int(np.sum(comp >= floor_m2)),
            centroid=(float(x), float(y)) if crs is not None else (float(col), float(row)),
            position=_WORDS[min(int(fy * 3), 2)][min(int(fx * 3), 2)],
        ))
    adjacency = _adjacency(mask, names, nodata, is_bg, len_c, len_r)
    for s in stats:
        s.adjacent_to = sorted({p.b if p.a == s.name else p.a for p in adjacency if s.name in (p.a, p.b)})
    stats.sort(key=lambda s: (-s.area_m2, s.name))
    background_m2 = float(sum(areas[i] for i in valid_ids if is_bg[i]))
    crs_text = "" if crs is None else _crs_string(crs)
    return SceneStats(total, valid, stats, adjacency, background_m2, crs_text, (height, width), 1, notes)


def _adjacency(mask: np.ndarray, names: list[str], nodata: Optional[int], is_bg: list[bool],
               len_c: np.ndarray, len_r: np.ndarray) -> list[Adjacency]:
    """Class pairs sharing 4-neighbour pixel edges, with the edge count and length in metres."""
    edges = np.zeros(256 * 256, dtype=np.int64)
    length = np.zeros(256 * 256)
    pairs = ((mask[:, :-1], mask[:, 1:], np.broadcast_to(len_c[:, None], (mask.shape[0], mask.shape[1] - 1))),
             (mask[:-1], mask[1:], np.broadcast_to(len_r[:-1, None], (mask.shape[0] - 1, mask.shape[1]))))
    for p, q, lens in pairs:
        sel = p != q
        if nodata is not None:
            sel &= (p != nodata) & (q != nodata)
        lo = np.minimum(p[sel], q[sel]).astype(np.int64)
        hi = np.maximum(p[sel], q[sel]).astype(np.int64)
        code = lo * 256 + hi
        edges += np.bincount(code, minlength=256 * 256)
        length += np.bincount(code, weights=lens[sel], minlength=256 * 256)
    out = [Adjacency(names[k // 256], names[k % 256], int(edges[k]), float(length[k]))
           for k in np.flatnonzero(edges) if not (is_bg[k // 256] or is_bg[k % 256])]
    return sorted(out, key=lambda p: (-p.length_m, p.a, p.b))


def format_area(m2: float) -> str:
    """Compact area text: m2 below 1 ha, ha below 1 km2, km2 above."""
    if m2 < 1e4:
        return f"{m2:.0f} m2"
    return f"{m2 / 1e4:.1f} ha" if m2 < 1e6 else f"{m2 / 1e6:.2f} km2"


def describe_stats(stats: SceneStats, max_chars: int = 600) -> str:
    """Short, deterministic text of the statistics for the language model and the user.

    Example: "Area 1.02 km2. water 31.2% 31.8 ha, 2 objects, east; forest ... Adjacent: water-forest."
    Adjacent pairs, then the smallest classes, are left out to stay within ``max_chars``.
    """
    head = f"Area {format_area(stats.valid_area_m2)}"
    if stats.valid_area_m2 < stats.total_area_m2:
        head += f" (of {format_area(stats.total_area_m2)})"
    if stats.background_area_m2 > 0 and stats.valid_area_m2 > 0:
        head += f", background {100 * stats.background_area_m2 / stats.valid_area_m2:.1f}%"
    parts = [f"{s.name} {100 * s.fraction:.1f}% {format_area(s.area_m2)}, "
             f"{s.count} object{'' if s.count == 1 else 's'}, {s.position}" for s in stats.classes]
    pairs = [f"{p.a}-{p.b}" for p in stats.adjacency]
    shown = len(parts)
    while True:
        body = parts[:shown] + ([f"+{len(parts) - shown} more"] if shown < len(parts) else [])
        text = head + ". " + "; ".join(body) + ("." if body else "")
        if pairs:
            text += " Adjacent: " + ", ".join(pairs) + "."
        if len(text) <= max_chars or (not pairs and shown <= 1):
            return text
        if pairs:
            pairs.pop()
        else:
            shown -= 1


def _crs_string(crs: Any) -> str:
    """'EPSG:xxxx' when the CRS has an authority code, else its WKT."""
    from pyproj import CRS

    crs = CRS.from_user_input(crs)
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else crs.to_wkt()


def stats_from_mask_file(
    path: Union[str, os.PathLike],
    classes: Sequence[str],
    max_pixels: int = 16_000_000,
    nodata: Optional[int] = None,
    min_object_m2: float = 0.0,
    background: Sequence[str] = ("background",),
    min_object_px: int = 0,
) -> SceneStats:
    """Statistics of a class-index mask GeoTIFF (band 1); decimated (nearest) above ``max_pixels``.

    A decimated read scales the transform, so each pixel counts for the source pixels it stands for;
    ``decimation`` and ``notes`` of the result say so. ``nodata`` defaults to the file's, else 255.
    """
    from core.raster import read_class_mask

    got = read_class_mask(path, max_pixels)
    nd = nodata if nodata is not None else (got.nodata if got.nodata is not None else 255)
    result = compute_stats(got.mask, classes, got.transform, got.crs, nd, min_object_m2, background, min_object_px)
    factor, (width, height) = got.factor, got.size
    if factor > 1:
        result.decimation = factor
        result.notes.append(f"decimated {factor}x (nearest) from {width}x{height} pixels")
    return result

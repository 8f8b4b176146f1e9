"""Pixel <-> CRS transforms of boxes, box merging across tiles in CRS space, GeoPackage layers of boxes."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Optional, Union

import numpy as np

from core.errors import InputError
from core.results import Box

BoxTuple = tuple[float, float, float, float]  # (x1, y1, x2, y2)
Transform = Sequence[float]  # rasterio/affine order: a, b, c, d, e, f (an ``Affine`` works too)
WindowLike = Any  # (col_off, row_off, width, height) or an object with those attributes (PixelWindow)

MODEL_BOX_MAX = 999.0  # model boxes are 0..999: 0 is the left/top edge, 999 the right/bottom edge


def _coeffs(transform: Transform) -> tuple[float, float, float, float, float, float]:
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    if a * e - b * d == 0:
        raise InputError("The raster transform is singular (zero pixel size), so it cannot be georeferenced.")
    return a, b, c, d, e, f


def _window(window: WindowLike) -> tuple[float, float, float, float]:
    if hasattr(window, "col_off"):
        return (float(window.col_off), float(window.row_off), float(window.width), float(window.height))
    col_off, row_off, width, height = window
    return float(col_off), float(row_off), float(width), float(height)


def pixel_to_crs(col: Any, row: Any, transform: Transform) -> tuple[Any, Any]:
    """Map pixel coordinates (col, row; corners at integers) to CRS (x, y): x = a*col + b*row + c."""
    a, b, c, d, e, f = _coeffs(transform)
    return a * col + b * row + c, d * col + e * row + f


def crs_to_pixel(x: Any, y: Any, transform: Transform) -> tuple[Any, Any]:
    """Inverse of :func:`pixel_to_crs`: CRS (x, y) to fractional pixel (col, row)."""
    a, b, c, d, e, f = _coeffs(transform)
    det = a * e - b * d
    dx, dy = x - c, y - f
    return (e * dx - b * dy) / det, (-d * dx + a * dy) / det


def _envelope(xs: np.ndarray, ys: np.ndarray) -> BoxTuple:
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def pixel_box_to_crs(box: BoxTuple, transform: Transform) -> BoxTuple:
    """Envelope in CRS units of a pixel box (c1, r1, c2, r2): all four corners are transformed.

    Correct for north-up, south-up and rotated transforms; the result always has x1 < x2 and y1 < y2.
    """
    c1, r1, c2, r2 = box
    cols = np.array([c1, c2, c2, c1], dtype=np.float64)
    rows = np.array([r1, r1, r2, r2], dtype=np.float64)
    return _envelope(*pixel_to_crs(cols, rows, transform))


def tile_box_to_scene(
    box: BoxTuple, window: WindowLike, image_size: Optional[tuple[float, float]] = None
) -> BoxTuple:
    """Pixel box in a tile image to scene pixels.

    Args:
        box: (c1, r1, c2, r2) in the tile image's pixels.
        window: the scene window the tile was read from (col_off, row_off, width, height).
        image_size: (width, height) of the tile image when it was resized from the window; None if not.
    """
    col_off, row_off, width, height = _window(window)
    sx, sy = (1.0, 1.0) if image_size is None else (width / image_size[0], height / image_size[1])
    c1, r1, c2, r2 = box
    return col_off + c1 * sx, row_off + r1 * sy, col_off + c2 * sx, row_off + r2 * sy


def model_box_to_crs(box_0_999: Sequence[float], window: WindowLike, transform: Transform) -> BoxTuple:
    """A model box in 0..999 coordinates of the (possibly resized) image of ``window`` to a CRS envelope.

    pixel = offset + v / 999 * size, so (0, 0, 999, 999) is the whole window.
    """
    x1, y1, x2, y2 = (min(max(float(v), 0.0), MODEL_BOX_MAX) for v in box_0_999)
    pix = tile_box_to_scene((x1, y1, x2, y2), window, image_size=(MODEL_BOX_MAX, MODEL_BOX_MAX))
    return pixel_box_to_crs(pix, transform)


def crs_box_to_window(
    box: BoxTuple, transform: Transform, width: Optional[int] = None, height: Optional[int] = None
) -> tuple[int, int, int, int]:
    """Smallest pixel window (col_off, row_off, width, height) covering a CRS box.

    Corners are floored/ceiled (with a 1e-6 px slack against float noise) and, when the raster size is
    given, clipped to it. Raises InputError when the box does not intersect the raster.
    """
    x1, y1, x2, y2 = box
    xs = np.array([x1, x2, x2, x1], dtype=np.float64)
    ys = np.array([y1, y1, y2, y2], dtype=np.float64)
    cols, rows = crs_to_pixel(xs, ys, transform)
    c1, r1 = math.floor(cols.min() + 1e-6), math.floor(rows.min() + 1e-6)
    c2, r2 = math.ceil(cols.max() - 1e-6), math.ceil(rows.max() - 1e-6)
    if width is not None:
        c1, c2 = max(c1, 0), min(c2, width)
    if height is not None:
        r1, r2 = max(r1, 0), min(r2, height)
    if c2 <= c1 or r2 <= r1:
        raise InputError("The box does not intersect the raster.")
    return c1, r1, c2 - c1, r2 - r1


def reproject_box(box: BoxTuple, src_crs: Any, dst_crs: Any, densify: int = 21) -> BoxTuple:
    """Envelope of a box reprojected to another CRS, with ``densify`` points on each edge (pyproj)."""
    from pyproj import Transformer

    tr = Transformer.from_crs(src_crs, dst_crs, always_xy=True)
    return tuple(float(v) for v in tr.transform_bounds(*box, densify_pts=densify))  # type: ignore[return-value]


def pixel_size(transform: Transform) -> float:
    """The larger side of one pixel in CRS units (for tolerances such as 'two pixels')."""
    a, b, _, d, e, _ = _coeffs(transform)
    return max(math.hypot(a, d), math.hypot(b, e))


def box_iou(p: Box, q: Box) -> float:
    """Intersection over union of two boxes (0 when disjoint or degenerate)."""
    iw = min(p.x2, q.x2) - max(p.x1, q.x1)
    ih = min(p.y2, q.y2) - max(p.y1, q.y1)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (p.x2 - p.x1) * (p.y2 - p.y1) + (q.x2 - q.x1) * (q.y2 - q.y1) - inter
    return inter / union if union > 0 else 0.0


def _shared(lo1: float, hi1: float, lo2: float, hi2: float) -> float:
    """Overlap of two intervals as a fraction of the shorter one."""
    short = min(hi1 - lo1, hi2 - lo2)
    return max(0.0, min(hi1, hi2) - max(lo1, lo2)) / short if short > 0 else 1.0


def _should_merge(p: Box, q: Box, tolerance: float, iou_threshold: float, min_shared: float) -> bool:
    gap_x = max(p.x1, q.x1) - min(p.x2, q.x2)  # < 0: overlap along x
    gap_y = max(p.y1, q.y1) - min(p.y2, q.y2)
    if gap_x > tolerance or gap_y > tolerance:
        return False
    if box_iou(p, q) >= iou_threshold:
        return True
    return max(_shared(p.x1, p.x2, q.x1, q.x2), _shared(p.y1, p.y2, q.y1, q.y2)) >= min_shared


def merge_boxes(
    boxes: Sequence[Box], tolerance: float = 0.0, iou_threshold: float = 0.5, min_shared: float = 0.5
) -> list[Box]:
    """Merge same-label boxes that are pieces of one object cut by tile seams (CRS units).

    Two boxes merge when they overlap or touch within ``tolerance`` and either their IoU is at least
    ``iou_threshold`` or they share at least ``min_shared`` of the shorter extent along x or y (the
    pieces of a cut object lie side by side; boxes that only meet at a corner stay apart; set
    ``min_shared=0`` to merge any touching pair). The merged box is the union envelope with the max
    score. Repeats until stable, so chains across several tiles collapse into one box.
    """
    out: list[Box] = []
    for label in sorted({b.label for b in boxes}):
        group = [Box(b.x1, b.y1, b.x2, b.y2, b.label, b.score) for b in boxes if b.label == label]
        changed = True
        while changed:
            changed = False
            for i in range(len(group)):
                j = i + 1
                while j < len(group):
                    p, q = group[i], group[j]
                    if _should_merge(p, q, tolerance, iou_threshold, min_shared):
                        group[i] = Box(min(p.x1, q.x1), min(p.y1, q.y1), max(p.x2, q.x2), max(p.y2, q.y2),
                                       label, max(p.score, q.score))
                        del group[j]
                        changed = True
                    else:
                        j += 1
        out.extend(group)
    return sorted(out, key=lambda b: (-b.score, b.label, b.x1, b.y1))


def nms(boxes: Sequence[Box], iou_threshold: float = 0.5, per_label: bool = True) -> list[Box]:
    """Greedy non-maximum suppression: drop boxes overlapping a higher-scored kept box above the IoU."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: (-b.score, b.label, b.x1, b.y1)):
        if all((per_label and k.label != box.label) or box_iou(k, box) <= iou_threshold for k in kept):
            kept.append(box)
    return kept


def _crs_text(crs: Any) -> str:
    if crs is None:
        return ""
    if isinstance(crs, str):
        return crs
    return crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs)


def write_boxes_gpkg(
    path: Union[str, os.PathLike],
    boxes: Sequence[Box],
    crs: Any,
    prompt: str = "",
    source: str = "",
    model: str = "",
    layer: str = "boxes",
    created: Optional[datetime] = None,
) -> str:
    """Write boxes as a polygon layer of a GeoPackage; returns the path.

    Attributes: label, score, prompt, source (raster path), model, created (ISO-8601 UTC). The file is
    written under a temporary name and renamed, so a reader never sees a half-written file; other layers
    of an existing GeoPackage are kept, a layer of the same name is replaced.
    """
    from pyogrio.raw import write
    from shapely import box as shapely_box
    from shapely import to_wkb

    path = os.fspath(path)
    stamp = (created or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    stamp = stamp.replace("+00:00", "Z")
    geoms = [shapely_box(b.x1, b.y1, b.x2, b.y2) for b in boxes]
    wkb = np.array(to_wkb(geoms), dtype=object) if geoms else np.array([], dtype=object)
    n = len(boxes)
    fields = ["label", "score", "prompt", "source", "model", "created"]
    data = [
        np.array([b.label for b in boxes], dtype=object),
        np.array([b.score for b in boxes], dtype=np.float64),
        np.array([prompt] * n, dtype=object),
        np.array([source] * n, dtype=object),
        np.array([model] * n, dtype=object),
        np.array([stamp] * n, dtype=object),
    ]
    return write_gpkg_atomically(path, lambda tmp: write(
        tmp, wkb, data, fields, layer=layer, driver="GPKG", geometry_type="Polygon", crs=_crs_text(crs) or None,
        layer_options={"OVERWRITE": "YES"}), keep_existing=True)


def write_gpkg_atomically(path: Union[str, os.PathLike], write: Callable[[str], None],
                          keep_existing: bool = False) -> str:
    """Run ``write(tmp)`` on a temporary GeoPackage beside ``path``, then rename it over ``path``.

    A reader never sees a half-written file, and a failure (or Ctrl-C, or a stop signal) leaves nothing behind.
    ``keep_existing``: start from a copy of the existing file, so its other layers are kept.
    """
    from core.outputs import atomic_file

    path = os.fspath(path)
    with atomic_file(path, suffix=".gpkg") as tmp:
        if keep_existing and os.path.exists(path):
            shutil.copyfile(path, tmp)
        write(tmp)
    return path


def read_boxes_gpkg(path: Union[str, os.PathLike], layer: str = "boxes") -> tuple[list[Box], list[dict], str]:
    """Read a layer written by :func:`write_boxes_gpkg`: (boxes, attribute dicts, CRS e.g. "EPSG:32618")."""
    from pyogrio.raw import read
    from shapely import from_wkb

    meta, _, geometry, field_data = read(os.fspath(path), layer=layer)
    names = list(meta["fields"])
    rows = [{name: field_data[k][i] for k, name in enumerate(names)} for i in range(len(geometry))]
    boxes = []
    for geom, row in zip(from_wkb(geometry) if len(geometry) else [], rows):
        x1, y1, x2, y2 = geom.bounds
        boxes.append(Box(x1, y1, x2, y2, str(row["label"]), float(row["score"])))
    return boxes, rows, meta["crs"] or ""

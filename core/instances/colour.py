"""The colour an object shows in the image: its pixels' mean RGB (the raster's band profile), named by HSV rules."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np

from core.analysis import Area
from core.geo import crs_to_pixel
from core.landcover.grid import ClassObjects, Component, MaskGrid, object_pixels
from core.raster import read_overview
from core.tiling import PixelWindow

MAX_READ = 2048  # longest side of the one image read for all objects; larger extents are read decimated


def colour_name(rgb: Sequence[float]) -> str:
    """Name a mean colour (RGB in 0..1 after the scene stretch) with simple HSV rules.

    dark: value < 0.2; low saturation (< 0.18): white (value > 0.7), dark (< 0.3) or grey; otherwise by
    hue: red (< 15 deg or >= 300; orange-terracotta up to 45 deg when bright and saturated), brown
    (15-70 deg), green (70-160), blue (160-300). The stretch is the scene's (2-98 percentiles for
    reflectance rasters), so colours are relative to the scene, as a user sees them on the map.
    """
    r, g, b = (min(max(float(v), 0.0), 1.0) for v in rgb)
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    deg = h * 360.0
    if v < 0.2:
        return "dark"
    if s < 0.18:
        return "white" if v > 0.7 else "dark" if v < 0.3 else "grey"
    if deg < 15 or deg >= 300 or (deg < 45 and v >= 0.6 and s >= 0.5):
        return "red"
    if deg < 70:
        return "brown"
    return "green" if deg < 160 else "blue"


def object_colours(area: Area, grid: MaskGrid, found: ClassObjects, objects: Sequence[Component]) -> dict[int, str]:
    """The colour name of each object (by id) from the mean RGB of its valid image pixels.

    One read of the raster window under the objects' union box, through the area's band profile
    (decimated when its longer side exceeds :data:`MAX_READ`); objects with no valid pixel get "".
    """
    if not objects:
        return {}
    c1 = min(o.box[0] for o in objects)
    r1 = min(o.box[1] for o in objects)
    c2 = max(o.box[2] for o in objects)
    r2 = max(o.box[3] for o in objects)
    a, b, c, d, e, f = grid.transform
    col0, row0 = crs_to_pixel(c + a * c1 + b * r1, f + d * c1 + e * r1, area.info.transform)
    col9, row9 = crs_to_pixel(c + a * c2 + b * r2, f + d * c2 + e * r2, area.info.transform)
    x0, y0 = max(int(round(min(col0, col9))), 0), max(int(round(min(row0, row9))), 0)
    x1 = min(int(round(max(col0, col9))), area.info.width)
    y1 = min(int(round(max(row0, row9))), area.info.height)
    if x1 <= x0 or y1 <= y0:
        return {o.id: "" for o in objects}
    win = PixelWindow(x0, y0, x1 - x0, y1 - y0)
    rgb, valid = read_overview(area.info.path, area.profile, max_size=min(max(win.width, win.height), MAX_READ),
                               window=win)  # [3, h, w], [h, w]
    sy, sx = rgb.shape[1] / (r2 - r1), rgb.shape[2] / (c2 - c1)  # image pixels per mask pixel
    out: dict[int, str] = {}
    for o in objects:
        rr, cc = np.nonzero(object_pixels(found, o))
        rows = np.clip(((rr + o.box[1] - r1 + 0.5) * sy).astype(int), 0, rgb.shape[1] - 1)
        cols = np.clip(((cc + o.box[0] - c1 + 0.5) * sx).astype(int), 0, rgb.shape[2] - 1)
        ok = valid[rows, cols]
        out[o.id] = colour_name(rgb[:, rows[ok], cols[ok]].mean(axis=1)) if ok.any() else ""
    return out

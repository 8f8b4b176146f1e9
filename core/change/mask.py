"""The change mask GeoTIFF: one value per reported from-to pair, a colour table and the legend in its tags.

A pair is coloured as its second-date class (:mod:`core.palette`); no change is light grey, a change within the
noise floor mid grey.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Union

import numpy as np

from core.change.matrix import NODATA, blocks

PathLike = Union[str, "os.PathLike[str]"]
UNCHANGED = 0
NOISE = 254  # a change the noise floor does not let through: shown, not reported
LEGEND_TAG = "CHANGE_LEGEND"


def pair_code(i: int, j: int, k: int) -> int:
    """The mask value of the change from class ``i`` to class ``j`` (``i != j``) among ``k`` classes."""
    return 1 + i * k + j


def legend(classes: Sequence[str], reported: np.ndarray) -> dict[int, str]:
    """Mask value -> what it means: unchanged, each reported 'from -> to' pair, noise, nodata."""
    k = len(classes)
    out = {UNCHANGED: "no change"}
    for i in range(k):
        for j in range(k):
            if reported[i, j]:
                out[pair_code(i, j, k)] = f"{classes[i]} -> {classes[j]}"
    out[NOISE] = "change within the noise floor (not reported)"
    out[NODATA] = "outside the compared area"
    return out


def code_table(k: int, reported: np.ndarray) -> np.ndarray:
    """uint8 [256 * 256]: the mask value of (before value * 256 + after value)."""
    if pair_code(k - 1, k - 2, k) >= NOISE:
        raise ValueError(f"{k} classes is too many for a uint8 change mask")
    lut = np.full(256 * 256, NODATA, dtype=np.uint8)
    for i in range(k):
        for j in range(k):
            lut[i * 256 + j] = UNCHANGED if i == j else (pair_code(i, j, k) if reported[i, j] else NOISE)
    return lut


def write_change_mask(before: PathLike, after: PathLike, out: PathLike, classes: Sequence[str],
                      reported: np.ndarray) -> str:
    """Write the change mask of two class masks on one grid to ``out`` (atomically), block by block."""
    import rasterio
    from rasterio.windows import Window

    from core.outputs.atomic import atomic_file
    from core.palette import class_rgba

    k = len(classes)
    lut = code_table(k, reported)
    names = legend(classes, reported)
    colours = {code: (0, 0, 0, 255) for code in range(256)}  # GeoTIFF palettes keep no transparency
    colours[UNCHANGED], colours[NOISE] = (235, 235, 235, 255), (170, 170, 170, 255)
    for i in range(k):
        for j in range(k):
            if reported[i, j]:
                colours[pair_code(i, j, k)] = class_rgba(classes[j])[:3] + (255,)
    with rasterio.open(os.fspath(before)) as a, rasterio.open(os.fspath(after)) as b:
        profile = {"driver": "GTiff", "width": a.width, "height": a.height, "count": 1, "dtype": "uint8",
                   "crs": a.crs, "transform": a.transform, "nodata": NODATA, "compress": "deflate"}
        if a.width >= 256 and a.height >= 256:
            profile.update(tiled=True, blockxsize=256, blockysize=256)
        with atomic_file(os.fspath(out)) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            for r0, r1 in blocks(a.height, a.width):
                win = Window(0, r0, a.width, r1 - r0)
                x, y = a.read(1, window=win).astype(np.int64), b.read(1, window=win)
                dst.write(lut[x * 256 + y], 1, window=win)
            dst.write_colormap(1, colours)
            dst.set_band_description(1, "from-to land-cover change")
            dst.update_tags(**{LEGEND_TAG: json.dumps({str(c): n for c, n in names.items()}),
                               "CLASSES": json.dumps(list(classes))})
            dst.update_tags(1, **{f"VALUE_{c}": n for c, n in names.items()})
    return os.fspath(out)


def read_legend(path: PathLike) -> dict[int, str]:
    """The legend a change mask carries: value -> meaning."""
    import rasterio

    with rasterio.open(os.fspath(path)) as ds:
        return {int(c): n for c, n in json.loads(ds.tags()[LEGEND_TAG]).items()}

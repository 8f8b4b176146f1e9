"""Blend overlapping per-class tile scores on disk and write a uint8 class-index GeoTIFF."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from types import TracebackType
from typing import Optional, Union

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from core.palette import class_rgba
from core.tiling import PixelWindow

NODATA = 255  # class value of pixels without valid input
ZLEVEL = 1  # deflate level of the class map: written once, read often; level 1 took about a third less of the
# writer's CPU than GDAL's default 6 (which the model shares on 2 cores), for a file about 40% larger (a 4096^2 map:
# 2.4 against 1.7 MB)


def axis_weight(length: int, inner_start: bool, inner_end: bool, overlap: int, margin: int) -> np.ndarray:
    """Blending weight along one axis of a tile, float32 ``[length]``.

    With ``d`` the distance in pixels from an inner edge (0 on the edge pixel; scene edges are not inner)
    and ``ramp = overlap - 2 * margin``::

        f(d) = clip((d - margin + 1) / (ramp + 1), 0, 1)

    so the ``margin`` pixels next to an inner edge get no weight (a model's border effects are dropped),
    then a linear ramp reaches full weight ``overlap - margin`` pixels in. In a regular overlap the
    weights of the two tiles sum to 1. Needs ``overlap >= 2 * margin + 1`` (or 0) so that every
    pixel has a tile giving it weight.
    """
    d = np.arange(length, dtype=np.float32)
    ramp = overlap - 2 * margin
    w = np.ones(length, np.float32)
    if inner_start:
        w *= np.clip((d - margin + 1) / (ramp + 1), 0.0, 1.0)
    if inner_end:
        w *= np.clip((d[::-1] - margin + 1) / (ramp + 1), 0.0, 1.0)
    return w


def class_argmax(scores: np.ndarray) -> np.ndarray:
    """``np.argmax(scores, axis=0)`` of ``[K, h, w]`` scores as uint8 ``[h, w]`` (K <= 256), the same indices.

    A running maximum over the K planes (contiguous, vectorised) rather than a strided reduction over axis 0,
    which numpy does about ten times slower. Like ``np.argmax``, the first class wins a tie and a NaN counts
    as the maximum (the first NaN's class: such pixels are handed to ``np.argmax`` itself).
    """
    best = scores[0].copy()  # [h, w]
    index = np.zeros(best.shape, np.uint8)
    for c in range(1, len(scores)):
        np.putmask(index, scores[c] > best, c)  # strictly greater: an earlier class keeps a tie
        np.maximum(best, scores[c], out=best)  # NaN propagates: those pixels are redone below
    nan = np.isnan(best)
    if nan.any():
        index[nan] = np.argmax(scores[:, nan], axis=0)
    return index


def tile_weight(window: PixelWindow, width: int, height: int, overlap: int, margin: int) -> np.ndarray:
    """Weight ``[h, w]`` of a tile in a ``width x height`` output: separable product of axis weights."""
    wy = axis_weight(window.height, window.row_off > 0, window.row_end < height, overlap, margin)
    wx = axis_weight(window.width, window.col_off > 0, window.col_end < width, overlap, margin)
    return wy[:, None] * wx[None, :]


def _full_weight(t: tuple[slice, slice], ones_y: Optional[np.ndarray], ones_x: Optional[np.ndarray]) -> bool:
    """Whether every weight in the tile-local window ``t`` is 1 (``ones_y``/``ones_x``: where the axis weights are
    1; None when a tile's weight is not a product of its axis weights, e.g. with invalid pixels)."""
    return ones_y is not None and ones_x is not None and bool(ones_y[t[0]].all() and ones_x[t[1]].all())


class BlendWriter:
    """Accumulate weighted per-class scores of planned tiles and write the argmax class map.

    The accumulators ``[K + 1, b, b]`` float32 per output block (K weighted score sums and the weight
    sum) live in slots of an anonymous temporary file, read and written per tile. A block is finalised
    (argmax -> uint8, written once) and its slot reused as soon as the last tile touching it is added,
    so with tiles added in row-major order memory is O(tile) and the temporary file holds about one
    row of tiles. The GeoTIFF is written under a temporary name and renamed by :meth:`close`;
    :meth:`abort` (or leaving the ``with`` block on an exception) removes all partial files.

    Args:
        out_path: output GeoTIFF path.
        width: output width in pixels.
        height: output height in pixels.
        classes: class names (1..255 classes; 255 is the nodata value).
        tiles: windows of all tiles that will be added, in output pixel coordinates.
        crs: output CRS ("EPSG:32618", WKT, or "" for none).
        transform: output geotransform in rasterio Affine order (a, b, c, d, e, f).
        overlap: the tile plan's overlap in pixels.
        margin: pixels at inner tile edges with no weight; default ``overlap // 4``.
        colors: RGB per class for the colour table; default the land-cover colours of
            :mod:`core.palette` by class name.
        block: output block size in pixels (multiple of 16).
        workdir: folder for the accumulator file; default the system temp folder.
    """

    def __init__(
        self,
        out_path: Union[str, os.PathLike[str]],
        width: int,
        height: int,
        classes: Sequence[str],
        tiles: Sequence[PixelWindow],
        crs: str,
        transform: Sequence[float],
        overlap: int,
        margin: Optional[int] = None,
        colors: Optional[Sequence[tuple[int, int, int]]] = None,
        block: int = 256,
        workdir: Optional[str] = None,
    ) -> None:
        self.k = len(classes)
        self.margin = overlap // 4 if margin is None else margin
        if not 1 <= self.k <= 255:
            raise ValueError(f"need 1..255 classes, got {self.k}")
        if block <= 0 or block % 16:
            raise ValueError(f"block must be a positive multiple of 16, got {block}")
        if overlap and not 0 <= self.margin <= (overlap - 1) // 2:
            raise ValueError(f"margin must be in [0, (overlap - 1) // 2], got {self.margin}")
        self.out_path = os.fspath(out_path)
        self.width, self.height, self.overlap, self.block = width, height, overlap, block
        self.nbx, self.nby = -(-width // block), -(-height // block)
        self.blocks_written = 0
        self.blocks_direct = 0  # of them, blocks written straight from one tile's scores (see :meth:`_interior`)
        full = PixelWindow(0, 0, width, height)
        if any(t.intersection(full) != t for t in tiles):
            raise ValueError("a tile lies outside the output")
        self._tiles: Counter[PixelWindow] = Counter(tiles)
        self._pending: Counter[tuple[int, int]] = Counter()
        for t in tiles:
            for key in self._blocks_of(t):
                self._pending[key] += 1
        if len(self._pending) != self.nbx * self.nby:
            raise ValueError("the tiles do not cover the output")
        self._slots: dict[tuple[int, int], int] = {}
        self._weights: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # by shape, edges
        self._free: list[int] = []
        self._n_slots = 0
        self._slot_bytes = (self.k + 1) * block * block * 4
        out_dir = os.path.dirname(os.path.abspath(self.out_path))
        os.makedirs(out_dir, exist_ok=True)
        fd, self.tmp_path = tempfile.mkstemp(prefix=".partial-", suffix=".tif", dir=out_dir)
        os.close(fd)
        try:
            self._acc = tempfile.TemporaryFile(prefix="earthask-blend-", dir=workdir, buffering=0)
            self._dst = rasterio.open(
                self.tmp_path, "w", driver="GTiff", width=width, height=height, count=1, dtype="uint8",
                crs=CRS.from_user_input(crs) if crs else None, transform=Affine(*transform[:6]),
                nodata=NODATA, tiled=True, blockxsize=block, blockysize=block, compress="deflate", zlevel=ZLEVEL,
                BIGTIFF="IF_SAFER",
            )  # fmt: skip
            if colors:
                cmap = {i: (*colors[i % len(colors)], 255) for i in range(self.k)}
            else:  # land-cover colours by class name (water blue, forest green...)
                cmap = {i: class_rgba(name) for i, name in enumerate(classes)}
            self._dst.write_colormap(1, {**cmap, NODATA: (0, 0, 0, 0)})
            self._dst.update_tags(classes=json.dumps(list(classes)))
            self._dst.set_band_description(1, "class index")
        except Exception:
            self.abort()
            raise

    def _blocks_of(self, w: PixelWindow) -> list[tuple[int, int]]:
        b = self.block
        rows = range(w.row_off // b, (w.row_end - 1) // b + 1)
        return [(r, c) for r in rows for c in range(w.col_off // b, (w.col_end - 1) // b + 1)]

    def _block_window(self, key: tuple[int, int]) -> PixelWindow:
        r, c, b = key[0] * self.block, key[1] * self.block, self.block
        return PixelWindow(c, r, min(b, self.width - c), min(b, self.height - r))

    def _load(self, key: tuple[int, int], bw: PixelWindow) -> np.ndarray:
        shape = (self.k + 1, bw.height, bw.width)
        slot = self._slots.get(key)
        if slot is None:
            return np.zeros(shape, np.float32)
        buf = bytearray(int(np.prod(shape)) * 4)
        self._acc.seek(slot * self._slot_bytes)
        if self._acc.readinto(buf) != len(buf):
            raise OSError("short read from the blending accumulator file")
        return np.frombuffer(buf, np.float32).reshape(shape)

    def _store(self, key: tuple[int, int], acc: np.ndarray) -> None:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._free.pop() if self._free else self._n_slots
            self._n_slots = max(self._n_slots, slot + 1)
            self._slots[key] = slot
        self._acc.seek(slot * self._slot_bytes)
        view = memoryview(np.ascontiguousarray(acc)).cast("B")
        done = 0
        while done < len(view):
            done += self._acc.write(view[done:])

    def add(self, window: PixelWindow, scores: Optional[np.ndarray], valid: Optional[np.ndarray] = None) -> None:
        """Add one planned tile.

        Args:
            window: the tile's window in output pixels (must be one of ``tiles``).
            scores: float32 ``[K, h, w]`` probabilities or logits, or None for a tile with no valid
                pixels (it only counts as done).
            valid: bool ``[h, w]``; invalid pixels get no weight (nodata when no tile covers them).
        """
        if self._tiles[window] <= 0:
            raise ValueError(f"tile {window} is not in the plan or was already added")
        if scores is not None and scores.shape != (self.k, window.height, window.width):
            raise ValueError(f"scores shape {scores.shape} != {(self.k, window.height, window.width)}")
        self._tiles[window] -= 1
        weight = ones_y = ones_x = None
        if scores is not None:
            weight, ones_y, ones_x = self._tile_weight(window)
            if valid is not None and not valid.all():  # an all-valid tile keeps the shared weight (* 1 is exact)
                weight, ones_y = weight * valid, None
        for key in self._blocks_of(window):
            bw = self._block_window(key)
            inter = bw.intersection(window)
            assert inter is not None
            acc = None
            t = inter.shift(-window.col_off, -window.row_off).slices()  # tile-local
            if scores is not None and self._interior(key, bw, inter, t, ones_y, ones_x):
                # this tile alone covers the whole block, at full weight: its argmax is the block's (a weighted
                # mean of one tile's scores is its scores), written without the accumulator
                self._pending[key] -= 1
                self._write_block(bw, class_argmax(scores[(slice(None), *t)]))
                self.blocks_direct += 1
                continue
            if weight is not None and scores is not None:
                acc = self._load(key, bw)
                b = inter.shift(-bw.col_off, -bw.row_off).slices()  # block-local
                w = weight[t]
                part = scores[(slice(None), *t)]  # [K, h, w]
                if not _full_weight(t, ones_y, ones_x):
                    part = part * w  # where every weight is 1, s * 1 == s: the product is skipped, not changed
                acc[(slice(None, self.k), *b)] += part
                acc[(self.k, *b)] += w
            self._pending[key] -= 1
            if self._pending[key] == 0:
                self._finalise(key, bw, self._load(key, bw) if acc is None else acc)
            elif acc is not None:
                self._store(key, acc)

    def _interior(self, key: tuple[int, int], bw: PixelWindow, inter: PixelWindow, t: tuple[slice, slice],
                  ones_y: Optional[np.ndarray], ones_x: Optional[np.ndarray]) -> bool:
        """Whether block ``key`` is this tile's alone: no other tile touches it (none before, none to come), the
        tile covers all of it (``t``: where, in tile pixels), and every weight there is 1 (so no pixel of it is
        nodata either)."""
        return self._pending[key] == 1 and key not in self._slots and inter == bw and _full_weight(t, ones_y, ones_x)

    def _tile_weight(self, window: PixelWindow) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`tile_weight` of ``window`` and where its axis weights are 1 (``[h]``, ``[w]`` bool), made once
        per shape and set of inner edges (read-only)."""
        key = (window.width, window.height, window.col_off > 0, window.row_off > 0,
               window.col_end < self.width, window.row_end < self.height)  # fmt: skip
        got = self._weights.get(key)
        if got is None:
            weight = tile_weight(window, self.width, self.height, self.overlap, self.margin)
            wy = axis_weight(window.height, window.row_off > 0, window.row_end < self.height, self.overlap, self.margin)
            wx = axis_weight(window.width, window.col_off > 0, window.col_end < self.width, self.overlap, self.margin)
            got = (weight, wy == 1.0, wx == 1.0)  # weight[i, j] == wy[i] * wx[j] is 1 where both are
            for a in got:
                a.setflags(write=False)
            self._weights[key] = got
        return got

    def _finalise(self, key: tuple[int, int], bw: PixelWindow, acc: np.ndarray) -> None:
        cls = class_argmax(acc[: self.k])  # [h, w] uint8
        cls[acc[self.k] <= 0] = NODATA
        self._write_block(bw, cls)
        slot = self._slots.pop(key, None)
        if slot is not None:
            self._free.append(slot)

    def _write_block(self, bw: PixelWindow, cls: np.ndarray) -> None:
        self._dst.write(cls, 1, window=Window(bw.col_off, bw.row_off, bw.width, bw.height))
        self.blocks_written += 1

    @property
    def accumulator_bytes(self) -> int:
        """Largest size the accumulator file reached."""
        return self._n_slots * self._slot_bytes

    def close(self) -> str:
        """Check every block was written, close the GeoTIFF and rename it to ``out_path``."""
        if self.blocks_written != self.nbx * self.nby:
            self.abort()
            raise RuntimeError(f"only {self.blocks_written} of {self.nbx * self.nby} blocks were written")
        try:
            self._dst.close()
            self._acc.close()
        except BaseException:
            self.abort()
            raise
        from core.outputs import replace_or_clean

        return replace_or_clean(self.tmp_path, self.out_path)

    def abort(self) -> None:
        """Close everything and remove the partial GeoTIFF and the accumulator file."""
        for f in (getattr(self, "_dst", None), getattr(self, "_acc", None)):
            if f is not None and not f.closed:
                f.close()
        for p in (self.tmp_path, self.tmp_path + ".aux.xml"):
            if os.path.exists(p):
                os.remove(p)

    def __enter__(self) -> BlendWriter:
        return self

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

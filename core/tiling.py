"""Pixel windows and the tile plan that covers a scene with overlapping tiles."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PixelWindow:
    """A rectangle of pixels: column/row offset and size, in pixels of the source raster."""

    col_off: int
    row_off: int
    width: int
    height: int

    @property
    def col_end(self) -> int:
        """One past the last column."""
        return self.col_off + self.width

    @property
    def row_end(self) -> int:
        """One past the last row."""
        return self.row_off + self.height

    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices for indexing a ``[..., H, W]`` array."""
        return slice(self.row_off, self.row_end), slice(self.col_off, self.col_end)

    def shift(self, col: int, row: int) -> PixelWindow:
        """The same window moved by ``col`` columns and ``row`` rows."""
        return PixelWindow(self.col_off + col, self.row_off + row, self.width, self.height)

    def intersection(self, other: PixelWindow) -> PixelWindow | None:
        """The overlap of two windows, or None when they do not overlap."""
        c0, r0 = max(self.col_off, other.col_off), max(self.row_off, other.row_off)
        c1, r1 = min(self.col_end, other.col_end), min(self.row_end, other.row_end)
        if c1 <= c0 or r1 <= r0:
            return None
        return PixelWindow(c0, r0, c1 - c0, r1 - r0)

    def to_list(self) -> list[int]:
        """``[col_off, row_off, width, height]`` for JSON."""
        return [self.col_off, self.row_off, self.width, self.height]


@dataclass(frozen=True)
class Tile:
    """One tile of a plan: its grid position and its pixel window."""

    row: int
    col: int
    window: PixelWindow


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets of tiles along one axis (see :func:`tile_plan` for the formula).

    Args:
        length: axis length in pixels (> 0).
        tile: tile size in pixels (> 0).
        stride: step between tile starts in pixels (> 0).

    Returns:
        Offsets in increasing order; every tile fits inside ``[0, length)``.
    """
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / stride) + 1
    return [min(i * stride, length - tile) for i in range(n)]


def tile_plan(width: int, height: int, tile: int, overlap: int) -> list[Tile]:
    """Tiles that cover a ``width x height`` scene exactly, in row-major order.

    Along each axis of length ``L`` with tile size ``t`` and ``stride = t - overlap``::

        n = ceil((L - t) / stride) + 1      (n = 1 when L <= t)
        start_i = min(i * stride, L - t)    for i in 0..n-1
        size = min(t, L)

    The last tile is moved inward to end at the scene edge (no padding), so its overlap with the
    one before may exceed ``overlap``. A scene smaller than a tile gives one tile of the scene size.

    Args:
        width: scene width in pixels.
        height: scene height in pixels.
        tile: tile size in pixels (square tiles).
        overlap: overlap between neighbouring tiles in pixels, ``0 <= overlap < tile``.

    Returns:
        The tiles; all have the same size ``(min(tile, width), min(tile, height))``.

    Raises:
        ValueError: on a non-positive size or tile, or an overlap outside ``[0, tile)``.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"scene size must be positive, got {width}x{height}")
    if tile <= 0:
        raise ValueError(f"tile must be positive, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile={tile}), got {overlap}")
    stride = tile - overlap
    tw, th = min(tile, width), min(tile, height)
    rows = tile_starts(height, tile, stride)
    cols = tile_starts(width, tile, stride)
    return [Tile(r, c, PixelWindow(x, y, tw, th)) for r, y in enumerate(rows) for c, x in enumerate(cols)]

"""Tile plan properties: exact cover, fixed tile size, edge tiles moved inward, argument checks."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from core.tiling import PixelWindow, tile_plan, tile_starts


def _cases(n: int = 150, seed: int = 0) -> list[tuple[int, int, int, int]]:
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        tile = rng.randint(1, 80)
        cases.append((rng.randint(1, 300), rng.randint(1, 300), tile, rng.randint(0, tile - 1)))
    return cases + [(512, 512, 512, 64), (513, 511, 512, 64), (1000, 1000, 512, 64), (7, 3, 512, 64)]


@pytest.mark.parametrize("width,height,tile,overlap", _cases())
def test_plan_covers_scene_exactly(width: int, height: int, tile: int, overlap: int) -> None:
    tiles = tile_plan(width, height, tile, overlap)
    cover = np.zeros((height, width), np.int32)
    for t in tiles:
        w = t.window
        assert 0 <= w.col_off and w.col_end <= width and 0 <= w.row_off and w.row_end <= height
        assert (w.width, w.height) == (min(tile, width), min(tile, height))
        cover[w.slices()] += 1
    assert cover.min() >= 1
    stride = tile - overlap
    n_cols = 1 if width <= tile else math.ceil((width - tile) / stride) + 1
    n_rows = 1 if height <= tile else math.ceil((height - tile) / stride) + 1
    assert len(tiles) == n_cols * n_rows
    assert [(t.row, t.col) for t in tiles] == [(r, c) for r in range(n_rows) for c in range(n_cols)]


@pytest.mark.parametrize("length,tile,overlap", [(L, t, o) for L, _, t, o in _cases(80, seed=1)])
def test_neighbours_overlap_at_least_overlap(length: int, tile: int, overlap: int) -> None:
    starts = tile_starts(length, tile, tile - overlap)
    assert starts == sorted(set(starts))
    for a, b in zip(starts, starts[1:]):
        assert 0 < b - a <= tile - overlap  # consecutive tiles overlap by >= overlap
    assert starts[-1] + min(tile, length) == length  # last tile ends on the edge, moved inward


def test_examples() -> None:
    assert tile_starts(1000, 512, 448) == [0, 448, 488]
    assert tile_starts(512, 512, 448) == [0]
    assert tile_starts(300, 512, 448) == [0]
    small = tile_plan(300, 200, 512, 64)
    assert [t.window for t in small] == [PixelWindow(0, 0, 300, 200)]


@pytest.mark.parametrize(
    "args", [(0, 10, 4, 0), (10, -1, 4, 0), (10, 10, 0, 0), (10, 10, 4, 4), (10, 10, 4, 5), (10, 10, 4, -1)]
)
def test_bad_arguments(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        tile_plan(*args)


def test_window_helpers() -> None:
    a, b = PixelWindow(0, 0, 10, 8), PixelWindow(5, 6, 10, 10)
    assert a.intersection(b) == PixelWindow(5, 6, 5, 2)
    assert a.intersection(PixelWindow(10, 0, 3, 3)) is None
    assert a.shift(2, 3) == PixelWindow(2, 3, 10, 8)
    assert np.zeros((8, 10))[b.slices()].shape == (2, 5)

"""Disk-backed blending: weights, exact-once writes, georeferencing, nodata, cleanup, bounded storage."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import rasterio

from core.blend import NODATA, BlendWriter, axis_weight, class_argmax, tile_weight
from core.tiling import PixelWindow, tile_plan
from tests.rasters import UTM_CRS, UTM_TRANSFORM


def _field(k: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Per-class scores defined on the whole output: every tile sees the same values."""
    return np.random.default_rng(seed).random((k, height, width)).astype(np.float32)


def _write(path: Path, width: int, height: int, tile: int, overlap: int, k: int = 5, **kw: object) -> BlendWriter:
    tiles = [t.window for t in tile_plan(width, height, tile, overlap)]
    scores = _field(k, height, width)
    writer = BlendWriter(path, width, height, [f"c{i}" for i in range(k)], tiles, UTM_CRS, UTM_TRANSFORM, overlap, **kw)
    counts = np.zeros((height, width), np.int32)
    original = writer._write_block

    def counting(bw: PixelWindow, cls: np.ndarray) -> None:
        counts[bw.slices()] += 1
        original(bw, cls)

    writer._write_block = counting  # type: ignore[method-assign]
    with writer:
        for w in tiles:
            writer.add(w, scores[(slice(None), *w.slices())])
    writer.counts = counts  # type: ignore[attr-defined]
    return writer


def test_axis_weight_ramp() -> None:
    w = axis_weight(20, True, True, overlap=8, margin=2)
    assert (w[:2] == 0).all() and (w[-2:] == 0).all() and (w[6:14] == 1).all()
    assert np.all(np.diff(w[:7]) >= 0)
    np.testing.assert_allclose(w[:8] + w[-8:], 1.0)  # two tiles overlapping by 8 sum to 1
    assert (axis_weight(20, False, False, 8, 2) == 1).all()  # scene edges keep full weight
    assert (axis_weight(20, True, True, 0, 0) == 1).all()


def _weight_cases() -> list[tuple[int, int, int, int]]:
    rng = random.Random(2)
    out = []
    for _ in range(60):
        tile = rng.randint(2, 70)
        overlap = rng.randint(0, tile - 1)
        out.append((rng.randint(1, 250), tile, overlap, rng.choice([overlap // 4, max(0, (overlap - 1) // 2)])))
    return out


@pytest.mark.parametrize("length,tile,overlap,margin", _weight_cases())
def test_every_pixel_gets_weight(length: int, tile: int, overlap: int, margin: int) -> None:
    total = np.zeros((1, length), np.float32)
    for t in tile_plan(length, 1, tile, overlap):
        total[t.window.slices()] += tile_weight(t.window, length, 1, overlap, margin)
    assert total.min() > 0


@pytest.mark.parametrize("size,tile,overlap", [((150, 110), 48, 12), ((40, 30), 64, 16), ((97, 200), 32, 0)])
def test_every_pixel_written_exactly_once(tmp_path: Path, size: tuple[int, int], tile: int, overlap: int) -> None:
    width, height = size
    writer = _write(tmp_path / "out.tif", width, height, tile, overlap, block=32)
    assert (writer.counts == 1).all()  # type: ignore[attr-defined]
    with rasterio.open(tmp_path / "out.tif") as ds:
        mask = ds.read(1)
    # every tile saw the same scores, so the blend is their argmax whatever the weights
    np.testing.assert_array_equal(mask, np.argmax(_field(5, height, width), axis=0))


@pytest.mark.parametrize("size,tile,overlap", [((300, 260), 128, 16), ((150, 110), 48, 12), ((97, 200), 64, 0)])
def test_blocks_one_tile_covers_are_written_as_the_weighted_blend_would(tmp_path: Path, size: tuple[int, int],
                                                                        tile: int, overlap: int) -> None:
    """Tiles with scores of their own (as a model's differ where tiles overlap): the map equals the weighted mean
    computed in memory, with the blocks that one tile covers alone written without the accumulator."""
    width, height, k = *size, 4
    tiles = [t.window for t in tile_plan(width, height, tile, overlap)]
    rng = np.random.default_rng(1)
    own = [rng.random((k, t.height, t.width), dtype=np.float32) for t in tiles]
    total, weights = np.zeros((k, height, width), np.float64), np.zeros((height, width), np.float64)
    for t, s in zip(tiles, own):
        w = tile_weight(t, width, height, overlap, overlap // 4)
        total[(slice(None), *t.slices())] += s * w
        weights[t.slices()] += w
    with BlendWriter(tmp_path / "m.tif", width, height, [f"c{i}" for i in range(k)], tiles, UTM_CRS, UTM_TRANSFORM,
                     overlap, block=32) as writer:
        for t, s in zip(tiles, own):
            writer.add(t, s)
    assert writer.blocks_direct > 0 and writer.blocks_written == writer.nbx * writer.nby
    with rasterio.open(tmp_path / "m.tif") as ds:
        mask = ds.read(1)
    expected = np.argmax(total / weights, axis=0)
    close = np.sort(total / weights, axis=0)
    tie = (close[-1] - close[-2]) < 1e-5  # float32 sums may order near-ties differently
    assert np.array_equal(mask[~tie], expected[~tie]) and tie.mean() < 0.001


def test_output_georeferencing_and_colour_table(tmp_path: Path) -> None:
    _write(tmp_path / "out.tif", 70, 50, 32, 8, k=3, colors=[(1, 2, 3), (4, 5, 6), (7, 8, 9)], block=16)
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert (ds.count, ds.dtypes[0], ds.nodata) == (1, "uint8", NODATA)
        assert ds.crs.to_epsg() == 32618 and ds.transform == UTM_TRANSFORM
        assert ds.profile["tiled"] and ds.compression.name.lower() == "deflate"
        cmap = ds.colormap(1)
        assert cmap[1] == (4, 5, 6, 255) and cmap[NODATA][3] == 0
        assert json.loads(ds.tags()["classes"]) == ["c0", "c1", "c2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_invalid_pixels_become_nodata(tmp_path: Path) -> None:
    tiles = [t.window for t in tile_plan(60, 40, 32, 8)]
    with BlendWriter(tmp_path / "m.tif", 60, 40, ["a", "b"], tiles, UTM_CRS, UTM_TRANSFORM, 8, block=16) as w:
        for t in tiles:
            valid = np.ones((t.height, t.width), bool)
            valid[: max(0, 10 - t.row_off)] = False  # first 10 rows of the output are nodata
            w.add(t, np.ones((2, t.height, t.width), np.float32), valid)
    with rasterio.open(tmp_path / "m.tif") as ds:
        mask = ds.read(1)
    assert (mask[:10] == NODATA).all() and (mask[10:] == 0).all()


def test_error_removes_partial_files(tmp_path: Path) -> None:
    tiles = [t.window for t in tile_plan(64, 64, 32, 8)]
    with pytest.raises(KeyError):
        with BlendWriter(tmp_path / "x.tif", 64, 64, ["a"], tiles, UTM_CRS, UTM_TRANSFORM, 8, block=16) as w:
            w.add(tiles[0], np.ones((1, 32, 32), np.float32))
            raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []
    writer = BlendWriter(tmp_path / "y.tif", 64, 64, ["a"], tiles, UTM_CRS, UTM_TRANSFORM, 8, block=16)
    writer.add(tiles[0], None)
    with pytest.raises(RuntimeError, match="blocks were written"):
        writer.close()  # tiles missing
    assert list(tmp_path.iterdir()) == []


def test_bad_tiles_and_scores(tmp_path: Path) -> None:
    tiles = [t.window for t in tile_plan(64, 64, 32, 8)]
    with BlendWriter(tmp_path / "z.tif", 64, 64, ["a", "b"], tiles, "", UTM_TRANSFORM, 8, block=16) as w:
        with pytest.raises(ValueError, match="not in the plan"):
            w.add(PixelWindow(1, 1, 32, 32), None)
        with pytest.raises(ValueError, match="shape"):
            w.add(tiles[0], np.ones((3, 32, 32), np.float32))
        for t in tiles:
            w.add(t, None)
    with pytest.raises(ValueError, match="cover"):
        BlendWriter(tmp_path / "q.tif", 64, 64, ["a"], tiles[:1], "", UTM_TRANSFORM, 8, block=16)
    with pytest.raises(FileNotFoundError):
        BlendWriter(tmp_path / "w.tif", 64, 64, ["a"], tiles, "", UTM_TRANSFORM, 8, workdir=str(tmp_path / "none"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.tif"]  # no partial file left
    with pytest.raises(ValueError, match="outside"):
        BlendWriter(tmp_path / "q.tif", 64, 64, ["a"], [*tiles, PixelWindow(40, 40, 32, 32)], "", UTM_TRANSFORM, 8)
    with pytest.raises(ValueError, match="classes"):
        BlendWriter(tmp_path / "q.tif", 64, 64, [], tiles, "", UTM_TRANSFORM, 8)


def test_accumulator_storage_is_about_one_tile_row(tmp_path: Path) -> None:
    block, tile = 16, 48
    writer = _write(tmp_path / "big.tif", 400, 400, tile, 16, k=2, block=block)
    slots_per_block_row = -(-400 // block)
    block_rows_per_tile_row = tile // block + 2
    assert writer._n_slots <= slots_per_block_row * block_rows_per_tile_row
    assert writer._n_slots < writer.nbx * writer.nby / 3


@pytest.mark.parametrize("k", [1, 2, 8, 255])
def test_class_argmax_equals_numpy_argmax_with_ties_and_nans(k: int) -> None:
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 4, (k, 37, 53)).astype(np.float32)  # few values: many ties between classes
    scores[rng.random(scores.shape) < 0.02] = np.nan  # NaN is the maximum for np.argmax (first NaN wins)
    scores[:, 0, :] = -np.inf
    got = class_argmax(scores)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, np.argmax(scores, axis=0))

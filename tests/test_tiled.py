"""Tiled dense inference: tiled == untiled, the threaded pipeline == a one-thread reference, exact-once writes,
georeferencing, AOI, nodata, bounded read-ahead, bands passed through, cancel, errors from threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy.ndimage import uniform_filter

from core import blend
from core.errors import Cancelled, InputError
from core.raster import read_window, scene_profile
from core.tiled import segment_raster
from core.tiling import PixelWindow, tile_plan
from tests.rasters import GEO_CRS, GEO_TRANSFORM, UTM_TRANSFORM, make_raster

CLASSES = ["water", "field", "marsh", "town"]


def box_conv(batch: np.ndarray) -> np.ndarray:
    """Two stacked 3x3 box filters with zero padding (receptive radius 2) -> 4 class scores."""
    f = uniform_filter(batch, size=(1, 1, 3, 3), mode="constant")
    f = uniform_filter(f, size=(1, 1, 3, 3), mode="constant")  # [B, 3, h, w]
    rest = 1.0 - f.mean(axis=1, keepdims=True) + 0.3 * f[:, :1] * f[:, 1:2]
    return np.concatenate([f, rest], axis=1).astype(np.float32)  # [B, 4, h, w]


def _float_raster(path: Path, width: int, height: int, **kw: object) -> str:
    data = np.random.default_rng(7).random((3, height, width)).astype(np.float32)
    return make_raster(path, width, height, 3, "float32", data=data, **kw)


def _untiled(path: str, window: PixelWindow | None = None) -> np.ndarray:
    profile = scene_profile(path)
    with rasterio.open(path) as ds:
        win = window or PixelWindow(0, 0, ds.width, ds.height)
    rgb, _ = read_window(path, win, profile)
    return np.argmax(box_conv(rgb[None])[0], axis=0)


def _read(path: str) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as ds:
        return ds.read(1), {"crs": ds.crs, "transform": ds.transform, "shape": (ds.height, ds.width)}


@pytest.mark.parametrize("size,tile,overlap", [((203, 171), 64, 16), ((150, 150), 48, 8), ((45, 30), 64, 16)])
def test_tiled_equals_untiled(tmp_path: Path, size: tuple[int, int], tile: int, overlap: int) -> None:
    src = _float_raster(tmp_path / "s.tif", *size)
    result = segment_raster(src, box_conv, CLASSES, tmp_path / "m.tif", tile=tile, overlap=overlap, batch_size=3)
    mask, _ = _read(result.mask_path)
    np.testing.assert_array_equal(mask, _untiled(src))


def test_too_small_overlap_differs(tmp_path: Path) -> None:
    """Control for the property above: without overlap the zero padding shows at tile seams."""
    src = _float_raster(tmp_path / "s.tif", 203, 171)
    result = segment_raster(src, box_conv, CLASSES, tmp_path / "m.tif", tile=64, overlap=0)
    assert (_read(result.mask_path)[0] != _untiled(src)).any()


def test_every_pixel_written_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_raster(tmp_path / "s.tif", 300, 260, 3)
    counts = np.zeros((260, 300), np.int32)
    original = blend.BlendWriter._write_block

    def counting(self: blend.BlendWriter, bw: PixelWindow, cls: np.ndarray) -> None:
        counts[bw.slices()] += 1
        original(self, bw, cls)

    monkeypatch.setattr(blend.BlendWriter, "_write_block", counting)
    segment_raster(src, box_conv, CLASSES, tmp_path / "m.tif", tile=96, overlap=24)
    assert (counts == 1).all()


@pytest.mark.parametrize("crs,transform", [("EPSG:32618", UTM_TRANSFORM), (GEO_CRS, GEO_TRANSFORM)])
def test_georeferencing_round_trip(tmp_path: Path, crs: str, transform: rasterio.Affine) -> None:
    src = make_raster(tmp_path / "s.tif", 130, 90, 4, "uint16", crs=crs, transform=transform)
    result = segment_raster(src, box_conv, CLASSES, tmp_path / "out" / "m.tif", tile=64, overlap=16)
    mask, meta = _read(result.mask_path)
    assert meta["crs"] == rasterio.crs.CRS.from_user_input(crs) and meta["transform"] == transform
    assert meta["shape"] == (90, 130) and result.crs == crs and result.tiles == 6
    assert result.profile.name == "naip" and result.profile.ready and set(np.unique(mask)) <= {0, 1, 2, 3}


def test_aoi_window(tmp_path: Path) -> None:
    src = _float_raster(tmp_path / "s.tif", 200, 160)
    win = PixelWindow(37, 21, 120, 99)
    result = segment_raster(src, box_conv, CLASSES, tmp_path / "m.tif", tile=48, overlap=12, window=win)
    mask, meta = _read(result.mask_path)
    assert meta["transform"] == UTM_TRANSFORM * rasterio.Affine.translation(37, 21)
    np.testing.assert_array_equal(mask, _untiled(src, win))
    with pytest.raises(InputError, match="not inside"):
        segment_raster(src, box_conv, CLASSES, tmp_path / "n.tif", window=PixelWindow(150, 0, 100, 10))


def test_polygon_mask(tmp_path: Path) -> None:
    src = _float_raster(tmp_path / "s.tif", 100, 80)
    win = PixelWindow(10, 10, 80, 60)
    keep = np.zeros((60, 80), bool)
    keep[:, :30] = True  # e.g. an AOI polygon covering the window's west part
    calls: list[int] = []

    def predict(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return box_conv(batch)

    out = segment_raster(src, predict, CLASSES, tmp_path / "m.tif", tile=32, overlap=8, window=win, mask=keep)
    mask, _ = _read(out.mask_path)
    assert (mask[:, 30:] == blend.NODATA).all() and (mask[:, :30] < 4).all()
    assert sum(calls) == 3 * 2  # 3 tile rows x the 2 tile columns that touch the kept part
    with pytest.raises(ValueError, match="mask shape"):
        segment_raster(src, box_conv, CLASSES, tmp_path / "x.tif", window=win, mask=keep[:10])


def test_nodata_and_empty_tiles(tmp_path: Path) -> None:
    src = make_raster(tmp_path / "s.tif", 128, 96, 3, "uint16", nodata=0, nodata_box=(0, 0, 64, 96))
    calls: list[int] = []

    def predict(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return box_conv(batch)

    segment_raster(src, predict, CLASSES, tmp_path / "m.tif", tile=32, overlap=0, batch_size=4)
    mask, _ = _read(str(tmp_path / "m.tif"))
    assert (mask[:, :64] == blend.NODATA).all() and (mask[:, 64:] < 4).all()
    assert sum(calls) == 6  # only the 2 x 3 tiles with valid pixels were predicted


def test_progress_cancel_and_errors(tmp_path: Path) -> None:
    src = make_raster(tmp_path / "s.tif", 128, 128, 3)
    seen: list[float] = []
    segment_raster(src, box_conv, CLASSES, tmp_path / "m.tif", tile=32, overlap=0, progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) == 1 + 4 and seen == sorted(seen)

    polls: list[int] = []

    def cancel_on_second() -> bool:
        polls.append(1)
        return len(polls) >= 2

    out = tmp_path / "cancel"
    with pytest.raises(Cancelled):
        segment_raster(src, box_conv, CLASSES, out / "m.tif", tile=32, overlap=0, cancelled=cancel_on_second)
    assert len(polls) == 2 and list(out.iterdir()) == []

    with pytest.raises(ValueError, match="predict returned shape"):
        segment_raster(src, lambda b: b[:, :2], CLASSES, out / "m.tif", tile=32, overlap=0)
    assert list(out.iterdir()) == []
    with pytest.raises(InputError, match="not found"):
        segment_raster(tmp_path / "nope.tif", box_conv, CLASSES, out / "m.tif")


def _reference(src: str, predict: object, k: int, tile: int, overlap: int, batch: int, profile: object,
               window: PixelWindow | None = None, mask: np.ndarray | None = None) -> np.ndarray:
    """The straightforward pipeline: one thread, the whole accumulator in memory, weights made per tile."""
    with rasterio.open(src) as ds:
        win = window or PixelWindow(0, 0, ds.width, ds.height)
    tiles = [t.window for t in tile_plan(win.width, win.height, tile, overlap)]
    acc = np.zeros((k + 1, win.height, win.width), np.float32)
    for i in range(0, len(tiles), batch):
        group = tiles[i : i + batch]
        reads = [read_window(src, w.shift(win.col_off, win.row_off), profile) for w in group]
        valid = [v & mask[w.slices()] if mask is not None else v for (_, v), w in zip(reads, group)]
        todo = [j for j, v in enumerate(valid) if v.any()]
        scores = predict(np.stack([reads[j][0] for j in todo])) if todo else None  # type: ignore[operator]
        for n, j in enumerate(todo):
            w = group[j]
            weight = blend.tile_weight(w, win.width, win.height, overlap, overlap // 4) * valid[j]
            acc[(slice(None, k), *w.slices())] += scores[n] * weight
            acc[(k, *w.slices())] += weight
    cls = np.argmax(acc[:k], axis=0).astype(np.uint8)
    cls[acc[k] <= 0] = blend.NODATA
    return cls


def _softmax_conv(batch: np.ndarray) -> np.ndarray:
    """box_conv as probabilities (what a real predictor gives); ties between classes are unlikely."""
    e = np.exp(4.0 * box_conv(batch))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("tile,overlap,batch", [(64, 16, 3), (48, 20, 1), (40, 8, 5)])
def test_threaded_pipeline_is_bit_identical_to_a_one_thread_reference(tmp_path: Path, tile: int, overlap: int,
                                                                     batch: int) -> None:
    src = make_raster(tmp_path / "s.tif", 211, 173, 4, "uint16", nodata=0, nodata_box=(0, 0, 50, 60), seed=3)
    win = PixelWindow(9, 5, 190, 160)
    keep = np.ones((160, 190), bool)
    keep[100:, 120:] = False  # an AOI polygon's cut
    result = segment_raster(src, _softmax_conv, CLASSES, tmp_path / "m.tif", tile=tile, overlap=overlap,
                            batch_size=batch, window=win, mask=keep)
    expected = _reference(src, _softmax_conv, 4, tile, overlap, batch, result.profile, win, keep)
    mask, _ = _read(result.mask_path)
    assert (mask == blend.NODATA).any() and (mask < 4).any()  # both kinds of pixel are compared
    np.testing.assert_array_equal(mask, expected)


def test_read_ahead_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """However fast the reads, at most a few batches are read ahead of the model: memory stays flat."""
    import core.tiled as tiled

    src = make_raster(tmp_path / "s.tif", 256, 256, 3)
    reads: list[int] = []
    ahead: list[int] = []
    monkeypatch.setattr(tiled, "read_window", lambda *a: (reads.append(1), read_window(*a))[1])

    def predict(batch: np.ndarray) -> np.ndarray:
        ahead.append(len(reads) - (len(ahead) + 1) * 2)  # tiles read beyond the ones predicted so far
        return box_conv(batch)

    segment_raster(src, predict, CLASSES, tmp_path / "m.tif", tile=32, overlap=0, batch_size=2)
    assert len(ahead) == 32 and max(ahead) <= (tiled.READ_AHEAD + 1) * 2


def test_bands_pass_through_to_predict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that gives more than 3 bands (a spectral model's input) reaches predict unchanged."""
    import core.tiled as tiled

    src = _float_raster(tmp_path / "s.tif", 100, 90)

    def five_bands(*args: object) -> tuple[np.ndarray, np.ndarray]:
        rgb, valid = read_window(*args)  # type: ignore[arg-type]
        return np.concatenate([rgb, rgb[:2] * 0.5]), valid  # [5, h, w]

    seen: list[int] = []

    def predict(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.shape[1])
        return box_conv(batch[:, :3])

    monkeypatch.setattr(tiled, "read_window", five_bands)
    result = segment_raster(src, predict, CLASSES, tmp_path / "m.tif", tile=48, overlap=12)
    assert set(seen) == {5}
    np.testing.assert_array_equal(_read(result.mask_path)[0], _untiled(src))


@pytest.mark.parametrize("where", ["read", "blend"])
def test_errors_in_the_threads_reach_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    import threading

    import core.tiled as tiled

    src = make_raster(tmp_path / "s.tif", 160, 160, 3)
    calls: list[int] = []

    def failing(*args: object, **kw: object) -> object:
        calls.append(1)
        if len(calls) == 7:
            raise OSError(f"disk gone while {where}ing")
        return (read_window if where == "read" else original)(*args, **kw)  # type: ignore[operator]

    original = blend.BlendWriter.add
    if where == "read":
        monkeypatch.setattr(tiled, "read_window", failing)
    else:
        monkeypatch.setattr(blend.BlendWriter, "add", failing)
    before = threading.active_count()
    out = tmp_path / "out"
    with pytest.raises(OSError, match=f"disk gone while {where}ing"):
        segment_raster(src, box_conv, CLASSES, out / "m.tif", tile=32, overlap=0, batch_size=2)
    assert list(out.iterdir()) == [] and threading.active_count() == before  # no partial file, no thread left

"""Tiled dense inference over a raster: windowed reads, batched predict and disk-backed blending, overlapped."""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np
import rasterio
from rasterio.windows import transform as window_transform

from core.blend import BlendWriter
from core.errors import InputError
from core.progress import CancelledFn, ProgressFn, check_cancelled, no_progress
from core.raster import BandProfile, compute_stretch, detect_profile, open_dataset, open_raster, read_window
from core.tiling import PixelWindow, tile_plan

# predict(batch float32 [B, C, h, w] in 0..1) -> float32 [B, K, h, w] probabilities or logits (C: what
# read_window gives, e.g. 3 for RGB, more for a spectral model)
PredictFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class TiledResult:
    """What :func:`segment_raster` wrote and how long it took."""

    mask_path: str  # single-band uint8 class-index GeoTIFF (255 = nodata)
    classes: list[str]
    tiles: int
    seconds: float
    window: PixelWindow  # the analysed window of the source raster
    crs: str
    transform: tuple[float, float, float, float, float, float]  # of the mask
    profile: BandProfile
    timings: dict[str, float] = field(default_factory=dict)  # stretch, read, predict, blend, wait seconds
    scratch_bytes: int = 0  # largest size of the blending accumulator file

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "mask_path": self.mask_path, "classes": self.classes, "tiles": self.tiles,
            "seconds": self.seconds, "window": self.window.to_list(), "crs": self.crs,
            "transform": list(self.transform), "profile": self.profile.to_dict(), "timings": self.timings,
            "scratch_bytes": self.scratch_bytes,
        }  # fmt: skip


def segment_raster(
    path: Union[str, os.PathLike[str]],
    predict: PredictFn,
    classes: Sequence[str],
    out_path: Union[str, os.PathLike[str]],
    tile: int = 512,
    overlap: int = 64,
    batch_size: int = 4,
    window: Optional[PixelWindow] = None,
    profile: Optional[BandProfile] = None,
    progress: Optional[ProgressFn] = None,
    cancelled: Optional[CancelledFn] = None,
    margin: Optional[int] = None,
    workdir: Optional[str] = None,
    colors: Optional[Sequence[tuple[int, int, int]]] = None,
    cache_mb: int = 64,
    mask: Optional[np.ndarray] = None,
) -> TiledResult:
    """Segment a raster tile by tile into a class-index GeoTIFF with the source georeferencing.

    Tiles of a :func:`core.tiling.tile_plan` over ``window`` are read one window at a time (a reader thread
    reads ahead), predicted ``batch_size`` at a time in the caller's thread, and blended across overlaps by
    :class:`core.blend.BlendWriter` (in a writer thread, in plan order, so the output is the same as one
    thread's), with bounded queues between, so memory does not grow with the scene. Tiles without valid
    pixels are not predicted. ``progress``, ``cancelled`` and ``predict`` are called in the caller's thread.

    Args:
        path: source raster.
        predict: backend-agnostic model call, ``[B, C, h, w]`` float32 0..1 -> ``[B, K, h, w]`` (C: the
            bands :func:`core.raster.read_window` gives for ``profile``).
        classes: the K class names.
        out_path: output GeoTIFF (written under a temporary name, renamed at the end).
        tile: tile size in pixels.
        overlap: overlap between tiles in pixels.
        batch_size: tiles per ``predict`` call.
        window: area to analyse (e.g. from :func:`core.aoi.resolve_aoi`); default the whole scene.
        profile: band profile; default detected, its stretch computed once from an overview.
        progress: ``(fraction, message)`` callback, called once per batch.
        cancelled: polled once per batch; when it returns True, partial output is removed and
            :class:`core.errors.Cancelled` is raised.
        margin: pixels at inner tile edges with no blending weight (default ``overlap // 4``).
        workdir: folder for the blending accumulator file (default the system temp folder).
        colors: RGB per class for the colour table.
        cache_mb: GDAL block cache for this call, in MiB.
        mask: bool ``[h, w]`` over ``window`` (e.g. an AOI polygon); False pixels are written as nodata and
            tiles with no True pixel are not predicted.

    Returns:
        A :class:`TiledResult`.

    Raises:
        InputError: unreadable raster or a window outside it.
        Cancelled: when ``cancelled()`` returned True.
    """
    start = time.perf_counter()
    report = progress or no_progress
    info = open_raster(path)
    win = window or info.window
    if win.width <= 0 or win.height <= 0 or win.intersection(info.window) != win:
        raise InputError(f"The window {win.to_list()} is not inside the {info.width}x{info.height} raster.")
    if mask is not None and mask.shape != (win.height, win.width):
        raise ValueError(f"mask shape {mask.shape} != window shape {(win.height, win.width)}")
    profile = profile or detect_profile(info)
    tiles = tile_plan(win.width, win.height, tile, overlap)  # in window pixels
    transform = tuple(window_transform(_window(win), rasterio.Affine(*info.transform)))[:6]
    timings = {"stretch": 0.0, "read": 0.0, "predict": 0.0, "blend": 0.0, "wait": 0.0}
    report(0.0, f"segmenting {len(tiles)} tiles")
    with rasterio.Env(GDAL_CACHEMAX=cache_mb * 2**20), open_dataset(path) as ds:
        if not profile.ready:
            t0 = time.perf_counter()
            profile = compute_stretch(ds, profile)
            timings["stretch"] = time.perf_counter() - t0
        windows = [t.window for t in tiles]
        batches = [windows[i : i + batch_size] for i in range(0, len(windows), batch_size)]
        with BlendWriter(
            out_path, win.width, win.height, classes, windows, info.crs, transform, overlap,
            margin=margin, colors=colors, workdir=workdir,
        ) as writer:  # fmt: skip
            read = functools.partial(_read_batch, ds=ds, win=win, mask=mask, profile=profile, timings=timings)
            blend = functools.partial(_blend_batch, writer=writer, timings=timings)
            with _Pipeline(read, batches, blend) as pipe:
                done = 0
                for batch in pipe:
                    check_cancelled(cancelled)
                    _predict_batch(batch, predict, len(classes), timings)
                    pipe.write(batch)
                    done += len(batch.windows)
                    report(done / len(windows), f"tile {done}/{len(windows)}")
                pipe.finish()
                timings["wait"] = pipe.waited
            scratch = writer.accumulator_bytes
    return TiledResult(
        mask_path=os.fspath(out_path), classes=list(classes), tiles=len(tiles),
        seconds=time.perf_counter() - start, window=win, crs=info.crs, transform=transform,  # type: ignore[arg-type]
        profile=profile, timings=timings, scratch_bytes=scratch,
    )  # fmt: skip


def _window(w: PixelWindow) -> rasterio.windows.Window:
    return rasterio.windows.Window(w.col_off, w.row_off, w.width, w.height)


@dataclass
class _Batch:
    """One batch of tiles on its way through the pipeline (windows relative to the analysed window)."""

    windows: list[PixelWindow]
    pixels: list[np.ndarray]  # [C, h, w] float32 0..1 per tile to predict (dropped once predicted)
    valid: list[np.ndarray]  # bool [h, w] per tile
    todo: list[int]  # indices of the tiles with valid pixels: the ones predicted, in ``pixels`` order
    scores: Optional[np.ndarray] = None  # [len(todo), K, h, w], set by the predict step


def _read_batch(
    batch: list[PixelWindow],
    ds: Any,
    win: PixelWindow,
    mask: Optional[np.ndarray],
    profile: BandProfile,
    timings: dict[str, float],
) -> _Batch:
    """Read one batch of tiles (reader thread): whatever bands ``read_window`` gives, and their valid masks."""
    t0 = time.perf_counter()
    reads = [read_window(ds, w.shift(win.col_off, win.row_off), profile) for w in batch]
    if mask is not None:
        reads = [(pixels, valid & mask[w.slices()]) for (pixels, valid), w in zip(reads, batch)]
    todo = [i for i, (_, valid) in enumerate(reads) if valid.any()]
    timings["read"] += time.perf_counter() - t0
    return _Batch(batch, [reads[i][0] for i in todo], [valid for _, valid in reads], todo)


def _predict_batch(batch: _Batch, predict: PredictFn, k: int, timings: dict[str, float]) -> None:
    """Predict the tiles with valid pixels (caller's thread) and check the shape of what came back."""
    t0 = time.perf_counter()
    if batch.todo:
        x = np.stack(batch.pixels)  # [B, C, h, w]
        batch.pixels = []
        scores = np.asarray(predict(x), dtype=np.float32)  # [B, K, h, w]
        if scores.shape != (len(batch.todo), k, *x.shape[2:]):
            raise ValueError(f"predict returned shape {scores.shape}, expected {(len(batch.todo), k, *x.shape[2:])}")
        batch.scores = scores
    timings["predict"] += time.perf_counter() - t0


def _blend_batch(batch: _Batch, writer: BlendWriter, timings: dict[str, float]) -> None:
    """Add one predicted batch to the blend, in plan order (writer thread)."""
    t0 = time.perf_counter()
    slot = {i: n for n, i in enumerate(batch.todo)}
    for i, w in enumerate(batch.windows):
        if i in slot and batch.scores is not None:
            writer.add(w, batch.scores[slot[i]], batch.valid[i])
        else:
            writer.add(w, None)
    timings["blend"] += time.perf_counter() - t0


READ_AHEAD = 2  # batches read ahead of the model
WRITE_BEHIND = 1  # predicted batches waiting for the blending thread
POLL_S = 0.05  # how often a blocked stage looks whether the pipeline stopped
_END = object()  # end of the stream, in a queue


class _Pipeline:
    """``read`` in a thread -> the caller's loop (predict) -> ``write`` in a thread, over bounded queues.

    Iterating yields ``read(item)`` for each of ``items`` in order; :meth:`write` hands a result to the writer
    thread, which calls ``write`` on each in the same order; :meth:`finish` waits for the last one. The queues
    hold at most ``READ_AHEAD`` and ``WRITE_BEHIND`` batches, so memory does not grow with the scene. GDAL reads,
    onnxruntime/torch and numpy release the GIL, so the three stages overlap. An error in either thread stops
    the pipeline and is raised in the caller (by the iteration, :meth:`write` or :meth:`finish`); leaving the
    ``with`` block stops and joins both threads, so nothing writes after the caller has moved on.
    """

    def __init__(self, read: Callable[[Any], Any], items: Sequence[Any], write: Callable[[Any], None]) -> None:
        self._read, self._items, self._write = read, items, write
        self._reads: queue.Queue[Any] = queue.Queue(READ_AHEAD)
        self._writes: queue.Queue[Any] = queue.Queue(WRITE_BEHIND)
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self.waited = 0.0  # seconds the caller waited for reads or for room in the write queue
        self._reader = threading.Thread(target=self._read_all, name="earthask-read", daemon=True)
        self._writer = threading.Thread(target=self._write_all, name="earthask-write", daemon=True)

    def __enter__(self) -> _Pipeline:
        self._reader.start()
        self._writer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._reader.join()
        self._writer.join()

    def __iter__(self) -> Iterator[Any]:
        while True:
            t0 = time.perf_counter()
            item = self._get(self._reads)
            self.waited += time.perf_counter() - t0
            self._raise()
            if item is None or item is _END:
                return
            yield item

    def write(self, item: Any) -> None:
        """Queue ``item`` for the writer thread (waits while the queue is full)."""
        t0 = time.perf_counter()
        self._put(self._writes, item)
        self.waited += time.perf_counter() - t0
        self._raise()

    def finish(self) -> None:
        """Wait until the writer has written every queued item; raise its error if it failed."""
        self._put(self._writes, _END)
        self._writer.join()
        self._raise()

    def _read_all(self) -> None:
        try:
            for item in self._items:
                if not self._put(self._reads, self._read(item)):
                    return
        except BaseException as exc:  # raised again in the caller
            self._fail(exc)
            return
        self._put(self._reads, _END)

    def _write_all(self) -> None:
        try:
            while (item := self._get(self._writes)) is not _END and item is not None:
                self._write(item)
        except BaseException as exc:  # raised again in the caller
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        self._errors.append(exc)
        self._stop.set()

    def _raise(self) -> None:
        if self._errors:
            raise self._errors[0]

    def _put(self, q: queue.Queue[Any], item: Any) -> bool:
        """Put unless the pipeline stopped first; True when put."""
        while not self._stop.is_set():
            try:
                q.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue[Any]) -> Any:
        """The next item, or None when the pipeline stopped first."""
        while not self._stop.is_set():
            try:
                return q.get(timeout=POLL_S)
            except queue.Empty:
                continue
        return None

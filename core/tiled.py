"""Tiled dense inference over a raster: windowed reads, batched predict, disk-backed blending."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
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

# predict(batch float32 [B, 3, h, w] in 0..1) -> float32 [B, K, h, w] probabilities or logits
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
    timings: dict[str, float] = field(default_factory=dict)  # stretch, read, predict, blend seconds
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

    Tiles of a :func:`core.tiling.tile_plan` over ``window`` are read one window at a time, predicted
    ``batch_size`` at a time, and blended across overlaps by :class:`core.blend.BlendWriter`, so memory
    does not grow with the scene. Tiles without valid pixels are not predicted.

    Args:
        path: source raster.
        predict: backend-agnostic model call, ``[B, 3, h, w]`` float32 0..1 -> ``[B, K, h, w]``.
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
    timings = {"stretch": 0.0, "read": 0.0, "predict": 0.0, "blend": 0.0}
    report(0.0, f"segmenting {len(tiles)} tiles")
    with rasterio.Env(GDAL_CACHEMAX=cache_mb * 2**20), open_dataset(path) as ds:
        if not profile.ready:
            t0 = time.perf_counter()
            profile = compute_stretch(ds, profile)
            timings["stretch"] = time.perf_counter() - t0
        windows = [t.window for t in tiles]
        with BlendWriter(
            out_path, win.width, win.height, classes, windows, info.crs, transform, overlap,
            margin=margin, colors=colors, workdir=workdir,
        ) as writer:  # fmt: skip
            for i in range(0, len(windows), batch_size):
                check_cancelled(cancelled)
                batch = windows[i : i + batch_size]
                _run_batch(ds, batch, win, mask, profile, predict, len(classes), writer, timings)
                done = min(i + batch_size, len(windows))
                report(done / len(windows), f"tile {done}/{len(windows)}")
            scratch = writer.accumulator_bytes
    return TiledResult(
        mask_path=os.fspath(out_path), classes=list(classes), tiles=len(tiles),
        seconds=time.perf_counter() - start, window=win, crs=info.crs, transform=transform,  # type: ignore[arg-type]
        profile=profile, timings=timings, scratch_bytes=scratch,
    )  # fmt: skip


def _window(w: PixelWindow) -> rasterio.windows.Window:
    return rasterio.windows.Window(w.col_off, w.row_off, w.width, w.height)


def _run_batch(
    ds: Any,
    batch: list[PixelWindow],
    win: PixelWindow,
    mask: Optional[np.ndarray],
    profile: BandProfile,
    predict: PredictFn,
    k: int,
    writer: BlendWriter,
    timings: dict[str, float],
) -> None:
    """Read, predict and blend one batch of tiles (windows relative to ``win``)."""
    t0 = time.perf_counter()
    reads = [read_window(ds, w.shift(win.col_off, win.row_off), profile) for w in batch]
    if mask is not None:
        reads = [(rgb, valid & mask[w.slices()]) for (rgb, valid), w in zip(reads, batch)]
    todo = [i for i, (_, valid) in enumerate(reads) if valid.any()]
    t1 = time.perf_counter()
    scores: Optional[np.ndarray] = None
    if todo:
        x = np.stack([reads[i][0] for i in todo])  # [B, 3, h, w]
        scores = np.asarray(predict(x), dtype=np.float32)  # [B, K, h, w]
        if scores.shape != (len(todo), k, *x.shape[2:]):
            raise ValueError(f"predict returned shape {scores.shape}, expected {(len(todo), k, *x.shape[2:])}")
    t2 = time.perf_counter()
    for i, w in enumerate(batch):
        if i in todo and scores is not None:
            writer.add(w, scores[todo.index(i)], reads[i][1])
        else:
            writer.add(w, None)
    timings["read"] += t1 - t0
    timings["predict"] += t2 - t1
    timings["blend"] += time.perf_counter() - t2

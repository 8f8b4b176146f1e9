"""Training windows sampled inside and around label polygons, read as the engine reads them (scene stretch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.labels.rasterise import UNLABELLED, LabelGrid, Labels, rasterise
from core.tiling import PixelWindow

MAX_CENTRES = 20_000  # labelled pixels kept per class and raster as window centres


@dataclass
class LabelledRaster:
    """One raster with its band profile (engine stretch) and the training labels on its grid."""

    path: str
    profile: Any  # core.raster.BandProfile with the scene stretch
    grid: LabelGrid
    centres: dict[int, np.ndarray]  # label class -> [N, 2] (row, col) of labelled pixels

    @property
    def spectral(self) -> bool:
        return self.profile.spectral is not None


def prepare(path: str | Path, labels: Labels, spectral: bool, rng: np.random.Generator) -> LabelledRaster:
    """The raster's engine band profile and the ``labels`` burnt onto its grid, with window centres per class."""
    from core.raster import compute_stretch, detect_profile, open_raster

    info = open_raster(path)
    profile = compute_stretch(info.path, detect_profile(info, spectral=spectral))
    import rasterio

    with rasterio.open(info.path) as ds:
        frame = labels.frame.to_crs(ds.crs) if ds.crs is not None and labels.frame.crs != ds.crs else labels.frame
        grid = rasterise(Labels(frame, labels.names), (ds.height, ds.width), ds.transform, ds.crs)
    centres = {}
    for k in range(len(labels.names)):
        rc = np.argwhere(grid.classes == k)
        if len(rc) > MAX_CENTRES:
            rc = rc[rng.choice(len(rc), MAX_CENTRES, replace=False)]
        if len(rc):
            centres[k] = rc
    return LabelledRaster(str(info.path), profile, grid, centres)


def window_around(row: int, col: int, crop: int, height: int, width: int, rng: np.random.Generator) -> PixelWindow:
    """A ``crop`` square (smaller rasters: the raster) holding (row, col), shifted at random by up to crop/4,
    clipped to the raster: the labelled pixel is inside it, with ground around it."""
    h, w = min(crop, height), min(crop, width)
    jitter = crop // 4
    r0 = row - h // 2 + int(rng.integers(-jitter, jitter + 1))
    c0 = col - w // 2 + int(rng.integers(-jitter, jitter + 1))
    r0 = int(np.clip(r0, max(0, row - h + 1), min(height - h, row)))
    c0 = int(np.clip(c0, max(0, col - w + 1), min(width - w, col)))
    return PixelWindow(c0, r0, w, h)


def sample_batch(rasters: list[LabelledRaster], n_classes: int, batch: int, crop: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(images [B, C, crop, crop] float32, labels [B, crop, crop] int64, -1 unlabelled)``, class-balanced:
    each window is centred near a pixel of a label class drawn uniformly; random flips and quarter turns.

    Rasters smaller than ``crop`` are padded with zeros (unlabelled)."""
    from core.raster import read_window

    images, targets = [], []
    while len(images) < batch:
        k = int(rng.integers(n_classes))
        have = [r for r in rasters if k in r.centres]
        if not have:
            continue
        r = have[int(rng.integers(len(have)))]
        row, col = r.centres[k][int(rng.integers(len(r.centres[k])))]
        height, width = r.grid.classes.shape
        win = window_around(int(row), int(col), crop, height, width, rng)
        image, valid = read_window(r.path, win, r.profile)
        lab = r.grid.classes[win.row_off:win.row_off + win.height, win.col_off:win.col_off + win.width].astype(np.int64)
        lab = np.where(valid, lab, UNLABELLED)
        pad = ((0, crop - win.height), (0, crop - win.width))
        image = np.pad(image, ((0, 0), *pad))
        lab = np.pad(lab, pad, constant_values=UNLABELLED)
        turns, flip = int(rng.integers(4)), bool(rng.integers(2))
        image, lab = np.rot90(image, turns, axes=(1, 2)), np.rot90(lab, turns)
        if flip:
            image, lab = image[:, :, ::-1], lab[:, ::-1]
        images.append(np.ascontiguousarray(image, np.float32))
        targets.append(np.ascontiguousarray(lab))
    return np.stack(images), np.stack(targets)

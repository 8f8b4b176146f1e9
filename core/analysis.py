"""The analysed area of one request: window, band profile, land-cover mask and its statistics."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

from core.aoi import resolve_aoi
from core.errors import InputError
from core.raster import BandProfile, RasterInfo, compute_stretch, detect_profile, open_raster, read_overview
from core.stats import SceneStats
from core.tiling import PixelWindow

AOILike = Union[str, Sequence[float], None]
NODATA = 255


@dataclass
class Area:
    """Where a request looks: the raster, the pixel window of the AOI and its polygon mask."""

    info: RasterInfo
    window: PixelWindow
    bounds: tuple[float, float, float, float]  # of the window, raster CRS
    mask: Optional[np.ndarray]  # bool [h, w] inside the AOI polygon; None: the whole window
    profile: BandProfile  # with the scene stretch computed once

    @property
    def key(self) -> tuple[Any, ...]:
        """Identifies the area and the file's version, for caching segmentations."""
        st = os.stat(self.info.path)
        poly = None if self.mask is None else hash(self.mask.tobytes())
        return (self.info.path, st.st_mtime_ns, st.st_size, tuple(self.window.to_list()), poly,
                tuple(self.profile.rgb_bands), self.profile.spectral)


def locate(raster: str, aoi: AOILike, bands: Optional[Sequence[int]] = None, sensor: Optional[str] = None,
           spectral: bool = False) -> Area:
    """Open the raster, choose its bands and place the AOI on it (whole scene when ``aoi`` is None or empty).

    ``bands`` (1-based red, green, blue) and ``sensor`` are the user's choice; see :func:`core.imagery.choose_bands`.
    ``spectral``: also find its NIR/SWIR bands for the multispectral path (see :mod:`core.imagery.spectral`).

    Raises:
        InputError: missing/corrupt raster, bands it does not have, an unknown sensor, AOI outside the scene.
    """
    if not raster or not str(raster).strip():
        raise InputError("No raster was given.")
    info = open_raster(raster)
    if aoi is None or (isinstance(aoi, str) and not aoi.strip()):
        window, bounds, mask = info.window, _bounds(info, info.window), None
    else:
        placed = resolve_aoi(info, aoi)
        window, bounds, mask = placed.window, placed.bounds, placed.mask
    profile = compute_stretch(info.path, detect_profile(info, sensor, tuple(bands) if bands else None, spectral))
    return Area(info, window, bounds, mask, profile)


def _bounds(info: RasterInfo, w: PixelWindow) -> tuple[float, float, float, float]:
    """The window's envelope in the raster CRS, from its four corners (a rotated raster's too)."""
    from core.geo import pixel_box_to_crs

    return pixel_box_to_crs((w.col_off, w.row_off, w.col_end, w.row_end), info.transform)


def measure(mask_path: str, classes: Sequence[str], min_object_m2: float) -> SceneStats:
    """Statistics in map units of a class mask GeoTIFF (decimated above 16 Mpx, and says so).

    Objects are counted from 4 pixels (and ``min_object_m2``), as answers and grounding count them.
    """
    from core.landcover.grid import MIN_PIXELS
    from core.stats import stats_from_mask_file

    return stats_from_mask_file(mask_path, classes, nodata=NODATA, min_object_m2=min_object_m2,
                                min_object_px=MIN_PIXELS)


def image_for_model(area: Area, size: int, window: Optional[PixelWindow] = None) -> np.ndarray:
    """The AOI (or ``window``) as the square float32 [3, size, size] image the language side sees.

    A decimated read keeps memory bounded; the aspect ratio is not kept (0-999 box coordinates refer
    to the whole window either way). Pixels outside the AOI polygon are set to 0.
    """
    win = window or area.window
    rgb, valid = read_overview(area.info.path, area.profile, max_size=max(size, 1) * 2, window=win)
    if area.mask is not None and window is None:
        rows = np.linspace(0, area.mask.shape[0] - 1, rgb.shape[1]).round().astype(int)
        cols = np.linspace(0, area.mask.shape[1] - 1, rgb.shape[2]).round().astype(int)
        rgb = rgb * area.mask[np.ix_(rows, cols)][None]
    if not valid.any():
        raise InputError("The area of interest holds only nodata pixels.")
    return _resize(rgb, size)


def _resize(rgb: np.ndarray, size: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(rgb))[None]
    mode = "area" if rgb.shape[1] >= size and rgb.shape[2] >= size else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(x, size=(size, size), mode=mode, **kwargs)[0].clamp(0, 1).numpy()

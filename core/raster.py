"""Open any GDAL raster, pick a stretched RGB band profile, and read windows or overviews of it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional, Union

import numpy as np
import rasterio
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from core.errors import InputError
from core.imagery.spectral import SpectralBands
from core.tiling import PixelWindow

PathLike = Union[str, os.PathLike[str]]
Source = Union[PathLike, DatasetReader]
SUPPORTED_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")

@dataclass
class RasterInfo:
    """What a raster is: size, bands, type, georeferencing."""

    path: str
    width: int
    height: int
    count: int
    dtype: str
    crs: str  # "EPSG:32618", WKT when there is no EPSG code, "" when not georeferenced
    epsg: Optional[int]
    transform: tuple[float, float, float, float, float, float]  # rasterio Affine order a, b, c, d, e, f
    nodata: Optional[float]
    res: tuple[float, float]  # pixel size (x, y) in CRS units
    descriptions: list[str]  # one per band, "" when unset
    wavelengths: list[Optional[float]] = field(default_factory=list)  # band centres in µm, from metadata

    @property
    def window(self) -> PixelWindow:
        """The whole scene as a window."""
        return PixelWindow(0, 0, self.width, self.height)


@dataclass
class BandProfile:
    """Which three bands make the RGB composite and how they are stretched to 0..1."""

    name: str  # sensor ("sentinel2", "naip", ...; see core.imagery.sensors), "custom" or "first3"
    rgb_bands: tuple[int, int, int]  # 1-based source bands shown as red, green, blue
    scale: str  # "uint8": value / 255; "percentile": (value - low) / (high - low), clipped
    detected_from: str  # "override", "sensor", "descriptions", "wavelengths", "file name" or "band count"
    percentiles: tuple[float, float] = (2.0, 98.0)
    low: Optional[tuple[float, float, float]] = None  # per channel, from compute_stretch
    high: Optional[tuple[float, float, float]] = None
    nodata: Optional[float] = None
    note: str = ""  # the guess made when the file does not say, and how to override it
    spectral: Optional[SpectralBands] = None  # the multispectral bands read beside RGB (see read_window)

    @property
    def ready(self) -> bool:
        """True when tiles can be read: no stretch needed or the scene stretch is computed."""
        return self.scale == "uint8" or (self.low is not None and self.high is not None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, as recorded in ``Provenance.band_profile``."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if self.spectral is not None:
            out["spectral"] = {**out["spectral"], "bands": list(self.spectral.bands), "text": self.spectral.text()}
        return out


@contextmanager
def open_dataset(src: Source) -> Iterator[DatasetReader]:
    """Yield ``src`` if it is an open dataset, else open it (InputError: missing or not a raster) and close after."""
    if isinstance(src, DatasetReader):
        yield src
        return
    path = os.fspath(src)
    local = not path.startswith("/vsi") and not re.match(r"^[A-Za-z0-9_]{2,}:", path)  # not a GDAL URI
    if local and not os.path.exists(path):
        raise InputError(f"Raster not found: {path}.")
    try:
        ds = rasterio.open(path)
    except RasterioError as e:
        raise InputError(f"Not a readable raster: {path} ({_first_line(e)}).") from e
    with ds:
        yield ds


def _first_line(e: BaseException) -> str:
    """The first line of GDAL's own message (rasterio chains it as the cause)."""
    inner = e.__cause__ if e.__cause__ is not None else e
    return (str(inner).strip().splitlines() or [type(inner).__name__])[0].rstrip(".")


def open_raster(path: PathLike) -> RasterInfo:
    """Open a raster and describe it, checking it can be read.

    Raises:
        InputError: missing file, not a raster, no bands, unsupported type, or a corrupt file.
    """
    with open_dataset(path) as ds:
        name = os.fspath(path)
        if ds.count == 0 or ds.width == 0 or ds.height == 0:
            raise InputError(f"The raster {name} has no pixels; open one of its subdatasets instead.")
        if ds.dtypes[0] not in SUPPORTED_DTYPES:
            raise InputError(f"The raster {name} has an unsupported pixel type {ds.dtypes[0]}.")
        _guarded(ds, lambda: ds.read(1, window=Window(0, 0, 1, 1)))
        epsg = ds.crs.to_epsg() if ds.crs else None
        crs = f"EPSG:{epsg}" if epsg else (ds.crs.to_wkt() if ds.crs else "")
        transform = tuple(float(v) for v in ds.transform[:6])
        nodata = None if ds.nodata is None else float(ds.nodata)
        res = (float(ds.res[0]), float(ds.res[1]))
        descriptions = [d or "" for d in ds.descriptions]
        return RasterInfo(
            name, ds.width, ds.height, ds.count, ds.dtypes[0], crs, epsg, transform, nodata, res, descriptions,
            _wavelengths(ds),
        )  # type: ignore[arg-type]


def _wavelengths(ds: DatasetReader) -> list[Optional[float]]:
    """Band centre wavelengths in µm from band metadata or an ENVI header (see
    :func:`core.imagery.detect.wavelengths_from_metadata`)."""
    from core.imagery.detect import wavelengths_from_metadata

    return wavelengths_from_metadata([ds.tags(i) for i in range(1, ds.count + 1)], ds.tags(ns="ENVI"))


def _guarded(ds: DatasetReader, read: Any) -> Any:
    """Run a read, turning GDAL read failures into one-sentence InputErrors."""
    try:
        return read()
    except RasterioError as e:
        raise InputError(f"Could not read {ds.name}; the file looks corrupt ({_first_line(e)}).") from e


def detect_profile(
    info: RasterInfo, name: Optional[str] = None, rgb_bands: Optional[tuple[int, int, int]] = None,
    spectral: bool = False,
) -> BandProfile:
    """Pick the RGB bands of a raster (see :func:`core.imagery.choose_bands`); the stretch is set later by
    :func:`compute_stretch`.

    ``name`` is a sensor (``--sensor``), ``rgb_bands`` 1-based red, green, blue (``--bands``); without them the
    bands come from band descriptions, wavelengths, a product name in the file name, or the band count (with a
    note saying which guess was made when the count fits several sensors).

    Raises:
        InputError: unknown sensor, or bands the raster does not have.
    """
    from core.imagery import choose_bands

    choice = choose_bands(info.count, info.descriptions, info.wavelengths, info.path, rgb_bands, name)
    scale = "uint8" if info.dtype == "uint8" else "percentile"
    extra = None
    if spectral:
        from core.imagery.spectral import spectral_bands

        extra = spectral_bands(info.count, choice.rgb, choice.profile, choice.source, info.descriptions,
                               info.wavelengths, info.dtype, info.path)
    return BandProfile(choice.profile, choice.rgb, scale, choice.source, nodata=info.nodata, note=choice.note,
                       spectral=extra)


def _read_bands(
    ds: DatasetReader,
    profile: BandProfile,
    window: Optional[PixelWindow],
    out_hw: Optional[tuple[int, int]],
    resampling: Resampling = Resampling.nearest,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw RGB bands as float32 [3, h, w] and the validity mask [h, w]."""
    win = None
    if window is not None:
        if window.intersection(PixelWindow(0, 0, ds.width, ds.height)) != window:
            raise ValueError(f"window {window} is outside the {ds.width}x{ds.height} raster")
        win = Window(window.col_off, window.row_off, window.width, window.height)
    idx = list(profile.rgb_bands)
    shape = None if out_hw is None else (3, *out_hw)
    kw: dict[str, Any] = {"window": win, "resampling": resampling}
    data = _guarded(ds, lambda: ds.read(idx, out_shape=shape, out_dtype="float32", **kw))  # [3, h, w]
    valid = np.all(np.isfinite(data), axis=0)  # [h, w]
    flags = ds.mask_flag_enums[idx[0] - 1]
    if MaskFlags.nodata in flags and ds.nodata is not None and not np.isnan(ds.nodata):
        valid &= ~np.all(data == np.float32(ds.nodata), axis=0)
    elif MaskFlags.all_valid not in flags:  # per-dataset mask or alpha band
        valid &= _guarded(ds, lambda: ds.read_masks(idx[0], out_shape=out_hw, **kw)) > 0
    return data, valid


def _stretch(data: np.ndarray, valid: np.ndarray, profile: BandProfile) -> np.ndarray:
    if not profile.ready:
        raise ValueError("the band profile has no scene stretch yet; call compute_stretch() first")
    if profile.scale == "uint8":
        out = data * np.float32(1.0 / 255.0)
    else:
        low = np.asarray(profile.low, np.float32)[:, None, None]
        span = np.asarray(profile.high, np.float32)[:, None, None] - low
        out = (data - low) / span
    np.clip(out, 0.0, 1.0, out=out)
    out[:, ~valid] = 0.0
    return out


def overview_shape(width: int, height: int, max_size: int) -> tuple[int, int]:
    """``(h, w)`` of a decimated read whose longer side is at most ``max_size`` (never upsampled)."""
    scale = min(1.0, max_size / max(width, height))
    return max(1, round(height * scale)), max(1, round(width * scale))


def compute_stretch(src: Source, profile: BandProfile, max_size: int = 1024) -> BandProfile:
    """The profile with its per-channel percentile stretch computed once from an overview read.

    uint8 profiles pass through unchanged (values are divided by 255).
    """
    if profile.scale == "uint8":
        return profile
    with open_dataset(src) as ds:
        data, valid = _read_bands(ds, profile, None, overview_shape(ds.width, ds.height, max_size))
    low, high = [], []
    for band in data:  # [h, w]
        lo, hi = (float(v) for v in np.percentile(band[valid], profile.percentiles)) if valid.any() else (0.0, 1.0)
        low.append(lo)
        high.append(hi if hi > lo else lo + 1.0)
    return replace(profile, low=tuple(low), high=tuple(high))  # type: ignore[arg-type]


def read_window(src: Source, window: PixelWindow, profile: BandProfile) -> tuple[np.ndarray, np.ndarray]:
    """Read one window as an RGB composite, and its reflectance bands when the profile has them.

    Args:
        src: a path or an open rasterio dataset (keep one open for many tiles).
        window: pixel window inside the raster.
        profile: a band profile whose stretch is computed (see :func:`compute_stretch`).

    Returns:
        ``(image, valid)``: float32 ``[3, H, W]`` RGB in 0..1 (invalid pixels are 0) and bool ``[H, W]``; with
        ``profile.spectral``, ``[3 + SPECTRAL_CHANNELS, H, W]``: RGB, then :func:`read_reflectance`.
    """
    with open_dataset(src) as ds:
        data, valid = _read_bands(ds, profile, window, None)
        rgb = _stretch(data, valid, profile)
        if profile.spectral is None:
            return rgb, valid
        extra = read_reflectance(ds, profile.spectral, window, valid)
    return np.concatenate([rgb, extra]), valid


SPECTRAL_CHANNELS = 8  # six reflectance bands (core.imagery.spectral.SPECTRAL), then has-NIR and has-SWIR planes


def read_reflectance(src: Source, spectral: SpectralBands, window: Optional[PixelWindow],
                     valid: np.ndarray) -> np.ndarray:
    """float32 ``[8, H, W]``: blue, green, red, NIR, SWIR 1.6, SWIR 2.2 reflectance (clipped to 0..1.5, 0 where
    absent or invalid), then a plane of 1s when NIR is present and one when SWIR is (else 0s)."""
    h, w = valid.shape
    out = np.zeros((SPECTRAL_CHANNELS, h, w), np.float32)
    used = [(i, b) for i, b in enumerate(spectral.bands) if b > 0]
    win = None if window is None else Window(window.col_off, window.row_off, window.width, window.height)
    with open_dataset(src) as ds:
        data = _guarded(ds, lambda: ds.read([b for _, b in used], window=win, out_dtype="float32"))
    r = spectral.radiometry
    for k, (i, _) in enumerate(used):
        out[i] = np.clip((data[k] * np.float32(r.gain) + np.float32(r.offset)) / np.float32(r.sun), 0.0, 1.5)
    out[:6, ~valid] = 0.0
    out[6:8] = np.asarray(spectral.present, np.float32)[:, None, None]
    return out


def read_overview(
    src: Source,
    profile: BandProfile,
    max_size: int = 1024,
    window: Optional[PixelWindow] = None,
    resampling: str = "average",
) -> tuple[np.ndarray, np.ndarray]:
    """A decimated read of the scene (or of ``window``) whose longer side is at most ``max_size``.

    Uses GDAL overviews when present; memory is bounded by ``max_size``, not by the scene. The default
    ``"average"`` resampling skips nodata pixels (a pixel is invalid only when all its sources are).

    Returns:
        ``(rgb, valid)`` as in :func:`read_window`.
    """
    with open_dataset(src) as ds:
        w = window or PixelWindow(0, 0, ds.width, ds.height)
        shape = overview_shape(w.width, w.height, max_size)
        data, valid = _read_bands(ds, profile, w, shape, Resampling[resampling])
    return _stretch(data, valid, profile), valid


def scene_profile(path: PathLike, name: Optional[str] = None, max_size: int = 1024) -> BandProfile:
    """Detect the band profile of a raster and compute its scene stretch in one call."""
    return compute_stretch(path, detect_profile(open_raster(path), name), max_size)


@dataclass
class ClassMask:
    """A class-index mask (band 1) as read, maybe decimated: what statistics and objects are measured on."""

    mask: np.ndarray  # uint8 [H, W]
    transform: tuple[float, float, float, float, float, float]  # of the array as read (scaled when decimated)
    crs: Any
    nodata: Optional[int]  # the file's nodata value, if any
    factor: int  # 1, or the decimation: each pixel stands for factor**2 source pixels
    size: tuple[int, int]  # (width, height) of the file


def read_class_mask(path: PathLike, max_pixels: int = 16_000_000) -> ClassMask:
    """Read a class-index mask GeoTIFF, decimated (nearest) above ``max_pixels`` so memory stays bounded.

    A decimated read scales the transform, so per-pixel ground areas stay right.
    Raises:
        InputError: the file cannot be opened.
    """
    try:
        src = rasterio.open(os.fspath(path))
    except RasterioError as exc:
        raise InputError(f"Cannot open the mask {os.fspath(path)}: {exc}") from exc
    with src:
        factor = max(1, int(np.ceil(np.sqrt(src.width * src.height / max_pixels))))
        out_h, out_w = -(-src.height // factor), -(-src.width // factor)
        mask = src.read(1, out_shape=(out_h, out_w), resampling=Resampling.nearest)
        transform = src.transform * src.transform.scale(src.width / out_w, src.height / out_h)
        nodata = int(src.nodata) if src.nodata is not None else None
        return ClassMask(mask, tuple(transform)[:6], src.crs, nodata, factor,  # type: ignore[arg-type]
                         (src.width, src.height))

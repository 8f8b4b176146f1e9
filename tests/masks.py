"""A small seeded land-cover mask with hand-placed objects, written as a GeoTIFF with a real CRS.

Layout (60 x 90 pixels, EARTHVQA class indices; nodata 255 in columns 72..89, so the valid envelope is
columns 0..72): agriculture everywhere with seeded forest specks, a road along row 20, and

- water A: rows 2..8, cols 2..12 (60 px, north-west); water B: rows 40..56, cols 40..60 (320 px,
  south-east of the valid envelope, though centre-east of the whole grid); water C: a diagonal chain of
  3 pixels joined (8-connectivity only) to a 2x2 block, 7 px, centre; water D: a 3-pixel speck;
- building b1: rows 17..20, cols 10..14 (12 px, touching the road); b2: rows 26..31, cols 10..15 (25 px,
  6 px below the road); b3: rows 50..56, cols 5..15 (60 px, far from it).
"""

from __future__ import annotations

import os
from typing import Union

import numpy as np
import rasterio
from affine import Affine

from models.config import EARTHVQA_CLASSES

CLASSES = list(EARTHVQA_CLASSES)
WATER, BUILDING, ROAD, FOREST, FARM = (CLASSES.index(c) for c in ("water", "building", "road", "forest",
                                                                    "agriculture"))
HEIGHT, WIDTH, VALID_WIDTH = 60, 90, 72
WATER_BOXES = {"A": (2, 2, 12, 8), "B": (40, 40, 60, 56)}  # pixel c1, r1, c2, r2
WATER_PX = {"A": 60, "B": 320, "C": 7, "D": 3}
BUILDING_BOXES = {"b1": (10, 17, 14, 20), "b2": (10, 26, 15, 31), "b3": (5, 50, 15, 56)}


def scene_mask(seed: int = 0) -> np.ndarray:
    """The mask described in the module docstring (uint8 [60, 90])."""
    rng = np.random.default_rng(seed)
    mask = np.full((HEIGHT, WIDTH), FARM, dtype=np.uint8)
    mask[rng.random((HEIGHT, WIDTH)) < 0.03] = FOREST
    mask[20, :] = ROAD
    for c1, r1, c2, r2 in WATER_BOXES.values():
        mask[r1:r2, c1:c2] = WATER
    for r, c in ((25, 30), (26, 31), (27, 32)):
        mask[r, c] = WATER
    mask[28:30, 33:35] = WATER
    mask[10, 40:43] = WATER
    for c1, r1, c2, r2 in BUILDING_BOXES.values():
        mask[r1:r2, c1:c2] = BUILDING
    mask[:, VALID_WIDTH:] = 255
    return mask


def write_mask(path: Union[str, os.PathLike], mask: np.ndarray, crs: str, transform: Affine) -> str:
    """Write a class-index mask GeoTIFF (band 1, nodata 255) and return its path."""
    profile = {"driver": "GTiff", "width": mask.shape[1], "height": mask.shape[0], "count": 1, "dtype": "uint8",
               "crs": crs, "transform": transform, "nodata": 255}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(mask, 1)
    return os.fspath(path)

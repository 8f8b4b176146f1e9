"""Hand-made class masks of two dates and a noise control on one UTM grid, with their from-to areas by hand.

8 x 10 pixels of 10 m (100 m2 each) in EPSG:32618 (``PIXEL_M`` changes the pixel size). First date:
agriculture, a forest block (rows 0-2, cols 0-3, 12 px) and a pond (rows 5-6, cols 6-8, 6 px). Second date:
the forest's east half (cols 2-3) cleared to barren (6 px), the pond gone to agriculture (6 px), a building
(rows 4-5, cols 0-1, 4 px), forest creeping into row 3 (cols 0-4, 5 px), and nodata in col 9 rows 0-3 (4 px
of agriculture not compared). Control (the first date segmented again, shifted): forest also in cols 4-5 rows 0-2
(6 px of agriculture -> forest, a disagreement of 6/80 = 7.5%, taken both ways).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from affine import Affine

from tests.masks import BUILDING, CLASSES, FARM, FOREST, WATER, write_mask

BARREN = CLASSES.index("barren")
H, W = 8, 10
UTM = "EPSG:32618"
# From-to pixels by hand (from, to) -> pixels; every other pair is 0.
HAND_PX = {(FOREST, FOREST): 6, (FOREST, BARREN): 6, (WATER, FARM): 6, (FARM, BUILDING): 4, (FARM, FOREST): 5,
           (FARM, FARM): 49}
COMPARED_PX = 76
NOISE_PX = 6  # agriculture -> forest in the control, of 80 pixels


def masks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first date, second date, control) uint8 [8, 10]."""
    before = np.full((H, W), FARM, dtype=np.uint8)
    before[0:3, 0:4] = FOREST
    before[5:7, 6:9] = WATER
    after = before.copy()
    after[0:3, 2:4] = BARREN
    after[5:7, 6:9] = FARM
    after[4:6, 0:2] = BUILDING
    after[3, 0:5] = FOREST
    after[0:4, 9] = 255
    control = before.copy()
    control[0:3, 4:6] = FOREST
    return before, after, control


def write_masks(folder: Path, pixel_m: float = 10.0) -> tuple[str, str, str]:
    """The three masks as GeoTIFFs in ``folder``; pixels of ``pixel_m`` metres."""
    t = Affine(pixel_m, 0.0, 435730.0, 0.0, -pixel_m, 4179460.0)
    before, after, control = masks()
    return (write_mask(folder / "before_lc.tif", before, UTM, t), write_mask(folder / "after_lc.tif", after, UTM, t),
            write_mask(folder / "control_lc.tif", control, UTM, t))

"""The real engine with a colour rule in place of the segmenter's weights, for the change tests: red is barren,
green forest, blue water, so a painted change is a change the maps show (a random model sees none)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.engine import Engine


def colour_rule(x: np.ndarray, classes: list[str]) -> np.ndarray:
    """[B, 3, h, w] 0..1 -> scores [B, K, h, w]."""
    scores = np.full((x.shape[0], len(classes), *x.shape[2:]), -10.0, dtype=np.float32)
    for band, name in enumerate(("barren", "forest", "water")):
        scores[:, classes.index(name)] = x[:, band]
    return scores


def RuleEngine(config: Any) -> Engine:  # noqa: N802 - an engine factory, named like the class it stands in for
    """An :class:`core.engine.Engine` whose segmentation is :func:`colour_rule`."""
    engine = Engine(config)
    engine._predict = lambda x: colour_rule(x, list(engine.classes))
    return engine


def painted(forest_block: bool) -> np.ndarray:
    """uint8 [3, 80, 96]: forest (green) north, water (blue) south, a barren (red) strip east; ``forest_block``:
    rows 10-34, cols 10-40 of the forest are barren (720 px)."""
    rng = np.random.default_rng(3)
    cls = np.zeros((80, 96), dtype=np.int64)  # 0 forest, 1 water, 2 barren
    cls[44:, :] = 1
    cls[:, 80:] = 2
    if forest_block:
        cls[10:34, 10:40] = 2
    colours = np.array([[40, 200, 40], [40, 40, 200], [200, 40, 40]], dtype=np.int64)
    rgb = colours[cls].transpose(2, 0, 1) + rng.integers(-10, 10, (3, 80, 96))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def two_dates(folder: Path) -> tuple[str, str]:
    """A UTM scene at 10 m (``before.tif``) and its second date with a forest block cleared, reprojected to
    EPSG:4326 (``after.tif``)."""
    from rasters import make_raster

    from tests.change.test_change_grid import _reprojected

    before = make_raster(folder / "before.tif", width=96, height=80, data=painted(False), nodata=0)
    after_utm = make_raster(folder / "after_utm.tif", width=96, height=80, data=painted(True), nodata=0)
    return before, _reprojected(after_utm, folder / "after.tif", "EPSG:4326", (0.0001, 0.0001))

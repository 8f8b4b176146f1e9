"""Held-out polygons are whole blocks of ground, apart from the training ones, and the same for a seed."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from core.labels.rasterise import Labels
from core.labels.split import spatial_split


def field_of_polygons(seed: int = 0, n: int = 120) -> Labels:
    """``n`` 20-40 m squares scattered over 2 km, two classes, in UTM metres."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 2000, (n, 2))
    side = rng.uniform(20, 40, n)
    names = np.where(rng.random(n) < 0.5, "water", "forest")
    frame = gpd.GeoDataFrame({"label": names, "polygon_id": np.arange(n)},
                             geometry=[box(x, y, x + s, y + s) for (x, y), s in zip(xy, side)], crs="EPSG:32618")
    return Labels(frame, ["forest", "water"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_training_polygon_is_near_a_held_out_one(seed: int) -> None:
    labels = field_of_polygons(seed)
    split = spatial_split(labels, held_out=0.3, block_m=500, gap_m=60, seed=seed)
    geoms = labels.frame.set_index("polygon_id").geometry
    assert split.held_out and split.train
    assert set(split.train) | set(split.held_out) | set(split.dropped) == set(range(len(geoms)))
    assert not set(split.train) & set(split.held_out)
    held = geoms.loc[split.held_out].union_all()
    assert min(geoms.loc[i].distance(held) for i in split.train) >= 60
    for name in labels.names:  # every class is both trained on and scored
        kinds = set(labels.frame.set_index("polygon_id").loc[split.held_out, "label"])
        assert name in kinds
        assert name in set(labels.frame.set_index("polygon_id").loc[split.train, "label"])


def test_whole_blocks_are_held_out_and_the_split_is_seeded() -> None:
    labels = field_of_polygons(3)
    a = spatial_split(labels, held_out=0.25, block_m=500, gap_m=0.001, seed=7)
    assert a == spatial_split(labels, held_out=0.25, block_m=500, gap_m=0.001, seed=7)
    cent = labels.frame.geometry.centroid
    x0, y0 = labels.frame.total_bounds[:2]  # blocks are laid from the labels' south-west corner
    block = (np.floor((cent.x - x0) / 500) * 10 + np.floor((cent.y - y0) / 500)).to_numpy()
    held_blocks = set(block[a.held_out])
    assert all(block[i] not in held_blocks for i in a.train)  # a block is held out whole
    share = labels.frame.geometry.area[a.held_out].sum() / labels.frame.geometry.area.sum()
    assert 0.1 < share < 0.6

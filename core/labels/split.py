"""Spatially separated held-out polygons: whole blocks of ground are held out, and no training polygon lies
within a gap of a held-out one, so neighbours never sit on both sides of the split."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.labels.rasterise import Labels


@dataclass
class Split:
    """Polygon ids for training and for held-out scoring, and those dropped as neighbours of held-out ones."""

    train: list[int]
    held_out: list[int]
    dropped: list[int] = field(default_factory=list)
    block_m: float = 0.0
    gap_m: float = 0.0


def block_of(x: np.ndarray, y: np.ndarray, x0: float, y0: float, block_m: float) -> np.ndarray:
    """Block index of each point: ``(floor((x - x0) / block), floor((y - y0) / block))`` as one int64 key."""
    bx = np.floor((x - x0) / block_m).astype(np.int64)
    by = np.floor((y - y0) / block_m).astype(np.int64)
    return bx * 1_000_003 + by


def spatial_split(labels: Labels, held_out: float = 0.25, block_m: float = 0.0, gap_m: float = 0.0,
                  seed: int = 0) -> Split:
    """Hold out whole square blocks of ground, visited in a random (seeded) order: a block is held out when a
    label class in it has fewer than ``held_out`` of its polygons held out yet, when it keeps the held-out
    polygons under 1.25 times that share of all, and when every class keeps a training polygon. Each polygon goes
    with the block of its centroid. Training polygons closer than ``gap_m`` to a held-out one are dropped
    (neither trained on nor scored), so no neighbours sit on both sides of the split.

    Shares count polygons, not area: one huge polygon (the sea) would otherwise decide the whole split.

    Args:
        labels: the polygons, in a projected CRS (metres).
        held_out: the share of each class's polygons to hold out, in (0, 1).
        block_m: block side; 0 takes an eighth of the labels' extent along its longer side.
        gap_m: the gap; 0 takes a tenth of the block side.
        seed: random seed of the block order.
    """
    frame = labels.frame
    if not 0 < held_out < 1:
        raise ValueError(f"held_out must be in (0, 1), got {held_out}")
    x0, y0, x1, y1 = frame.total_bounds
    block_m = block_m or max(x1 - x0, y1 - y0, 1e-9) / 8
    gap_m = gap_m if gap_m > 0 else block_m / 10
    cent = frame.geometry.centroid
    keys = block_of(cent.x.to_numpy(), cent.y.to_numpy(), x0, y0, block_m)
    names = frame["label"].to_numpy()
    total = {n: int((names == n).sum()) for n in labels.names}
    held = {n: 0 for n in labels.names}
    count = 0
    chosen: set[int] = set()
    rng = np.random.default_rng(seed)
    for b in rng.permutation(np.unique(keys)):
        inside = keys == b
        here = {n: int((names[inside] == n).sum()) for n in labels.names}
        wanted = any(here[n] and held[n] < held_out * total[n] for n in labels.names)
        too_many = count and count + inside.sum() > 1.25 * held_out * len(frame)
        emptied = any(here[n] and held[n] + here[n] >= total[n] for n in labels.names)
        if wanted and not too_many and not emptied:
            chosen.add(int(b))
            count += int(inside.sum())
            for n in labels.names:
                held[n] += here[n]
    test_mask = np.isin(keys, list(chosen))
    ids = frame["polygon_id"].to_numpy()
    held_geoms = frame.geometry[test_mask]
    train, dropped = [], []
    if len(held_geoms):
        from shapely import STRtree

        tree = STRtree(list(held_geoms))
        for geom, pid, is_test in zip(frame.geometry, ids, test_mask):
            if is_test:
                continue
            near = tree.query(geom, predicate="dwithin", distance=gap_m)
            (dropped if len(near) else train).append(int(pid))
    else:
        train = [int(p) for p in ids]
    return Split(train, [int(p) for p in ids[test_mask]], dropped, float(block_m), float(gap_m))

"""What the question, caption and expression generators know about a scene: core.stats plus instances.

Class fractions, counts (8-connected components), centroid positions and adjacency come from
:func:`core.stats.compute_stats`, so generated answers agree with what the engine measures. Added here:
per-instance boxes and positions, class-to-class distances in metres, and water-body types (the
generator's kind for procedural scenes; for derived masks a shape rule on connected components).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from core.stats import SceneStats, compute_stats
from models.config import EARTHVQA_CLASSES

IGNORE = 255
PRESENT_MIN_FRACTION = 0.002  # a class counts as present from 0.2% of the valid area
POSITION_WORDS = (  # [north..south][west..east], as core.stats words them
    ("north-west", "north", "north-east"),
    ("west", "centre", "east"),
    ("south-west", "south", "south-east"),
)
RIVER_ELONGATION = 4.0  # area / (max width)^2 above this: a river (channel)
LAKE_MIN_M2 = 2000.0  # compact water bodies from this area: lake, below: pond
SEA_MIN_M2 = 1e6  # water bodies from 1 km2 that touch the image edge: sea


@dataclass
class Instance:
    """One object: exact from a generator's instance map, or a connected component of a derived mask."""

    id: int
    label: str
    box: tuple[int, int, int, int]  # pixel-edge x1, y1, x2, y2 (x2, y2 exclusive)
    area_px: int
    area_m2: float
    centroid: tuple[float, float]  # pixel (col, row) of the centre of mass
    position: str
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class SceneMeasure:
    """Measured facts of one image, in the words the generators use."""

    name: str
    width: int
    height: int
    gsd: float  # metres per pixel
    mask: np.ndarray  # uint8 [H, W]
    stats: SceneStats
    fractions: dict[str, float]  # every class (background included) over valid pixels
    counts: dict[str, int]  # connected components per class (core.stats)
    positions: dict[str, str]  # class centroid position (core.stats)
    adjacent: dict[str, list[str]]
    instances: list[Instance]  # buildings and playgrounds (exact) or [] when only derived labels exist
    water_bodies: list[Instance]  # attrs["water_type"]: exact instances, else connected components
    exact_instances: bool
    envelope: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # valid pixels' c1, r1, c2, r2
    observable: tuple[str, ...] = tuple(EARTHVQA_CLASSES)  # classes the labels can express at all
    _edt: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def valid_fraction(self) -> float:
        return float(np.mean(self.mask != IGNORE))

    def present(self, cls: str) -> bool:
        return self.fractions.get(cls, 0.0) >= PRESENT_MIN_FRACTION

    def clearly_present_or_absent(self, cls: str) -> bool:
        """False in the band where presence depends on a threshold (0 < fraction < 2x the threshold)."""
        f = self.fractions.get(cls, 0.0)
        return f == 0.0 or f >= 2 * PRESENT_MIN_FRACTION

    def of(self, label: str) -> list[Instance]:
        return [i for i in self.instances if i.label == label]

    def distance_to(self, cls: str) -> np.ndarray:
        """Distance in metres from every pixel to the nearest pixel of ``cls`` (inf when absent)."""
        if cls not in self._edt:
            from scipy import ndimage

            target = self.mask == EARTHVQA_CLASSES.index(cls)
            if not target.any():
                self._edt[cls] = np.full(self.mask.shape, np.inf, dtype=np.float32)
            else:
                self._edt[cls] = (ndimage.distance_transform_edt(~target) * self.gsd).astype(np.float32)
        return self._edt[cls]

    def class_distance(self, a: str, b: str) -> float:
        """Smallest distance in metres between pixels of classes ``a`` and ``b`` (inf if either is absent)."""
        sel = self.mask == EARTHVQA_CLASSES.index(a)
        if not sel.any():
            return float("inf")
        return float(self.distance_to(b)[sel].min())

    def instance_distance(self, inst: Instance, cls: str, instance_map: Optional[np.ndarray] = None) -> float:
        """Smallest distance in metres from an instance's box pixels of its class to ``cls``."""
        x1, y1, x2, y2 = inst.box
        own = self.mask[y1:y2, x1:x2] == EARTHVQA_CLASSES.index(inst.label)
        if instance_map is not None:
            own &= instance_map[y1:y2, x1:x2] == inst.id
        return float(self.distance_to(cls)[y1:y2, x1:x2][own].min())

    def share_in_cell(self, cls: str, position: str) -> float:
        """Share of the class's pixels that lie in the 3x3 cell named ``position``."""
        sel = self.mask == EARTHVQA_CLASSES.index(cls)
        total = int(sel.sum())
        if not total:
            return 0.0
        r, c = next((i, row.index(position)) for i, row in enumerate(POSITION_WORDS) if position in row)
        c1, r1, c2, r2 = self.envelope
        xs = np.clip(((np.arange(self.width) + 0.5 - c1) / max(c2 - c1, 1e-9) * 3).astype(int), 0, 2)
        ys = np.clip(((np.arange(self.height) + 0.5 - r1) / max(r2 - r1, 1e-9) * 3).astype(int), 0, 2)
        cell = (ys[:, None] == r) & (xs[None, :] == c)
        return float((sel & cell).sum()) / total

    def near_m(self) -> float:
        """What "near" means here: 20 m, or 10 pixels on coarse imagery."""
        return max(20.0, 10.0 * self.gsd)

    def next_to_m(self) -> float:
        """What "next to" means here: 5 m, or 2 pixels on coarse imagery."""
        return max(5.0, 2.0 * self.gsd)


def position_of(col: float, row: float, env: tuple[float, float, float, float]) -> str:
    """3x3 position word of pixel (col, row) within the envelope (c1, r1, c2, r2) of the valid pixels."""
    c1, r1, c2, r2 = env
    fx = (col - c1) / (c2 - c1) if c2 > c1 else 0.5
    fy = (row - r1) / (r2 - r1) if r2 > r1 else 0.5
    return POSITION_WORDS[min(max(int(fy * 3), 0), 2)][min(max(int(fx * 3), 0), 2)]


def _envelope(valid: np.ndarray) -> tuple[float, float, float, float]:
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    if not len(rows):
        return 0.0, 0.0, float(valid.shape[1]), float(valid.shape[0])
    return float(cols[0]), float(rows[0]), cols[-1] + 1.0, rows[-1] + 1.0


def _instances_from_map(ids: np.ndarray, labels: dict[int, str], attrs: dict[int, dict], gsd: float,
                        env: tuple[float, float, float, float]) -> list[Instance]:
    from scipy import ndimage

    out = []
    objects = ndimage.find_objects(ids)
    for idx, sl in enumerate(objects, start=1):
        if sl is None or idx not in labels:
            continue
        sel = ids[sl] == idx
        rows, cols = np.nonzero(sel)
        area = int(sel.sum())
        col = float(cols.mean() + sl[1].start + 0.5)
        row = float(rows.mean() + sl[0].start + 0.5)
        box = (int(sl[1].start + cols.min()), int(sl[0].start + rows.min()),
               int(sl[1].start + cols.max() + 1), int(sl[0].start + rows.max() + 1))
        out.append(Instance(idx, labels[idx], box, area, area * gsd * gsd, (col, row),
                            position_of(col, row, env), dict(attrs.get(idx, {}))))
    return out


def water_type(area_m2: float, max_width_m: float, touches_edge: bool) -> str:
    """river (long and narrow), sea (over 1 km2 at the image edge), lake (from 2000 m2) or pond."""
    if touches_edge and area_m2 >= SEA_MIN_M2:
        return "sea"
    if max_width_m > 0 and area_m2 / max_width_m**2 >= RIVER_ELONGATION:
        return "river"
    return "lake" if area_m2 >= LAKE_MIN_M2 else "pond"


def _water_bodies(mask: np.ndarray, gsd: float, env: tuple[float, float, float, float],
                  min_px: int) -> list[Instance]:
    from scipy import ndimage

    water = mask == EARTHVQA_CLASSES.index("water")
    comps, n = ndimage.label(water, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return []
    edt = ndimage.distance_transform_edt(np.pad(water, 1))[1:-1, 1:-1]
    out = []
    for inst in _instances_from_map(comps, {i: "water" for i in range(1, n + 1)}, {}, gsd, env):
        if inst.area_px < min_px:
            continue
        x1, y1, x2, y2 = inst.box
        width_m = 2.0 * float(edt[y1:y2, x1:x2][comps[y1:y2, x1:x2] == inst.id].max()) * gsd
        edge = x1 == 0 or y1 == 0 or x2 == mask.shape[1] or y2 == mask.shape[0]
        inst.attrs = {"water_type": water_type(inst.area_m2, width_m, edge), "width_m": round(width_m, 2)}
        out.append(inst)
    return out


def measure(
    name: str,
    mask: np.ndarray,
    transform: tuple[float, ...],
    crs: str,
    instance_map: Optional[np.ndarray] = None,
    instance_labels: Optional[dict[int, str]] = None,
    instance_attrs: Optional[dict[int, dict]] = None,
    observable: Optional[Sequence[str]] = None,
) -> SceneMeasure:
    """Measure a class mask (uint8, 255 = ignore) and, when given, its exact instance map.

    ``observable``: the classes the mask can contain at all (derived 10-30 m labels never hold roads or
    playgrounds, so "no roads" would be a wrong answer, not a measurement); None: every class.
    """
    stats = compute_stats(mask, EARTHVQA_CLASSES, transform, crs, nodata=IGNORE)
    gsd = float(abs(transform[0]))
    valid = mask != IGNORE
    n_valid = max(int(valid.sum()), 1)
    hist = np.bincount(mask[valid].ravel(), minlength=len(EARTHVQA_CLASSES))
    fractions = {c: float(hist[i]) / n_valid for i, c in enumerate(EARTHVQA_CLASSES)}
    env = _envelope(valid)
    instances: list[Instance] = []
    water_bodies = []
    if instance_map is not None and instance_labels is not None:
        found = _instances_from_map(instance_map, instance_labels, instance_attrs or {}, gsd, env)
        instances = [i for i in found if i.label != "water"]
        water_bodies = [i for i in found if i.label == "water"]
        for w in water_bodies:  # the generator's own kind (a river cut by a bridge stays one river)
            w.attrs = {"water_type": w.attrs.get("kind", "pond")}
    else:
        water_bodies = _water_bodies(mask, gsd, env, min_px=max(4, int(25.0 / (gsd * gsd))))
    return SceneMeasure(
        name=name, width=mask.shape[1], height=mask.shape[0], gsd=gsd, mask=mask, stats=stats,
        fractions=fractions,
        counts={s.name: s.count for s in stats.classes},
        positions={s.name: s.position for s in stats.classes},
        adjacent={s.name: list(s.adjacent_to) for s in stats.classes},
        instances=instances,
        water_bodies=water_bodies,
        exact_instances=instance_map is not None,
        envelope=env,
        observable=tuple(observable) if observable is not None else tuple(EARTHVQA_CLASSES),
    )

"""Procedural before/after pairs with known edits and their exact from-to truth.

The first date is a procedural scene (:mod:`core.data.procedural`) with a pond painted in; the second is the
same layout with four edits: buildings added on open ground, a patch of forest cleared to barren land, the
pond drained (barren), and a block of farmland turned into housing (houses with yards). The second image is
the first one outside the edits (every unchanged pixel identical) and a second rendering inside them, matched
to the first image's brightness and contrast (new buildings are 3-9 m tall and cast shadows on the ground
beside them, which is repainted too: a shadow changes the image, not the land cover). The truth is the
pixel-exact from-to matrix of the two class masks.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from scipy import ndimage

from core.data.procedural import GAP_PX, ROOFS, C, Scene, generate_layout
from models.config import EARTHVQA_CLASSES

EDITS = ("buildings added", "forest cleared", "pond drained", "farmland to housing")
CLASSES = list(EARTHVQA_CLASSES)
_MIN_SHARE = {"forest": 0.08, "agriculture": 0.12}  # a layout needs this much of each to host the edits
_PARCELS = (C["background"], C["agriculture"], C["forest"], C["barren"])
HEIGHT_M = (3.0, 9.0)  # new buildings' heights: one to three storeys


@dataclass
class Pair:
    """Two dates of one procedural place and what changed between them."""

    name: str
    before: Scene
    after: Scene
    edits: dict[str, np.ndarray] = field(default_factory=dict)  # edit name -> bool [H, W] pixels it changed
    repainted: Optional[np.ndarray] = None  # bool [H, W] where the second image is the second rendering

    @property
    def pixel_m2(self) -> float:
        return self.before.gsd**2

    def truth(self) -> np.ndarray:
        """Area in m2 [k, k] of class i on the first date and class j on the second (exact)."""
        k = len(CLASSES)
        idx = self.before.mask.astype(np.int64) * k + self.after.mask
        return np.bincount(idx.ravel(), minlength=k * k).reshape(k, k) * self.pixel_m2

    def edit_truth(self) -> list[dict[str, Any]]:
        """Per edit: its from-to pairs and their areas in m2."""
        out = []
        for name, sel in self.edits.items():
            k = len(CLASSES)
            idx = self.before.mask[sel].astype(np.int64) * k + self.after.mask[sel]
            counts = np.bincount(idx, minlength=k * k)
            pairs = [{"from": CLASSES[i // k], "to": CLASSES[i % k], "area_m2": round(float(n) * self.pixel_m2, 3)}
                     for i, n in enumerate(counts) if n and i // k != i % k]
            out.append({"edit": name, "pairs": pairs, "area_m2": round(sum(p["area_m2"] for p in pairs), 3)})
        return out


def _free(scene: Scene) -> np.ndarray:
    """Open parcel ground, with a gap to any object, water or road."""
    objects = (scene.instance_map > 0) | ~np.isin(scene.mask, _PARCELS)
    return ~ndimage.binary_dilation(objects, iterations=GAP_PX + 1) & np.isin(scene.mask, _PARCELS)


def _site(rng: np.random.Generator, ok: np.ndarray, radius_px: float) -> Optional[tuple[int, int]]:
    """A random centre (row, col) whose disc of ``radius_px`` lies inside ``ok``; None when there is none."""
    inner = ok.copy()
    inner[0, :] = inner[-1, :] = inner[:, 0] = inner[:, -1] = False  # the scene's edge bounds a site too
    room = ndimage.distance_transform_edt(inner)
    rows, cols = np.nonzero(room > radius_px + 1)
    if not len(rows):
        return None
    i = int(rng.integers(len(rows)))
    return int(rows[i]), int(cols[i])


def _disc(shape: tuple[int, int], centre: tuple[int, int], radius_px: float) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius_px**2


def _add_building(scene: Scene, rng: np.random.Generator, box: tuple[int, int, int, int]) -> np.ndarray:
    """Paint a building (class mask, instance, render attributes) and return its pixels."""
    x1, y1, x2, y2 = box
    sel = np.zeros(scene.mask.shape, dtype=bool)
    sel[y1:y2, x1:x2] = True
    idx = int(scene.instance_map.max()) + 1
    scene.mask[sel] = C["building"]
    scene.instance_map[sel] = idx
    scene.instance_labels[idx] = "building"
    height = round(float(rng.uniform(*HEIGHT_M)), 1)
    scene.instance_attrs[idx] = {"roof": str(rng.choice(list(ROOFS))), "height_m": height, "parts": [list(box)]}
    return sel


def _buildings_on(scene: Scene, rng: np.random.Generator, ok: np.ndarray, n: int, size_m: tuple[float, float],
                  tries: int = 200) -> np.ndarray:
    """Up to ``n`` new buildings inside ``ok`` with a gap to each other; their pixels."""
    placed = np.zeros(ok.shape, dtype=bool)
    room = ok.copy()
    made = 0
    for _ in range(tries):
        if made >= n:
            break
        w, h = (max(4, int(rng.uniform(*size_m) / scene.gsd)) for _ in range(2))
        rows, cols = np.nonzero(room)
        if not len(rows):
            break
        i = int(rng.integers(len(rows)))
        y1, x1 = int(rows[i]) - h // 2, int(cols[i]) - w // 2
        if y1 < 0 or x1 < 0 or y1 + h > ok.shape[0] or x1 + w > ok.shape[1]:
            continue
        if not room[y1:y1 + h, x1:x1 + w].all():
            continue
        placed |= _add_building(scene, rng, (x1, y1, x1 + w, y1 + h))
        made += 1
        room &= ~ndimage.binary_dilation(placed, iterations=GAP_PX + 2)
    return placed


def make_pair(seed: int, size: int = 1024, name: str = "") -> Pair:
    """A before/after pair with the four edits of :data:`EDITS` (each one where the layout has room for it).

    Raises:
        ValueError: no layout with room for every edit was drawn in 100 tries (does not happen for size >= 1024).
    """
    rng = np.random.default_rng(seed)
    for _ in range(100):
        scene = generate_layout(rng, name or f"pair_{seed:04d}", size)
        shares = {c: float(np.mean(scene.mask == C[c])) for c in _MIN_SHARE}
        if all(shares[c] >= v for c, v in _MIN_SHARE.items()):
            pair = _edit(scene, rng)
            if pair is not None:
                _render(pair, rng)
                return pair
    raise ValueError(f"no layout with room for the edits in 100 tries (seed {seed}, size {size})")


def _edit(before: Scene, rng: np.random.Generator) -> Optional[Pair]:
    """Paint the pond into ``before`` and make the second date's layout; None when an edit finds no room."""
    gsd, shape = before.gsd, before.mask.shape
    taken = np.zeros(shape, dtype=bool)

    def room(cls_ok: np.ndarray) -> np.ndarray:
        return cls_ok & _free(before) & ~ndimage.binary_dilation(taken, iterations=4 * GAP_PX)

    r_pond = rng.uniform(20.0, 30.0) / gsd
    centre = _site(rng, room(np.isin(before.mask, (C["agriculture"], C["background"], C["barren"]))), r_pond)
    if centre is None:
        return None
    pond = _disc(shape, centre, r_pond)
    idx = int(before.instance_map.max()) + 1
    before.mask[pond], before.instance_map[pond] = C["water"], idx
    before.instance_labels[idx], before.instance_attrs[idx] = "water", {"kind": "pond"}
    taken |= pond
    after = copy.deepcopy(before)
    edits: dict[str, np.ndarray] = {}

    after.mask[pond], after.instance_map[pond] = C["barren"], 0
    after.instance_labels.pop(idx), after.instance_attrs.pop(idx)
    edits["pond drained"] = pond

    r_forest = rng.uniform(30.0, 45.0) / gsd
    centre = _site(rng, room(before.mask == C["forest"]), r_forest)
    if centre is None:
        return None
    cleared = _disc(shape, centre, r_forest) & (before.mask == C["forest"])
    after.mask[cleared] = C["barren"]
    taken |= cleared
    edits["forest cleared"] = cleared

    side = rng.uniform(48.0, 64.0) / gsd
    centre = _site(rng, room(before.mask == C["agriculture"]), side / math.sqrt(2))
    if centre is None:
        return None
    half = int(side / 2)
    block = np.zeros(shape, dtype=bool)
    block[centre[0] - half:centre[0] + half, centre[1] - half:centre[1] + half] = True
    after.mask[block] = C["background"]
    houses = _buildings_on(after, rng, ndimage.binary_erosion(block, iterations=GAP_PX + 1), 6, (6.0, 10.0))
    if not houses.any():
        return None
    taken |= block
    edits["farmland to housing"] = block

    ok = room(before.mask == C["background"])
    if not ok.any():
        ok = room(before.mask == C["barren"])
    added = _buildings_on(after, rng, ok, 4, (10.0, 16.0))
    if not added.any():
        return None
    edits["buildings added"] = added
    return Pair(before.name, before, after, edits)


def _render(pair: Pair, rng: np.random.Generator) -> None:
    """Render both dates: the second is the first outside the edits, a brightness-matched rendering inside."""
    from core.data.render import render

    state = rng.bit_generator.state
    pair.before.image = render(rng, pair.before)
    rng.bit_generator.state = state
    second = render(rng, pair.after).astype(np.float32)
    first = pair.before.image.astype(np.float32)
    changed = np.zeros(pair.before.mask.shape, dtype=bool)
    for sel in pair.edits.values():
        changed |= sel
    new = (pair.after.mask == C["building"]) & (pair.before.mask != C["building"])
    reach = math.ceil(HEIGHT_M[1] / math.tan(math.radians(35)) / pair.before.gsd) + 2  # longest shadow, in pixels
    inside = ndimage.binary_dilation(changed, iterations=2) | ndimage.binary_dilation(new, iterations=reach)
    pair.repainted = inside
    calm = ~ndimage.binary_dilation(inside, iterations=40)
    matched = np.empty_like(second)
    # Gain and offset per band that give the second rendering the first's mean and spread on far ground. Not a
    # least-squares fit: where the renderings' textures differ (a layer drawn on one date only shifts the random
    # stream) the fit's gain shrinks towards 0 and washes the edits out (a drained pond painted pink).
    for b in range(3):
        x, y = second[b][calm], first[b][calm]
        ok = x.size > 100 and x.std() > 0
        gain = float(y.std() / x.std()) if ok else 1.0
        offset = float(y.mean() - gain * x.mean()) if ok else 0.0
        matched[b] = second[b] * gain + offset
    out = first.copy()
    out[:, inside] = matched[:, inside]
    pair.after.image = np.clip(out + 0.5, 0, 255).astype(np.uint8)


def write_pair(pair: Pair, out: Union[str, Path]) -> dict[str, Any]:
    """Write ``before.tif``, ``after.tif`` (RGB), ``before_truth.tif``, ``after_truth.tif`` (class masks) and
    ``truth.json`` (classes, pixel size, the exact from-to matrix and each edit's pairs) into ``out``."""
    from core.data.files import write_geotiff

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    b, a = pair.before, pair.after
    assert b.image is not None and a.image is not None
    for name, scene in (("before", b), ("after", a)):
        write_geotiff(out / f"{name}.tif", scene.image, scene.crs, scene.transform)  # type: ignore[arg-type]
        write_geotiff(out / f"{name}_truth.tif", scene.mask, scene.crs, scene.transform, nodata=255)
    truth = pair.truth()
    k = len(CLASSES)
    meta = {
        "name": pair.name, "classes": CLASSES, "gsd_m": b.gsd, "crs": b.crs, "size": list(b.mask.shape),
        "layout": b.layout, "edits": pair.edit_truth(),
        "matrix": [{"from": CLASSES[i], "to": CLASSES[j], "area_m2": round(float(truth[i, j]), 3)}
                   for i in range(k) for j in range(k) if truth[i, j] > 0],
    }  # fmt: skip
    (out / "truth.json").write_text(json.dumps(meta, indent=1))
    return meta


def build_pairs(out: Union[str, Path], seed: int = 0, count: int = 3, size: int = 1024) -> list[dict[str, Any]]:
    """``count`` pairs in ``out/pair_NNNN/`` (seeds ``seed``, ``seed + 1``...); their truth, as written."""
    metas = []
    for i in range(count):
        pair = make_pair(seed + i, size, f"pair_{seed + i:04d}")
        metas.append(write_pair(pair, Path(out) / pair.name))
    return metas

"""High-resolution procedural scenes: a land-cover layout with exact instances (``core.data.render`` draws it).

A scene is ``size x size`` pixels at 0.3-0.5 m in a valid local UTM CRS. Layers are painted in order:
land-cover parcels (warped Voronoi cells: background, agriculture, forest, barren), water (a river, a
lake or a pond), roads (straight lines; a grid in towns), playgrounds, then buildings with yards.
Buildings and playgrounds are placed only on free ground with a 2-pixel gap to any other object, so
every instance is fully visible and 8-connected components of the class mask equal the instances.
numpy + scipy only; one scene takes a few tens of milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from models.config import EARTHVQA_CLASSES

C = {name: i for i, name in enumerate(EARTHVQA_CLASSES)}
LAYOUTS = ("urban", "rural", "mixed", "natural")
LAYOUT_P = (0.3, 0.35, 0.25, 0.1)
_PARCEL_P = {  # background, agriculture, forest, barren
    "urban": (0.75, 0.05, 0.1, 0.1),
    "rural": (0.12, 0.55, 0.25, 0.08),
    "mixed": (0.35, 0.3, 0.2, 0.15),
    "natural": (0.15, 0.15, 0.55, 0.15),
}
_PARCEL_CLASSES = ("background", "agriculture", "forest", "barren")
_WATER_P = {"urban": 0.35, "rural": 0.5, "mixed": 0.5, "natural": 0.75}
_BUILDINGS = {"urban": (8, 20), "mixed": (3, 11), "rural": (1, 8), "natural": (0, 3)}
_PLAYGROUND_P = {"urban": 0.55, "mixed": 0.4, "rural": 0.12, "natural": 0.04}
ROOFS = {
    "red": (0.62, 0.25, 0.2), "orange": (0.72, 0.43, 0.24), "grey": (0.53, 0.53, 0.53),
    "dark grey": (0.3, 0.31, 0.34), "white": (0.84, 0.84, 0.82), "blue": (0.27, 0.39, 0.58),
    "brown": (0.46, 0.33, 0.24), "green": (0.3, 0.46, 0.35),
}
GAP_PX = 2  # free pixels between any two placed objects


@dataclass
class Road:
    p0: tuple[float, float]  # a point on the centre line (col, row)
    angle: float  # direction of the road, radians from the +col axis
    width_px: float
    paved: bool


@dataclass
class Scene:
    """One generated scene: layout, exact instances and the parameters the renderer needs."""

    name: str
    layout: str
    gsd: float
    crs: str
    transform: tuple[float, float, float, float, float, float]
    mask: np.ndarray  # uint8 [H, W] class indices
    instance_map: np.ndarray  # uint16 [H, W], 0 = none
    instance_labels: dict[int, str]
    instance_attrs: dict[int, dict[str, Any]]
    parcels: np.ndarray  # int [H, W] parcel index (for field textures)
    roads: list[Road] = field(default_factory=list)
    image: np.ndarray | None = None  # uint8 [3, H, W] once rendered


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise, zero mean, unit standard deviation."""
    n = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return n / (float(n.std()) + 1e-6)


def line_coords(size: int, road: Road) -> tuple[np.ndarray, np.ndarray]:
    """(along, across) pixel coordinates of every pixel relative to a road's centre line."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dx, dy = math.cos(road.angle), math.sin(road.angle)
    rx, ry = xx - road.p0[0], yy - road.p0[1]
    return rx * dx + ry * dy, -rx * dy + ry * dx


def _parcels(rng: np.random.Generator, size: int, layout: str) -> tuple[np.ndarray, np.ndarray]:
    n = int(rng.integers(5, 14))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    wx = xx + smooth_noise(rng, (size, size), size / 8) * size / 24
    wy = yy + smooth_noise(rng, (size, size), size / 8) * size / 24
    pts = rng.uniform(0, size, (n, 2)).astype(np.float32)
    d = (wx[None] - pts[:, 0, None, None]) ** 2 + (wy[None] - pts[:, 1, None, None]) ** 2
    parcel = np.argmin(d, axis=0)
    cls = rng.choice(len(_PARCEL_CLASSES), size=n, p=_PARCEL_P[layout])
    lut = np.array([C[_PARCEL_CLASSES[k]] for k in cls], dtype=np.uint8)
    return lut[parcel], parcel


def _river(rng: np.random.Generator, size: int, gsd: float) -> np.ndarray:
    t = np.linspace(-0.1 * size, 1.1 * size, 4 * size)
    y = rng.uniform(0.2, 0.8) * size + rng.uniform(0.05, 0.2) * size * np.sin(
        2 * np.pi * t / rng.uniform(0.8, 2.0) / size + rng.uniform(0, 2 * np.pi))
    y += rng.uniform(-0.25, 0.25) * (t - size / 2)
    cols, rows = (t, y) if rng.random() < 0.5 else (y, t)
    line = np.zeros((size, size), dtype=bool)
    ok = (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size)
    line[rows[ok].astype(int), cols[ok].astype(int)] = True
    if not line.any():
        return line
    width_px = rng.uniform(5.0, 14.0) / gsd
    return ndimage.distance_transform_edt(~line) <= width_px / 2


def _blob(rng: np.random.Generator, size: int, radius_px: float) -> np.ndarray:
    cx, cy = rng.uniform(0.2, 0.8, 2) * size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    squash = rng.uniform(0.6, 1.0)
    theta = np.arctan2((yy - cy) / squash, xx - cx)
    r = np.hypot(xx - cx, (yy - cy) / squash)
    edge = np.ones_like(r)
    for k in (2, 3, 5):
        edge += rng.uniform(0.0, 0.12) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return r <= radius_px * edge


def _roads(rng: np.random.Generator, size: int, gsd: float, layout: str) -> list[Road]:
    roads: list[Road] = []
    if layout == "urban":
        base = math.radians(rng.uniform(-15, 15)) if rng.random() < 0.5 else 0.0
        for along in (base, base + math.pi / 2):
            n = int(rng.integers(1, 3))
            offsets = np.sort(rng.uniform(0.15, 0.85, n)) * size
            if n == 2 and offsets[1] - offsets[0] < 35 / gsd:
                offsets = offsets[:1]
            for off in offsets:
                p0 = (off, size / 2) if abs(math.sin(along)) > 0.5 else (size / 2, off)
                roads.append(Road(p0, along, rng.uniform(6.0, 11.0) / gsd, True))
        return roads
    n = {"rural": rng.choice([0, 1, 1, 2]), "mixed": rng.choice([1, 1, 2]), "natural": rng.choice([0, 0, 1])}[layout]
    for _ in range(int(n)):
        p0 = tuple(rng.uniform(0.2, 0.8, 2) * size)
        paved = layout == "mixed" or rng.random() < 0.6
        width = rng.uniform(4.0, 8.0) if paved else rng.uniform(3.0, 5.0)
        roads.append(Road(p0, rng.uniform(0, math.pi), width / gsd, paved))
    return roads


def _free(occupied: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    x1, y1, x2, y2 = box
    h, w = occupied.shape
    if x1 < 1 or y1 < 1 or x2 > w - 1 or y2 > h - 1:
        return False
    return not occupied[max(y1 - GAP_PX, 0):y2 + GAP_PX, max(x1 - GAP_PX, 0):x2 + GAP_PX].any()


def _place(rng: np.random.Generator, occupied: np.ndarray, w: int, h: int, near: np.ndarray | None,
           center: tuple[float, float] | None, spread: float, tries: int = 60) -> tuple[int, int, int, int] | None:
    size = occupied.shape[0]
    for _ in range(tries):
        if center is not None:
            cx, cy = rng.normal(center, spread)
        else:
            cx, cy = rng.uniform(0, size, 2)
        x1, y1 = int(cx - w / 2), int(cy - h / 2)
        box = (x1, y1, x1 + w, y1 + h)
        if not _free(occupied, box):
            continue
        if near is not None and not near[min(max(int(cy), 0), size - 1), min(max(int(cx), 0), size - 1)]:
            continue
        return box
    return None


def generate_layout(rng: np.random.Generator, name: str, size: int = 256) -> Scene:
    """Paint a scene's class mask and instance map (see the module docstring for the order)."""
    layout = str(rng.choice(LAYOUTS, p=LAYOUT_P))
    gsd = float(np.round(rng.uniform(0.3, 0.5), 3))
    zone = int(rng.integers(10, 60))
    x0 = float(np.round(rng.uniform(400_000, 600_000), 1))
    y0 = float(np.round(rng.uniform(1_000_000, 6_000_000), 1))
    mask, parcels = _parcels(rng, size, layout)
    inst = np.zeros((size, size), dtype=np.uint16)
    labels: dict[int, str] = {}
    attrs: dict[int, dict[str, Any]] = {}
    next_id = 1

    # water: a river or a lake/pond, sometimes a second pond that must not touch the first
    water = np.zeros((size, size), dtype=bool)
    if rng.random() < _WATER_P[layout]:
        kinds = ["river"] if rng.random() < 0.5 else ["lake" if rng.random() < 0.5 else "pond"]
        if rng.random() < 0.3:
            kinds.append("pond")
        for kind in kinds:
            body = _river(rng, size, gsd) if kind == "river" else _blob(
                rng, size, (rng.uniform(12, 28) if kind == "lake" else rng.uniform(4, 9)) / gsd)
            if not body.any() or (water.any() and (ndimage.binary_dilation(water, iterations=3) & body).any()):
                continue
            water |= body
            inst[body] = next_id
            labels[next_id], attrs[next_id] = "water", {"kind": kind}
            next_id += 1
    mask[water] = C["water"]

    roads = _roads(rng, size, gsd, layout)
    road_px = np.zeros((size, size), dtype=bool)
    for road in roads:
        road_px |= np.abs(line_coords(size, road)[1]) <= road.width_px / 2
    mask[road_px] = C["road"]
    inst[road_px] = 0  # bridges cut water instances

    occupied = water | road_px
    n_play = int(rng.random() < _PLAYGROUND_P[layout]) + int(rng.random() < _PLAYGROUND_P[layout] / 4)
    for _ in range(n_play):
        kind = str(rng.choice(["track", "court", "pitch"], p=[0.35, 0.4, 0.25]))
        lw = {"track": (40, 60, 22, 32), "court": (18, 28, 10, 16), "pitch": (30, 48, 20, 30)}[kind]
        w_px, h_px = int(rng.uniform(lw[0], lw[1]) / gsd), int(rng.uniform(lw[2], lw[3]) / gsd)
        w_px, h_px = min(w_px, int(0.6 * size)), min(h_px, int(0.45 * size))
        if rng.random() < 0.5:
            w_px, h_px = h_px, w_px
        box = _place(rng, occupied, w_px, h_px, None, None, 0.0, tries=40)
        if box is None:
            continue
        x1, y1, x2, y2 = box
        mask[y1:y2, x1:x2] = C["playground"]
        inst[y1:y2, x1:x2] = next_id
        occupied[y1:y2, x1:x2] = True
        labels[next_id], attrs[next_id] = "playground", {"kind": kind, "vertical": bool(h_px > w_px)}
        next_id += 1

    lo, hi = _BUILDINGS[layout]
    n_build = int(rng.integers(lo, hi + 1))
    near_road = None
    if roads and layout in ("urban", "mixed"):
        near_road = ndimage.distance_transform_edt(~road_px) * gsd <= 18.0
    centers = [tuple(rng.uniform(0.25, 0.75, 2) * size) for _ in range(int(rng.integers(1, 3)))]
    yard_m = rng.uniform(2.0, 5.0)
    for k in range(n_build):
        big = layout == "urban" and rng.random() < 0.3
        w_px = int(rng.uniform(12, 28) / gsd) if big else int(rng.uniform(6, 16) / gsd)
        h_px = int(rng.uniform(10, 22) / gsd) if big else int(rng.uniform(6, 14) / gsd)
        center = None if layout == "urban" else centers[k % len(centers)]
        box = _place(rng, occupied, w_px, h_px, near_road, center, 22.0 / gsd)
        if box is None:
            continue
        x1, y1, x2, y2 = box
        parts = [box]
        if rng.random() < 0.25:  # an L-shaped building: a wing along one side
            wing_w, wing_h = max(w_px // 2, 4), max(h_px // 2, 4)
            wing = (x1, y2, x1 + wing_w, y2 + wing_h) if rng.random() < 0.5 else (x2, y1, x2 + wing_w, y1 + wing_h)
            if _free(occupied, wing):
                parts.append(wing)
        fp = np.zeros((size, size), dtype=bool)
        for px1, py1, px2, py2 in parts:
            fp[py1:py2, px1:px2] = True
        if layout != "urban":  # a yard of background replaces fields or forest around the house
            yard = ndimage.binary_dilation(fp, iterations=max(int(yard_m / gsd), 1)) & ~occupied
            yard &= np.isin(mask, (C["agriculture"], C["forest"], C["barren"]))
            mask[yard] = C["background"]
        mask[fp] = C["building"]
        inst[fp] = next_id
        occupied |= fp
        roof = str(rng.choice(list(ROOFS)))
        labels[next_id] = "building"
        attrs[next_id] = {"roof": roof, "height_m": round(float(rng.uniform(3.0, 15.0)), 1),
                          "parts": [list(p) for p in parts]}
        next_id += 1

    # instances hold exactly their class's final pixels
    for idx, label in labels.items():
        inst[(inst == idx) & (mask != C[label])] = 0
    kept = {i for i in np.unique(inst) if i}
    labels = {i: v for i, v in labels.items() if i in kept}
    attrs = {i: v for i, v in attrs.items() if i in kept}
    transform = (gsd, 0.0, x0, 0.0, -gsd, y0)
    crs = f"EPSG:{32600 + zone}"
    return Scene(name, layout, gsd, crs, transform, mask, inst, labels, attrs, parcels, roads)


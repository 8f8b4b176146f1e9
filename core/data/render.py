"""RGB rendering of a procedural scene: per-class textures, markings, roofs, cast shadows, sensor effects."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from core.data.procedural import ROOFS, C, Scene, generate_layout, line_coords, smooth_noise

_CROPS = [(0.42, 0.55, 0.25), (0.66, 0.62, 0.36), (0.55, 0.44, 0.3), (0.34, 0.47, 0.21), (0.5, 0.5, 0.28)]
_WATER = [(0.1, 0.2, 0.26), (0.15, 0.25, 0.22), (0.22, 0.26, 0.2), (0.08, 0.16, 0.3)]


def _layer(color: tuple[float, float, float], shade: np.ndarray) -> np.ndarray:
    """[H, W, 3] of ``color`` modulated by a per-pixel brightness factor."""
    return np.asarray(color, dtype=np.float32)[None, None, :] * shade[..., None]


def _background(rng: np.random.Generator, scene: Scene, shape: tuple[int, int]) -> np.ndarray:
    grass = _layer((0.44, 0.52, 0.32), 1 + 0.08 * smooth_noise(rng, shape, 3))
    if scene.layout == "urban":
        paved = _layer((0.58, 0.57, 0.54), 1 + 0.05 * smooth_noise(rng, shape, 1.5))
        sel = smooth_noise(rng, shape, 10) > -0.2
    else:
        paved = _layer((0.55, 0.48, 0.36), 1 + 0.06 * smooth_noise(rng, shape, 2))
        sel = smooth_noise(rng, shape, 12) > 1.0
    return np.where(sel[..., None], paved, grass)


def _fields(rng: np.random.Generator, scene: Scene, shape: tuple[int, int]) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    out = np.zeros(shape + (3,), dtype=np.float32)
    for p in range(int(scene.parcels.max()) + 1):
        sel = scene.parcels == p
        if not sel.any():
            continue
        theta = rng.uniform(0, math.pi)
        period = rng.uniform(1.5, 5.0) / scene.gsd
        u = xx[sel] * math.cos(theta) + yy[sel] * math.sin(theta)
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * u / period)
        c1, c2 = (np.asarray(_CROPS[i], dtype=np.float32) for i in rng.choice(len(_CROPS), 2, replace=False))
        k = rng.uniform(0.2, 0.6)
        out[sel] = c1 * (1 - k * stripes[:, None]) + c2 * (k * stripes[:, None])
    return out * (1 + 0.04 * smooth_noise(rng, shape, 1.0))[..., None]


def _forest(rng: np.random.Generator, scene: Scene, shape: tuple[int, int]) -> np.ndarray:
    crowns = smooth_noise(rng, shape, rng.uniform(1.5, 3.0) / scene.gsd)
    shade = np.clip(0.75 + 0.35 * crowns, 0.35, 1.4) * (1 + 0.05 * smooth_noise(rng, shape, 0.7))
    return _layer((0.17, 0.29, 0.14), shade)


def _water(rng: np.random.Generator, scene: Scene, shape: tuple[int, int]) -> np.ndarray:
    color = _WATER[int(rng.integers(len(_WATER)))]
    out = _layer(color, 1 + 0.06 * smooth_noise(rng, shape, 8) + 0.02 * smooth_noise(rng, shape, 0.8))
    water = scene.mask == C["water"]
    shore = ndimage.distance_transform_edt(water) * scene.gsd
    mix = np.clip(1.0 - shore / 2.5, 0, 1)[..., None] * 0.5
    return out * (1 - mix) + np.asarray((0.32, 0.36, 0.3), dtype=np.float32) * mix


def _roads(rng: np.random.Generator, scene: Scene, img: np.ndarray) -> None:
    size = scene.mask.shape[0]
    road_mask = scene.mask == C["road"]
    for road in scene.roads:
        along, across = line_coords(size, road)
        on = (np.abs(across) <= road.width_px / 2) & road_mask
        if road.paved:
            base = _layer((0.33, 0.33, 0.35), 1 + 0.05 * smooth_noise(rng, (size, size), 0.8))
        else:
            base = _layer((0.6, 0.52, 0.4), 1 + 0.08 * smooth_noise(rng, (size, size), 1.5))
        img[on] = base[on]
        if road.paved:
            line_w = max(0.5, 0.15 / scene.gsd)
            dashed = (np.abs(across) <= line_w) & (np.mod(along * scene.gsd, 6.0) < 3.0)
            edges = np.abs(np.abs(across) - (road.width_px / 2 - 0.6 / scene.gsd)) <= line_w
            img[on & (dashed | edges)] = (0.85, 0.85, 0.8)


def _playgrounds(rng: np.random.Generator, scene: Scene, img: np.ndarray) -> None:
    white = np.asarray((0.9, 0.9, 0.88), dtype=np.float32)
    for idx, label in scene.instance_labels.items():
        if label != "playground":
            continue
        rows, cols = np.nonzero(scene.instance_map == idx)
        y1, y2, x1, x2 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        h, w = y2 - y1, x2 - x1
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
        kind = scene.instance_attrs[idx]["kind"]
        if kind == "track":
            tile = _layer((0.3, 0.5, 0.28), np.ones((h, w), np.float32))
            long_ax, short_ax = (yy, xx) if h > w else (xx, yy)
            length, breadth = max(h, w), min(h, w)
            r = breadth / 2
            c = np.clip(long_ax, r, length - r)
            d = np.hypot(long_ax - c, short_ax - r)  # distance to the stadium's centre segment
            ring = (d <= r - 1) & (d >= r * 0.62)
            tile[ring] = (0.62, 0.28, 0.22)
            for k in (0.7, 0.8, 0.9):
                tile[ring & (np.abs(d - r * k) < 0.5)] = white
        else:
            color = (0.25, 0.5, 0.3) if kind == "pitch" else tuple(
                [(0.25, 0.42, 0.6), (0.3, 0.52, 0.35), (0.6, 0.35, 0.28)][int(rng.integers(3))])
            shade = np.ones((h, w), np.float32)
            if kind == "pitch":
                shade += 0.06 * np.sign(np.sin(xx * np.pi / max(w / 8, 2)))
            tile = _layer(color, shade)
            inset = max(int(1.0 / scene.gsd), 1)
            border = ((np.abs(xx - inset) < 0.6) | (np.abs(xx - (w - inset)) < 0.6) |
                      (np.abs(yy - inset) < 0.6) | (np.abs(yy - (h - inset)) < 0.6))
            border &= (xx >= inset - 0.6) & (xx <= w - inset + 0.6) & (yy >= inset - 0.6) & (yy <= h - inset + 0.6)
            mid = np.abs(yy - h / 2) < 0.6 if h > w else np.abs(xx - w / 2) < 0.6
            tile[border | mid] = white
        sel = scene.instance_map[y1:y2, x1:x2] == idx
        img[y1:y2, x1:x2][sel] = tile[sel]


def _buildings(rng: np.random.Generator, scene: Scene, img: np.ndarray, sun: tuple[float, float],
               elevation: float) -> None:
    size = scene.mask.shape[0]
    shadow_px = np.zeros((size, size), dtype=np.float32)
    for idx, label in scene.instance_labels.items():
        if label != "building":
            continue
        attrs = scene.instance_attrs[idx]
        roof = np.asarray(ROOFS[attrs["roof"]], dtype=np.float32)
        for x1, y1, x2, y2 in attrs["parts"]:
            h, w = y2 - y1, x2 - x1
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            half = (yy < h / 2) if w >= h else (xx < w / 2)  # gable: the two slopes lit differently
            shade = np.where(half, 1.0, 0.8).astype(np.float32)
            shade *= 1 + 0.03 * rng.standard_normal((h, w)).astype(np.float32)
            edge = (yy < 1) | (xx < 1) | (yy >= h - 1) | (xx >= w - 1)
            shade[edge] *= 0.75
            img[y1:y2, x1:x2] = roof[None, None, :] * shade[..., None]
        sel = scene.instance_map == idx
        shadow_px[sel] = attrs["height_m"] / math.tan(elevation) / scene.gsd
    shadow = np.zeros((size, size), dtype=bool)
    for k in range(1, int(shadow_px.max()) + 1):
        src = shadow_px >= k
        dx, dy = int(round(k * sun[0])), int(round(k * sun[1]))
        if abs(dx) >= size or abs(dy) >= size:
            break
        shadow[max(dy, 0):size + min(dy, 0), max(dx, 0):size + min(dx, 0)] |= \
            src[max(-dy, 0):size + min(-dy, 0), max(-dx, 0):size + min(-dx, 0)]
    shadow &= scene.mask != C["building"]
    img[shadow] *= 0.5


def render(rng: np.random.Generator, scene: Scene) -> np.ndarray:
    """The scene's RGB image, uint8 [3, H, W]."""
    shape = scene.mask.shape
    img = np.zeros(shape + (3,), dtype=np.float32)
    layers = {
        "background": _background, "agriculture": _fields, "forest": _forest, "water": _water,
    }
    for name, fn in layers.items():
        sel = scene.mask == C[name]
        if sel.any():
            img[sel] = fn(rng, scene, shape)[sel]
    sel = scene.mask == C["barren"]
    if sel.any():
        shade = 1 + 0.06 * smooth_noise(rng, shape, 4) + 0.04 * smooth_noise(rng, shape, 0.6)
        barren = _layer((0.66, 0.58, 0.45), shade)
        img[sel] = barren[sel]
    _roads(rng, scene, img)
    _playgrounds(rng, scene, img)
    azimuth = rng.uniform(0, 2 * math.pi)
    _buildings(rng, scene, img, (math.cos(azimuth), math.sin(azimuth)), math.radians(rng.uniform(35, 65)))
    img = ndimage.gaussian_filter(img, sigma=(0.6, 0.6, 0))
    gain, offset, haze = rng.uniform(0.85, 1.15), rng.uniform(-0.03, 0.03), rng.uniform(0.0, 0.12)
    img = img * gain + offset
    img = img * (1 - haze) + np.asarray((0.62, 0.64, 0.68), dtype=np.float32) * haze
    img += 0.012 * rng.standard_normal(img.shape).astype(np.float32)
    return np.moveaxis((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), -1, 0)


def generate_scene(rng: np.random.Generator, name: str, size: int = 256) -> Scene:
    """A layout and its rendered RGB image (``scene.image``, uint8 [3, H, W])."""
    scene = generate_layout(rng, name, size)
    scene.image = render(rng, scene)
    return scene

"""Referring expressions with boxes ("the largest building in the north-west"), each true of one target.

Every candidate phrase is a predicate over the scene's instances; a phrase is kept only when exactly the
intended instances satisfy it, with a margin on every comparison (sizes differ by 15%, distances by
half the "next to" distance), so the expression is unambiguous by construction.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.data.manifest import GroundRecord
from core.data.measure import Instance, SceneMeasure
from models.grounding_text import to_0_999

SIZE_MARGIN = 1.15
_KIND = {"track": "running track", "court": "sports court", "pitch": "sports pitch"}
_NOUN = {"building": "building", "playground": "playground"}


def _superlative(items: list[Instance], key: Callable[[Instance], float], largest: bool) -> Instance | None:
    """The extreme item when it beats the runner-up by SIZE_MARGIN, else None."""
    if not items:
        return None
    ranked = sorted(items, key=key, reverse=largest)
    if len(ranked) == 1:
        return ranked[0]
    a, b = key(ranked[0]), key(ranked[1])
    ok = a >= SIZE_MARGIN * b if largest else b >= SIZE_MARGIN * a
    return ranked[0] if ok else None


def _candidates(m: SceneMeasure, instance_map: np.ndarray | None) -> list[tuple[str, list[Instance]]]:
    out: list[tuple[str, list[Instance]]] = []
    area = lambda i: float(i.area_px)  # noqa: E731
    for label, noun in _NOUN.items():
        items = m.of(label)
        if not items:
            continue
        if len(items) == 1:
            out.append((f"the {noun}", items))
        for largest, word in ((True, "largest"), (False, "smallest")):
            if len(items) >= 2:
                t = _superlative(items, area, largest)
                if t is not None:
                    out.append((f"the {word} {noun}", [t]))
        by_pos: dict[str, list[Instance]] = {}
        for i in items:
            by_pos.setdefault(i.position, []).append(i)
        for pos, here in by_pos.items():
            if len(here) == 1:
                out.append((f"the {noun} in the {pos}", here))
            else:
                t = _superlative(here, area, True)
                if t is not None:
                    out.append((f"the largest {noun} in the {pos}", [t]))
                out.append((f"all {noun}s in the {pos}", here))
        if label == "building":
            by_roof: dict[str, list[Instance]] = {}
            for i in items:
                by_roof.setdefault(i.attrs.get("roof", ""), []).append(i)
            for roof, same in by_roof.items():
                if roof and len(same) == 1 and len(items) > 1:
                    out.append((f"the building with the {roof} roof", same))
        if label == "playground":
            kinds: dict[str, list[Instance]] = {}
            for i in items:
                kinds.setdefault(i.attrs.get("kind", ""), []).append(i)
            for kind, same in kinds.items():
                if kind in _KIND and len(same) == 1:
                    out.append((f"the {_KIND[kind]}", same))
        for other in ("road", "water"):
            if not m.present(other) or len(items) < 2:
                continue
            limit = m.next_to_m()
            d = [m.instance_distance(i, other, instance_map) for i in items]
            if any(limit < v <= 1.5 * limit for v in d):
                continue
            close = [i for i, v in zip(items, d) if v <= limit]
            if len(close) == 1:
                word = "next to the road" if other == "road" else "next to the water"
                out.append((f"the {noun} {word}", close))
    water = m.water_bodies
    types: dict[str, list[Instance]] = {}
    for w in water:
        types.setdefault(w.attrs["water_type"], []).append(w)
    for kind, same in types.items():
        if len(same) == 1 and kind != "sea":
            out.append((f"the {kind}", same))
            out.append((f"the {kind} in the {same[0].position}", same))
    return out


def ground_records(m: SceneMeasure, rng: np.random.Generator, scene: str, image: str,
                   instance_map: np.ndarray | None = None, limit: int = 5) -> list[GroundRecord]:
    """Up to ``limit`` referring expressions of the scene, each with its target boxes."""
    cands = _candidates(m, instance_map)
    seen: set[tuple[int, ...]] = set()
    out = []
    for k in rng.permutation(len(cands)):
        expr, targets = cands[int(k)]
        key = tuple(sorted(id(t) for t in targets))
        if key in seen:
            continue
        seen.add(key)
        boxes = [list(map(float, t.box)) for t in sorted(targets, key=lambda t: (t.box[1], t.box[0]))]
        boxes_999 = [list(to_0_999(b, m.width, m.height)) for b in boxes]
        out.append(GroundRecord(f"{scene}/g{len(out):02d}", image, scene, expr, targets[0].label, boxes, boxes_999,
                                m.width, m.height))
        if len(out) >= limit:
            break
    return out

"""Scene labels and multi-level captions (scene / region / object) written from measured statistics."""

from __future__ import annotations

from collections import Counter

import numpy as np

from core.data.manifest import CaptionRecord, ClassifyRecord, SemanticEntry
from core.data.measure import POSITION_WORDS, SceneMeasure
from core.data.questions import NOUNS, URBAN_MIN_BUILT, join_words
from models.config import EARTHVQA_CLASSES
from models.config import SCENE_LABELS as SCENE_LABELS  # the labels a built dataset offers

_ADJ = {"urban": "urban", "rural": "rural", "agricultural": "agricultural", "forest": "forested",
        "water": "waterside", "barren": "barren", "mixed": "mixed"}
_KIND = {"track": "running track", "court": "sports court", "pitch": "sports pitch"}
_WATER_PHRASE = {"river": "a river", "lake": "a lake", "pond": "a pond", "sea": "the sea"}


def scene_labels(m: SceneMeasure) -> tuple[str, list[str]]:
    """Primary scene label and every label whose rule holds.

    Rules on valid-area fractions: water >= 50%; urban (building + road >= 20%); forest >= 50%;
    agricultural >= 50%; barren >= 40%; rural (some buildings, farmland + forest >= 30%, not urban);
    else mixed.
    The primary label is the first that holds in that order.
    """
    f = m.fractions
    rules = [
        ("water", f["water"] >= 0.5),
        ("urban", f["building"] + f["road"] >= URBAN_MIN_BUILT),
        ("forest", f["forest"] >= 0.5),
        ("agricultural", f["agriculture"] >= 0.5),
        ("barren", f["barren"] >= 0.4),
        ("rural", f["building"] > 0.0 and f["agriculture"] + f["forest"] >= 0.3
         and f["building"] + f["road"] < 0.2),
    ]
    labels = [name for name, ok in rules if ok]
    return (labels[0] if labels else "mixed"), (labels or ["mixed"])


def _article(word: str) -> str:
    return "An" if word[0] in "aeiou" else "A"


def _feature(m: SceneMeasure, cls: str) -> str:
    """A noun phrase for a class, naming the water type when there is one."""
    if cls == "water" and m.water_bodies:
        biggest = max(m.water_bodies, key=lambda w: w.area_px)
        return _WATER_PHRASE[biggest.attrs["water_type"]]
    return NOUNS[cls][1]


def scene_captions(m: SceneMeasure, label: str, rng: np.random.Generator) -> list[str]:
    ranked = sorted(((f, c) for c, f in m.fractions.items() if c != "background" and f >= 0.02), reverse=True)
    if not ranked:
        return [f"{_article(_ADJ[label])} {_ADJ[label]} scene of open ground with no distinct land cover."]
    dom = ranked[0][1]
    adj = _ADJ[label]
    same = {"forest": "forest", "agricultural": "agriculture", "water": "water", "barren": "barren"}.get(label) == dom
    first = f"{_article(adj)} {adj} scene" + ("" if same else f" dominated by {_feature(m, dom)}")
    if len(ranked) > 1:
        second = ranked[1][1]
        first += f", with {_feature(m, second)} in the {m.positions.get(second, 'centre')}"
    out = [first + "."]
    pct = int(round(100 * ranked[0][0]))
    out.append(f"An aerial view of {'an' if adj[0] in 'aeiou' else 'a'} {adj} area where {NOUNS[dom][1]} "
               f"covers about {pct}% of the ground.")
    uses = [NOUNS[c][1] for _, c in ranked[:3]]
    out.append(f"{adj.capitalize()} landscape of {join_words(uses)}.")
    return [out[i] for i in sorted(rng.permutation(len(out))[:2])]


def _cell_classes(m: SceneMeasure) -> dict[str, str]:
    """Dominant non-background class (>= 40% of the cell) of each 3x3 cell, by position word."""
    c1, r1, c2, r2 = m.envelope
    out = {}
    for i in range(3):
        for j in range(3):
            ys = slice(int(r1 + (r2 - r1) * i / 3), int(r1 + (r2 - r1) * (i + 1) / 3))
            xs = slice(int(c1 + (c2 - c1) * j / 3), int(c1 + (c2 - c1) * (j + 1) / 3))
            cell = m.mask[ys, xs]
            cell = cell[cell != 255]
            if not cell.size:
                continue
            hist = np.bincount(cell, minlength=len(EARTHVQA_CLASSES))
            hist[0] = 0
            k = int(np.argmax(hist))
            if hist[k] >= 0.4 * cell.size:
                out[POSITION_WORDS[i][j]] = EARTHVQA_CLASSES[k]
    return out


def region_captions(m: SceneMeasure, rng: np.random.Generator) -> list[str]:
    cells = _cell_classes(m)
    by_class: dict[str, list[str]] = {}
    for pos, cls in cells.items():
        by_class.setdefault(cls, []).append(pos)
    if not by_class:
        return ["No single land cover dominates any part of the image."]
    sentences = []
    for cls, where in sorted(by_class.items(), key=lambda t: (-len(t[1]), t[0])):
        noun = NOUNS[cls][1]
        if len(where) >= 7:
            sentences.append(f"{noun.capitalize()} covers most of the image.")
        elif len(where) == 1:
            verb = ["lies in", "occupies", "dominates"][int(rng.integers(3))]
            sentences.append(f"{noun.capitalize()} {verb} the {where[0]}.")
        else:
            sentences.append(f"{noun.capitalize()} occupies the {join_words(where)}.")
    return [" ".join(sentences[:3])]


def object_captions(m: SceneMeasure, rng: np.random.Generator) -> list[str]:
    parts = []
    buildings = m.of("building")
    if buildings:
        roof, same = Counter(b.attrs.get("roof", "") for b in buildings).most_common(1)[0]
        largest = max(buildings, key=lambda b: b.area_px)
        n = len(buildings)
        if n == 1:
            parts.append(f"A single building with a {roof} roof stands in the {largest.position}.")
        else:
            roofs = f"mostly with {roof} roofs" if 2 * same > n else "with roofs of various colours"
            parts.append(f"There are {n} buildings, {roofs}; the largest is in the {largest.position}.")
    elif m.present("building") and not m.exact_instances:
        parts.append(f"Built-up patches appear in the {m.positions.get('building', 'centre')}.")
    for p in m.of("playground"):
        parts.append(f"A {_KIND.get(p.attrs.get('kind', ''), 'playground')} lies in the {p.position}.")
    by_kind: dict[str, list[str]] = {}
    for w in sorted(m.water_bodies, key=lambda w: -w.area_px):
        by_kind.setdefault(w.attrs["water_type"], []).append(w.position)
    for kind, where in list(by_kind.items())[:2]:
        where = list(dict.fromkeys(where))
        if len(where) == 1:
            verb = "runs through" if kind == "river" else "lies in"
            parts.append(f"{_WATER_PHRASE[kind].capitalize()} {verb} the {where[0]}.")
        else:
            noun = {"river": "River channels", "lake": "Lakes", "pond": "Ponds", "sea": "Sea water"}[kind]
            parts.append(f"{noun} appear in the {join_words(where[:3])}.")
    if m.present("road"):
        parts.append(["Roads cross the scene.", "A road network connects the area."][int(rng.integers(2))]
                     if m.counts.get("road", 0) > 0 and m.fractions["road"] > 0.08
                     else "A road passes through the scene.")
    if not parts:
        return ["No distinct objects are visible."]
    return [" ".join(parts)]


def caption_record(m: SceneMeasure, label: str, rng: np.random.Generator, scene: str, image: str) -> CaptionRecord:
    return CaptionRecord(f"{scene}/caption", image, scene, {
        "scene": scene_captions(m, label, rng),
        "region": region_captions(m, rng),
        "object": object_captions(m, rng),
    })


def classify_record(m: SceneMeasure, scene: str, image: str) -> ClassifyRecord:
    label, labels = scene_labels(m)
    return ClassifyRecord(f"{scene}/classify", image, scene, label, labels)


def semantic_entries(caption: CaptionRecord) -> list[SemanticEntry]:
    """The caption's sentences as retrieval-database entries, one per level and sentence."""
    return [SemanticEntry(text, level, caption.image, caption.scene)
            for level, texts in caption.captions.items() for text in texts]

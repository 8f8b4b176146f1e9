"""Questions of EarthVQA's six types generated from measured scene facts, open-ended and multiple choice.

Every answer follows from :class:`core.data.measure.SceneMeasure` by a rule written here; questions whose
answer sits within a small margin of a rule's threshold are not asked (so a slightly different
measurement cannot flip them). Numbers: counts as integers, area ratios in EarthVQA's ten bins
("0%-10%" ... "90%-100%") with ``answer_value`` the bin centre in percent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from core.data.manifest import VQARecord
from core.data.measure import POSITION_WORDS, SceneMeasure

AREA_BINS = [f"{10 * i}%-{10 * (i + 1)}%" for i in range(10)]
POSITIONS = [w for row in POSITION_WORDS for w in row]
WATER_TYPES = ["river", "lake", "pond", "sea"]
NEEDS = ["more green space", "more roads", "more recreational facilities"]
NO_NEEDS = "no obvious needs"
# (singular, plural or mass noun, countable?)
NOUNS = {
    "building": ("building", "buildings", True), "road": ("road", "roads", True),
    "water": ("water body", "water", False), "barren": ("barren land", "barren land", False),
    "forest": ("forest", "forest", False), "agriculture": ("farmland", "farmland", False),
    "playground": ("playground", "playgrounds", True), "background": ("other land", "other land", False),
}
URBAN_MIN_BUILT = 0.2  # building + road fraction from which an area is urban
LAND_USE_MIN = 0.1  # a main land-use type covers at least this fraction
GREEN_MIN = 0.15  # forest + agriculture fraction below which residents need more green space
ROAD_MIN = 0.05
BIN_MARGIN = 0.005  # area ratios within 0.5 percentage points of a bin edge are not asked


@dataclass
class QA:
    """One question before it becomes records; ``pool`` holds plausible wrong answers, best first."""

    question: str
    type: str
    answer: str
    value: Optional[float] = None
    pool: list[str] = field(default_factory=list)


def area_bin(fraction: float) -> tuple[str, float]:
    """EarthVQA area bin of a fraction 0..1 and its centre in percent."""
    i = min(int(fraction * 10), 9)
    return AREA_BINS[i], 10.0 * i + 5.0


def _near_bin_edge(fraction: float) -> bool:
    edge = round(fraction * 10) / 10
    return 0.0 < edge < 1.0 and abs(fraction - edge) < BIN_MARGIN


def _plural(cls: str) -> str:
    return NOUNS[cls][1]


def join_words(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _yes_no(flag: bool) -> tuple[str, list[str]]:
    return ("yes", ["no"]) if flag else ("no", ["yes"])


def is_urban(m: SceneMeasure) -> Optional[bool]:
    """Urban when buildings and roads cover at least 20%; None within 2 points of the threshold."""
    built = m.fractions["building"] + m.fractions["road"]
    return None if abs(built - URBAN_MIN_BUILT) < 0.02 else built >= URBAN_MIN_BUILT


def renovation_needs(m: SceneMeasure) -> list[str]:
    """Planning rules over the statistics (EarthVQA's "needs for renovation" questions)."""
    f = m.fractions
    n_build = len(m.of("building")) if m.exact_instances else m.counts.get("building", 0)
    needs = []
    if f["forest"] + f["agriculture"] < GREEN_MIN:
        needs.append(NEEDS[0])
    if f["road"] < ROAD_MIN and n_build >= 3:
        needs.append(NEEDS[1])
    if m.exact_instances and n_build >= 8 and not m.of("playground"):
        needs.append(NEEDS[2])
    return needs


def _needs_text(needs: list[str]) -> str:
    return join_words(needs) if needs else NO_NEEDS


def basic_judging(m: SceneMeasure, rng: np.random.Generator) -> list[QA]:
    out = []
    classes = [c for c in NOUNS if c != "background" and c in m.observable and m.clearly_present_or_absent(c)]
    present = [str(c) for c in rng.permutation([c for c in classes if m.present(c)])]
    absent = [str(c) for c in rng.permutation([c for c in classes if not m.present(c)])]
    picked = []
    while (present or absent) and len(picked) < 3:  # alternate, so "no" is about as common as "yes"
        for pool in ((present, absent) if rng.random() < 0.5 else (absent, present)):
            if pool and len(picked) < 3:
                picked.append(pool.pop())
    for cls in picked:
        single, plural, countable = NOUNS[cls]
        answer, pool = _yes_no(m.present(cls))
        if countable:
            q = [f"Are there any {plural} in this scene?", f"Are there {plural} in the image?",
                 f"Is there a {single} in this image?"][int(rng.integers(3))]
        else:
            q = [f"Is there any {plural} in this scene?", f"Does the image contain {plural}?",
                 f"Is there {plural} in this area?"][int(rng.integers(3))]
        out.append(QA(q, "basic_judging", answer, None, pool))
    return out


def reasoning_judging(m: SceneMeasure, rng: np.random.Generator) -> list[QA]:
    out = []
    urban = is_urban(m)
    if urban is not None:
        q = ["Is this a rural or urban area?", "Is it an urban or a rural scene?"][int(rng.integers(2))]
        out.append(QA(q, "reasoning_judging", "urban" if urban else "rural", None,
                      ["rural" if urban else "urban"]))
    near = m.near_m()
    pairs = [("water", "building"), ("forest", "building"), ("road", "playground"), ("water", "agriculture"),
             ("barren", "road"), ("water", "road")]
    for a, b in rng.permutation(pairs).tolist():
        if not (m.present(b) and a in m.observable and m.clearly_present_or_absent(a)):
            continue
        d = m.class_distance(b, a)
        if near <= d <= 1.5 * near:
            continue
        answer, pool = _yes_no(d < near)
        q = f"Are there {_plural(a)} near the {_plural(b)}?" if NOUNS[a][2] else \
            f"Is there {_plural(a)} near the {_plural(b)}?"
        out.append(QA(q, "reasoning_judging", answer, None, pool))
        break
    present = [c for c in ("building", "road", "water", "forest", "agriculture", "barren") if m.present(c)]
    if len(present) >= 2:
        a, b = (str(c) for c in rng.choice(present, 2, replace=False))
        fa, fb = m.fractions[a], m.fractions[b]
        if max(fa, fb) > 1.1 * min(fa, fb):
            answer, pool = _yes_no(fa > fb)
            out.append(QA(f"Is there more {_plural(a)} than {_plural(b)}?" if not NOUNS[a][2]
                          else f"Do {_plural(a)} cover more area than {_plural(b)}?",
                          "reasoning_judging", answer, None, pool))
    return out


def _count_pool(n: int) -> list[str]:
    near = [n + 1, n - 1, n + 2, n - 2, n + 3, n + 4]
    return [str(v) for v in near if v >= 0]


def basic_counting(m: SceneMeasure, rng: np.random.Generator) -> list[QA]:
    if not m.exact_instances:
        return []
    out = []
    for cls in ("building", "playground"):
        n = len(m.of(cls))
        if cls == "playground" and n == 0 and rng.random() < 0.5:
            continue
        q = [f"How many {_plural(cls)} are there?", f"How many {_plural(cls)} are in this image?",
             f"What is the number of {_plural(cls)}?"][int(rng.integers(3))]
        out.append(QA(q, "basic_counting", str(n), float(n), _count_pool(n)))
    buildings = m.of("building")
    if buildings:
        pos = str(rng.choice([b.position for b in buildings] if rng.random() < 0.7 else POSITIONS))
        n = sum(b.position == pos for b in buildings)
        out.append(QA(f"How many buildings are in the {pos} of the image?", "basic_counting", str(n), float(n),
                      _count_pool(n)))
    return out


def _bin_pool(i: int) -> list[str]:
    order = [i + 1, i - 1, i + 2, i - 2, i + 3, i - 3]
    return [AREA_BINS[k] for k in order if 0 <= k < 10]


def reasoning_counting(m: SceneMeasure, rng: np.random.Generator) -> list[QA]:
    out = []
    candidates = [c for c in ("building", "road", "water", "barren", "forest", "agriculture", "playground")
                  if c in m.observable and not _near_bin_edge(m.fractions[c]) and (m.present(c) or rng.random() < 0.15)]
    for cls in [str(c) for c in rng.permutation(candidates)[:2]]:
        label, value = area_bin(m.fractions[cls])
        q = [f"What is the area ratio of {_plural(cls)}?", f"What percentage of the area is {_plural(cls)}?",
             f"What proportion of the image is covered by {_plural(cls)}?"][int(rng.integers(3))]
        out.append(QA(q, "reasoning_counting", label, value, _bin_pool(AREA_BINS.index(label))))
    buildings = m.of("building") if m.exact_instances else []
    if buildings and m.present("road"):
        limit = m.next_to_m()
        dists = [m.instance_distance(b, "road") for b in buildings]
        if not any(limit < d <= 1.5 * limit for d in dists):
            n = sum(d <= limit for d in dists)
            out.append(QA("How many buildings are next to a road?", "reasoning_counting", str(n), float(n),
                          _count_pool(n)))
    return out


def _position_pool(pos: str) -> list[str]:
    r, c = next((i, row.index(pos)) for i, row in enumerate(POSITION_WORDS) if pos in row)
    by_dist = sorted((abs(i - r) + abs(j - c), POSITION_WORDS[i][j]) for i in range(3) for j in range(3))
    return [w for d, w in by_dist if w != pos]


def water_types(m: SceneMeasure) -> list[str]:
    return sorted({w.attrs["water_type"] for w in m.water_bodies}, key=WATER_TYPES.index)


def object_situation(m: SceneMeasure, rng: np.random.Generator) -> list[QA]:
    out = []
    where: list[tuple[str, str]] = []  # (question, position) candidates
    for cls in ("building", "water", "forest", "agriculture", "barren", "playground"):
        pos = m.positions.get(cls)
        # the class centroid's cell, asked only when that cell holds at least 40% of the class
        if pos and 0.01 <= m.fractions[cls] < 0.5 and m.share_in_cell(cls, pos) >= 0.4:
            if NOUNS[cls][2]:
                q = [f"Where are the {_plural(cls)}?", f"Where are the {_plural(cls)} located?"][int(rng.integers(2))]
            else:
                q = [f"Where is the {_plural(cls)}?", f"Where is the {_plural(cls)} located?"][int(rng.integers(2))]
            where.append((q, pos))
    for label in ("building", "playground"):
        items = sorted(m.of(label), key=lambda i: -i.area_px)
        if len(items) == 1 and label == "playground":
            where.append(("Where is the playground?", items[0].position))
        elif len(items) >= 2 and items[0].area_px >= 1.15 * items[1].area_px:
            where.append((f"Where is the largest {label}?", items[0].position))
    for k in rng.permutation(len(where))[:2]:
        q, pos = where[int(k)]
        out.append(QA(q, "object_situation", pos, None, _position_pool(pos)))
    types = water_types(m)
    if types:
        answer = join_words(types)
        others = [t for t in WATER_TYPES if t not in types]
        pool = [join_words(sorted(set(types) | {o}, key=WATER_TYPES.index)) for o in others]
        pool += [t for t in WATER_TYPES if t != answer]
        q = ["What are the water types in this image?", "What types of water bodies are there?"][int(rng.integers(2))]
        out.append(QA(q, "object_situation", answer, None, list(dict.fromkeys(pool))))
    return out


def land_use_types(m: SceneMeasure, min_fraction: float = LAND_USE_MIN) -> list[str]:
    """Non-background classes covering at least ``min_fraction``, largest first."""
    found = [(f, c) for c, f in m.fractions.items() if c != "background" and f >= min_fraction]
    return [NOUNS[c][1] for f, c in sorted(found, key=lambda t: (-t[0], t[1]))]


def comprehensive(m: SceneMeasure, rng: np.random.Generator) -> list[QA]:
    out = []
    if m.present("building") and "road" in m.observable:
        needs = renovation_needs(m)
        answer = _needs_text(needs)
        combos = [[]] + [[n] for n in NEEDS] + [NEEDS[:2], [NEEDS[0], NEEDS[2]]]
        pool = [_needs_text(c) for c in combos if _needs_text(c) != answer]
        q = ["What are the needs for the renovation of residents?",
             "What does this residential area need most for renovation?"][int(rng.integers(2))]
        out.append(QA(q, "comprehensive_analysis", answer, None, [str(p) for p in rng.permutation(pool)]))
    uses = land_use_types(m)
    fractions = {c: m.fractions[c] for c in m.fractions if c != "background"}
    if uses and not any(abs(f - 0.1) < 0.01 for f in fractions.values()):
        answer = join_words(uses)
        others = [NOUNS[c][1] for c in fractions if NOUNS[c][1] not in uses]
        pool = [join_words(uses[:-1])] if len(uses) > 1 else []  # one class missed
        pool += [join_words(uses + [str(extra)]) for extra in rng.permutation(others)[:2]]  # one added
        if len(uses) > 1 and others:  # the largest swapped for another class
            pool.append(join_words(uses[1:] + [str(rng.choice(others))]))
        out.append(QA("What are the main land-use types in this scene?", "comprehensive_analysis", answer, None,
                      [p for p in dict.fromkeys(pool) if p != answer]))
    ranked = sorted(fractions.items(), key=lambda t: -t[1])
    if ranked[0][1] > 1.15 * ranked[1][1] and ranked[0][1] >= 0.05:
        top = ranked[0][0]
        out.append(QA("Which land cover occupies the largest area, apart from background?",
                      "comprehensive_analysis", NOUNS[top][1], None, [NOUNS[c][1] for c, _ in ranked[1:4]]))
    return out


GENERATORS = (basic_judging, reasoning_judging, basic_counting, reasoning_counting, object_situation, comprehensive)


def generate_qas(m: SceneMeasure, rng: np.random.Generator) -> list[QA]:
    """All questions of one scene (about 10-15 for a procedural scene)."""
    return [qa for gen in GENERATORS for qa in gen(m, rng)]


def to_records(qas: list[QA], rng: np.random.Generator, scene: str, image: str) -> list[VQARecord]:
    """Each question as an open-ended record and a multiple-choice record (2-4 choices)."""
    out = []
    for k, qa in enumerate(qas):
        base = f"{scene}/q{k:02d}"
        out.append(VQARecord(f"{base}/open", image, scene, qa.question, qa.type, None, qa.answer, qa.value))
        wrong = [p for p in dict.fromkeys(qa.pool) if p != qa.answer][:3]
        choices = [qa.answer] + wrong
        choices = [choices[i] for i in rng.permutation(len(choices))]
        out.append(VQARecord(f"{base}/mc", image, scene, qa.question, qa.type, choices, qa.answer, qa.value))
    return out

"""Read a "find" phrase that names a land-cover class: which objects, how many, how large, where, next to what."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

from core.landcover.regions import find_region
from core.landcover.words import UNIT_FACTORS, find_classes, normalise

COLOURS = ("red", "blue", "white", "grey", "dark", "green", "brown")
_COLOUR_WORDS = {"red": "red", "reddish": "red", "blue": "blue", "bluish": "blue", "white": "white", "grey": "grey",
                 "gray": "grey", "greyish": "grey", "dark": "dark", "black": "dark", "green": "green",
                 "brown": "brown", "brownish": "brown"}
_COLOUR = re.compile(rf"^(?P<c>{'|'.join(_COLOUR_WORDS)})(?:-(?:roofed|roof|roofs|coloured|colored|topped|tiled))?$")
_COLOUR_TAIL = {"roofed", "coloured", "colored", "topped", "tiled"}
_ORDER_WORDS = {"largest": "largest", "biggest": "largest", "greatest": "largest", "smallest": "smallest",
                "tiniest": "smallest", "littlest": "smallest"}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20}
# Relations to a second class: "next to" (touching, a few metres) and "near" (tens of metres).
_RELATION_WORDS = {
    "next_to": ("next to", "adjacent to", "beside", "besides", "alongside", "along", "bordering", "touching", "by",
                "adjoining", "lining", "on the edge of", "at the edge of"),
    "near": ("near", "near to", "nearby", "close to", "around", "in the vicinity of", "not far from"),
}
_RELATIONS = sorted(((tuple(p.split()), kind) for kind, phrases in _RELATION_WORDS.items() for p in phrases),
                    key=lambda r: -len(r[0]))
_DETERMINERS = {"the", "a", "an", "any", "some", "its"}
# Region adjectives before the class word ("the northern lakes"), when no "in the ..." names a region.
_REGION_ADJ = {"northern": "north", "southern": "south", "eastern": "east", "western": "west", "central": "centre",
               "north-western": "north-west", "northwestern": "north-west", "north-eastern": "north-east",
               "northeastern": "north-east", "south-western": "south-west", "southwestern": "south-west",
               "south-eastern": "south-east", "southeastern": "south-east"}
# Words that say nothing about which objects: verbs of finding, determiners, generic nouns for objects.
_FILLER = {
    "the", "a", "an", "all", "every", "each", "any", "some", "of", "with", "that", "which", "those", "these", "this",
    "in", "on", "at", "to", "and", "is", "are", "there", "where", "find", "show", "me", "us", "locate", "outline",
    "detect", "highlight", "select", "mark", "map", "get", "give", "list", "draw", "segment", "extract", "delineate",
    "identify", "please", "can", "could", "you", "image", "scene", "picture", "photo", "visible", "individual",
    "separate", "distinct", "big", "large", "small", "little", "only", "just", "also", "area", "areas", "size",
    "patch", "patches", "parcel", "parcels", "plot", "plots", "block", "blocks", "zone", "zones", "object", "objects",
    "instance", "instances", "polygon", "polygons", "outlines", "shape", "shapes", "feature", "features", "first",
    "by", "sorted", "order", "ordered", "ones", "have", "has", "having", "roofed", "coloured", "colored",
}
_NUM = r"\d+(?:\.\d+)?|" + "|".join(_NUMBER_WORDS)
_UNIT = (r"km2|square kilomet(?:re|er)s?|square km|sqkm|m2|square met(?:re|er)s?|square m|ha|hectares?|acres?")
_AMOUNT = rf"(?P<a>{_NUM})\s*(?P<ua>{_UNIT})(?![a-z0-9])"
_MIN_WORDS = (r"(?:bigger|larger|greater|more|wider)\s+than|over|above|exceeding|at\s+least|from|"
              r"(?:no|not)\s+(?:smaller|less)\s+than|min(?:imum)?(?:\s+of)?")
_MAX_WORDS = (r"(?:smaller|less|lesser|tinier)\s+than|under|below|at\s+most|up\s+to|"
              r"(?:no|not)\s+(?:bigger|larger|more)\s+than|max(?:imum)?(?:\s+of)?")
_AREA_PATTERNS = (
    ("between", re.compile(rf"\bbetween\s+(?P<b>{_NUM})\s*(?P<ub>{_UNIT})?\s+and\s+{_AMOUNT}")),
    ("min", re.compile(rf"\b(?:{_MIN_WORDS})\s+{_AMOUNT}")),
    ("max", re.compile(rf"\b(?:{_MAX_WORDS})\s+{_AMOUNT}")),
    ("min", re.compile(rf"\b{_AMOUNT}\s+or\s+(?:more|larger|bigger|greater|above|over)\b")),
    ("max", re.compile(rf"\b{_AMOUNT}\s+or\s+(?:less|smaller|below|under)\b")),
)


@dataclass
class InstanceQuery:
    """Which objects of one land-cover class a phrase asks for.

    Attributes:
        cls: the target class ("water").
        order: "largest" | "smallest" | "" (largest first by default).
        limit: how many ("the 3 largest" -> 3, "the largest building" -> 1); None: all.
        min_area_m2: "bigger than 2 ha" -> 20000.0; max_area_m2: "smaller than 0.1 km2" -> 100000.0.
        region: a region name of :data:`core.landcover.regions.REGIONS` ("north-west ninth", "northern half").
        near: a class the objects must lie near ("next to the road" -> "road").
        colour: one of :data:`COLOURS`, judged from the image ("red roofs").
        distance: how near ``near`` is: "next_to" (max(5 m, 2 px)) or "near" (max(20 m, 10 px)).
    """

    cls: str
    order: str = ""
    limit: Optional[int] = None
    min_area_m2: Optional[float] = None
    max_area_m2: Optional[float] = None
    region: Optional[str] = None
    near: str = ""
    colour: str = ""
    distance: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields that say something."""
        return {k: v for k, v in asdict(self).items() if v not in ("", None)}


def _unit_factor(unit: Optional[str]) -> Optional[float]:
    if not unit:
        return None
    if unit.startswith(("km", "sqkm", "square k")):
        return UNIT_FACTORS["km2"]
    if unit.startswith(("m2", "square m")):
        return UNIT_FACTORS["m2"]
    return UNIT_FACTORS["acre"] if unit.startswith("acre") else UNIT_FACTORS["ha"]


def _number(word: str) -> Optional[float]:
    return float(_NUMBER_WORDS[word]) if word in _NUMBER_WORDS else float(word) if re.fullmatch(_NUM, word) else None


def _m2(number: str, unit: Optional[str]) -> float:
    """An amount matched by the size patterns ("2", "ha") in m2."""
    return float(_number(number) or 0.0) * float(_unit_factor(unit) or 1.0)


class _Words:
    """The words of a normalised phrase and which of them a rule has read."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.words = text.split()
        self.starts = [m.start() for m in re.finditer(r"\S+", text)]
        self.used = [False] * len(self.words)

    def use_span(self, start: int, end: int) -> None:
        for i, s in enumerate(self.starts):
            if s < end and s + len(self.words[i]) > start:
                self.used[i] = True

    def free(self) -> list[int]:
        return [i for i, u in enumerate(self.used) if not u]


def _areas(w: _Words) -> Optional[tuple[Optional[float], Optional[float]]]:
    """(min, max) area in m2 of the size clauses; None when they contradict each other."""
    lo: Optional[float] = None
    hi: Optional[float] = None
    for kind, pattern in _AREA_PATTERNS:
        for m in pattern.finditer(w.text):
            if any(w.used[i] for i, s in enumerate(w.starts) if m.start() <= s < m.end()):
                continue
            value = _m2(m.group("a"), m.group("ua"))
            if kind == "between":
                low = _m2(m.group("b"), m.group("ub") or m.group("ua"))
                lo, hi = max(lo or 0.0, min(low, value)), min(hi if hi is not None else value, max(low, value))
            elif kind == "min":
                lo = max(lo or 0.0, value)
            else:
                hi = value if hi is None else min(hi, value)
            w.use_span(*m.span())
    if lo is not None and hi is not None and lo > hi:
        return None
    return lo, hi


def _relation_before(w: _Words, i: int) -> Optional[tuple[str, int]]:
    """The relation ("next_to"/"near") ending just before word ``i`` (determiners skipped), and its first word."""
    j = i
    while j > 0 and w.words[j - 1] in _DETERMINERS:
        j -= 1
    for parts, kind in _RELATIONS:
        k = j - len(parts)
        if k >= 0 and tuple(w.words[k:j]) == parts and not any(w.used[k:j]):
            return kind, k
    return None


def parse_phrase(text: str, classes: Sequence[str]) -> Optional[InstanceQuery]:
    """The instance query a phrase asks for, or None when it does not clearly name one land-cover class.

    None (never a guess) when: no class is named ("the cars"), two classes are named other than as a
    target and a neighbour ("water and forest"), a word is left that the rules cannot read ("the cars
    next to the road", "2 ha lakes"), or the size clauses contradict each other.

    Args:
        text: what the user typed ("the 3 largest lakes in the north-west").
        classes: the model's class names; only these can be the target or the neighbour.
    """
    w = _Words(normalise(text))
    if not w.words:
        return None
    areas = _areas(w)
    if areas is None:
        return None
    region = None
    found = find_region(w.text)
    if found is not None:
        region = found[0].name
        w.use_span(*found[1])
    targets: list[tuple[int, str, str]] = []
    near, distance = "", ""
    for i, cls, phrase in find_classes(w.text, classes):
        n = len(phrase.split()) if w.words[i:i + len(phrase.split())] == phrase.split() else 1
        if any(w.used[i:i + n]):
            continue
        rel = _relation_before(w, i)
        if rel is not None:
            if near and near != cls:
                return None
            near, distance = cls, rel[0]
            for k in range(rel[1], i):
                w.used[k] = True
        else:
            targets.append((i, cls, phrase))
        for k in range(i, i + n):
            w.used[k] = True
    if len({cls for _, cls, _ in targets}) != 1 or targets[0][1] == "background":
        return None
    first, cls, phrase = targets[0]
    colours, order, numbers = set(), "", []
    for i in w.free():
        word = w.words[i]
        m = _COLOUR.match(word)
        if m:
            colours.add(_COLOUR_WORDS[m.group("c")])
        elif word in _ORDER_WORDS:
            if order and order != _ORDER_WORDS[word]:
                return None
            order = _ORDER_WORDS[word]
        elif word == "top" and region is None:
            order = order or "largest"
        elif _number(word) is not None:
            numbers.append(_number(word))
        elif region is None and word in _REGION_ADJ and i < first:
            region = f"{_REGION_ADJ[word]} ninth"
        elif word not in _FILLER and not (word in _COLOUR_TAIL and colours):
            return None
    if len(colours) > 1 or len(numbers) > 1 or any(n != int(n) or n < 1 for n in numbers):
        return None
    limit = int(numbers[0]) if numbers else (1 if order and not phrase.endswith("s") else None)
    return InstanceQuery(cls, order, limit, areas[0], areas[1], region, near, next(iter(colours), ""), distance)

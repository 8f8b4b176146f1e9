"""Words people type for land-cover classes, units and parts of an area, mapped to the engine's names."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Optional

# Canonical class -> words (singular and plural forms, lower case). Multi-word phrases are matched first.
CLASS_WORDS: dict[str, tuple[str, ...]] = {
    "water": ("water", "waters", "water body", "water bodies", "waterbody", "waterbodies", "lake", "lakes",
              "pond", "ponds", "river", "rivers", "sea", "seas", "ocean", "oceans", "stream", "streams",
              "reservoir", "reservoirs", "canal", "canals", "bay", "lagoon", "lagoons", "open water",
              "surface water", "wetland", "wetlands", "marsh", "marshes"),
    "forest": ("forest", "forests", "forested", "tree", "trees", "wood", "woods", "woodland", "woodlands",
               "tree cover", "canopy", "trees cover", "vegetation cover"),
    "agriculture": ("agriculture", "agricultural", "agricultural land", "field", "fields", "crop", "crops",
                    "cropland", "croplands", "farmland", "farmlands", "farm", "farms", "farm land", "arable land",
                    "paddy", "paddies", "cultivated land"),
    "building": ("building", "buildings", "house", "houses", "roof", "roofs", "rooftop", "rooftops", "home",
                 "homes", "structure", "structures", "built structures", "dwelling", "dwellings"),
    "road": ("road", "roads", "street", "streets", "highway", "highways", "motorway", "motorways",
             "paved road", "paved roads", "road network"),
    "barren": ("barren", "barren land", "barren ground", "barren area", "barren areas", "bare soil",
               "bare ground", "bare land", "sand", "sandy", "beach", "beaches", "dirt", "soil"),
    "playground": ("playground", "playgrounds", "court", "courts", "pitch", "pitches", "track", "tracks",
                   "running track", "running tracks", "sports field", "sports fields", "sport field",
                   "sport fields", "sports ground", "sports grounds", "sports court", "sports courts",
                   "sports pitch", "sports pitches", "football field", "football fields", "soccer field",
                   "soccer fields", "tennis court", "tennis courts", "basketball court", "basketball courts",
                   "stadium", "stadiums"),
    "background": ("background", "other land", "unclassified"),
}
# Words that also name a class but mean something else in a question; never fuzzy-matched.
_NOT_FUZZY = {"share", "shore", "area", "areas", "there", "where", "hours", "house", "count", "counts", "patch",
              "patches", "number", "points", "parts", "works", "words", "coast", "court", "sport", "pixel", "pixels",
              "total", "totals", "waters", "sands", "wooden", "parks", "marks", "tree", "trees", "roads", "rivers",
              "track", "tracks", "grounds", "lands", "field", "fields", "fewer", "forth", "north", "south",
              "fleet", "sheets", "houses", "horses", "crowds", "wards", "street", "streets", "stream", "streams"}
# Key question words and the typos people make of them (whole words only).
_KEYWORDS = ("percentage", "proportion", "hectares", "hectare", "fraction", "kilometres", "kilometers", "metres",
             "meters", "where", "which", "there", "many", "located", "location", "compared", "adjacent", "bodies")
_SHORTHAND = {"r": "are", "u": "you", "wich": "which", "whats": "what is", "wat": "what", "hw": "how",
              "thr": "there", "ther": "there", "abt": "about", "sq": "square", "wher": "where", "lakes'": "lakes"}
# Units: canonical -> words.
UNIT_WORDS: dict[str, tuple[str, ...]] = {
    "%": ("%", "percent", "percentage", "per cent", "proportion", "fraction", "share", "ratio", "area ratio"),
    "ha": ("ha", "hectare", "hectares"),
    "km2": ("km2", "km²", "square kilometre", "square kilometres", "square kilometer", "square kilometers",
            "sq km", "sqkm", "km^2", "square km"),
    "m2": ("m2", "m²", "square metre", "square metres", "square meter", "square meters", "sq m", "m^2"),
    "acre": ("acre", "acres"),
}
UNIT_FACTORS = {"m2": 1.0, "ha": 1e4, "km2": 1e6, "acre": 4046.8564224}
DIRECTIONS = ("north-west", "north", "north-east", "west", "centre", "east", "south-west", "south", "south-east")
_DIR_WORDS = {
    "northwest": "north-west", "north west": "north-west", "northwestern": "north-west", "nw": "north-west",
    "upper left": "north-west", "top left": "north-west", "top-left": "north-west", "upper-left": "north-west",
    "northeast": "north-east", "north east": "north-east", "northeastern": "north-east", "ne": "north-east",
    "upper right": "north-east", "top right": "north-east", "top-right": "north-east", "upper-right": "north-east",
    "southwest": "south-west", "south west": "south-west", "southwestern": "south-west", "sw": "south-west",
    "lower left": "south-west", "bottom left": "south-west", "bottom-left": "south-west", "lower-left": "south-west",
    "southeast": "south-east", "south east": "south-east", "southeastern": "south-east", "se": "south-east",
    "lower right": "south-east", "bottom right": "south-east", "bottom-right": "south-east",
    "lower-right": "south-east",
    "northern": "north", "north": "north", "top": "north", "upper": "north",
    "southern": "south", "south": "south", "bottom": "south", "lower": "south",
    "western": "west", "west": "west", "left": "west",
    "eastern": "east", "east": "east", "right": "east",
    "centre": "centre", "center": "centre", "central": "centre", "middle": "centre",
    "north-west": "north-west", "north-east": "north-east", "south-west": "south-west", "south-east": "south-east",
}


def normalise(text: str) -> str:
    """Lower case, unicode dashes and squares folded, punctuation other than % - . spaced out."""
    t = text.lower().replace("’", "'").replace("–", "-").replace("—", "-").replace("²", "2")
    t = re.sub(r"(\d),(\d{3})", r"\1\2", t)  # 1,000 -> 1000
    t = re.sub(r"[^a-z0-9%.\-' ]+", " ", t)
    t = re.sub(r"(?<![a-z0-9%])-|-(?![a-z0-9])", " ", t)  # lone dashes ("40%-50%" keeps its dash)
    t = re.sub(r"\.(?!\d)", " ", t)  # full stops, not decimals
    t = re.sub(r"\s+", " ", t).strip()
    return " ".join(_fix_word(w) for w in t.split())


def _fix_word(w: str) -> str:
    """Chat shorthand ("r" -> "are") and typos of key question words ("percantage" -> "percentage")."""
    if w in _SHORTHAND:
        return _SHORTHAND[w]
    if len(w) >= 6 and w.isalpha() and w not in _KEYWORDS:
        close = difflib.get_close_matches(w, _KEYWORDS, n=1, cutoff=0.85)
        if close:
            return close[0]
    if len(w) >= 5 and w.isalpha() and w not in _NOT_FUZZY and w not in _SINGLE:
        close = difflib.get_close_matches(w, _FUZZY_VOCAB, n=1, cutoff=0.84)
        if close:
            return close[0]
    return w


def _phrase_table() -> list[tuple[str, str]]:
    pairs = [(w, c) for c, words in CLASS_WORDS.items() for w in words]
    return sorted(pairs, key=lambda p: -len(p[0]))


_PHRASES = _phrase_table()
_SINGLE = {w: c for w, c in _PHRASES if " " not in w}
_FUZZY_VOCAB = [w for w in _SINGLE if len(w) >= 4]


def _phrases_for(classes: Optional[Sequence[str]]) -> list[tuple[str, str]]:
    """The class words, plus the names of a model's own classes that have none (a fine-tuned model's
    "saltmarsh" or "solar panels"), singular and plural, longest first."""
    own = [c for c in classes or () if c not in CLASS_WORDS]
    if not own:
        return _PHRASES
    names = [(" ".join(c.lower().split()), c) for c in own]
    forms = [(n[:-1] if n.endswith("s") else n + "s", c) for n, c in names] + [(n + "es", c) for n, c in names]
    return sorted(_PHRASES + names + forms, key=lambda p: -len(p[0]))


def find_classes(text: str, classes: Optional[Sequence[str]] = None) -> list[tuple[int, str, str]]:
    """Class mentions in normalised ``text``, in order: (word index, canonical class, the words matched).

    Exact words and phrases first; then single words of 5+ letters within one or two edits of a class word
    (typos: "biuldings", "forrest"). Only classes in ``classes`` (when given) are returned.
    """
    words = text.split()
    taken = [False] * len(words)
    found: list[tuple[int, str, str]] = []
    for phrase, cls in _phrases_for(classes):
        parts = phrase.split()
        n = len(parts)
        for i in range(len(words) - n + 1):
            if words[i:i + n] == parts and not any(taken[i:i + n]):
                found.append((i, cls, phrase))
                for k in range(i, i + n):
                    taken[k] = True
    vocab = [w for w in _SINGLE if len(w) >= 4]
    for i, w in enumerate(words):
        if taken[i] or len(w) < 5 or w in _NOT_FUZZY or not w.isalpha():
            continue
        close = difflib.get_close_matches(w, vocab, n=1, cutoff=0.84)
        if close:
            found.append((i, _SINGLE[close[0]], w))
            taken[i] = True
    found.sort()
    if classes is not None:
        allowed = set(classes)
        found = [f for f in found if f[1] in allowed]
    return found


def class_of_word(word: str) -> Optional[str]:
    """The canonical class of one word or phrase ("Lakes" -> "water"), or None."""
    hits = find_classes(normalise(word))
    return hits[0][1] if len(hits) == 1 else None


def find_unit(text: str) -> Optional[str]:
    """The unit asked for in normalised ``text``: '%', 'ha', 'km2', 'm2', 'acre', or None."""
    padded = f" {text} "
    for unit in ("km2", "m2", "ha", "acre", "%"):
        for w in sorted(UNIT_WORDS[unit], key=len, reverse=True):
            if w == "%":
                if "%" in text:
                    return unit
            elif f" {w} " in padded or (w in ("km2", "m2") and re.search(rf"\d{w}\b", text)):
                return unit
    return None


def find_direction(text: str) -> Optional[tuple[str, int, int]]:
    """The first direction word in normalised ``text``: (canonical, start word index, word count)."""
    words = text.split()
    best: Optional[tuple[str, int, int]] = None
    for phrase, canon in sorted(_DIR_WORDS.items(), key=lambda p: -len(p[0])):
        parts = phrase.split()
        for i in range(len(words) - len(parts) + 1):
            if words[i:i + len(parts)] == parts and (best is None or i < best[1]):
                if len(phrase) == 2 and phrase in ("ne", "nw", "se", "sw") and i == 0:
                    continue
                best = (canon, i, len(parts))
    return best

"""Multiple choice from a measurement: the choice that contains the measured value (a bin, a count, a word)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Optional

from core.landcover.words import class_of_word, find_classes, normalise

_RANGE = re.compile(r"^(\d+(?:\.\d+)?)\s*%?\s*(?:-|to)\s*(\d+(?:\.\d+)?)\s*%?$")
_BOUND = re.compile(r"^(less than|under|below|fewer than|more than|over|above|at least|at most)\s+"
                    r"(\d+(?:\.\d+)?)\s*%?$")
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)\s*%?$")
_WORD_NUMBERS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}


def _interval(choice: str) -> Optional[tuple[float, float, bool]]:
    """(low, high, high inclusive) of a numeric choice: '10%-20%', '3', 'less than 5', 'more than 50%'."""
    t = normalise(choice).replace("% -", "%-").replace(" %", "%")
    t = re.sub(r"%\s*-\s*", "-", t)
    if t in _WORD_NUMBERS:
        v = float(_WORD_NUMBERS[t])
        return v, v, True
    m = _RANGE.match(t)
    if m:
        return float(m.group(1)), float(m.group(2)), False
    m = _BOUND.match(t)
    if m:
        v = float(m.group(2))
        if m.group(1) in ("less than", "under", "below", "fewer than"):
            return float("-inf"), v, False
        if m.group(1) == "at most":
            return float("-inf"), v, True
        return (v, float("inf"), False) if m.group(1) != "at least" else (v, float("inf"), True)
    m = _NUMBER.match(t)
    if m:
        v = float(m.group(1))
        return v, v, True
    return None


def pick_number(value: float, choices: Sequence[str]) -> tuple[Optional[int], bool]:
    """Index of the choice containing ``value`` (bins: low <= v < high, the top bin closed at 100), and
    whether it contains it exactly; else the nearest numeric choice and False; (None, False) if none is numeric."""
    best, best_gap = None, float("inf")
    for i, c in enumerate(choices):
        iv = _interval(c)
        if iv is None:
            continue
        lo, hi, closed = iv
        if lo <= value < hi or (closed and value == hi) or (hi == 100 and value == 100) or lo == hi == value:
            return i, True
        gap = lo - value if value < lo else value - hi
        if gap < best_gap:
            best, best_gap = i, gap
    return best, False


def pick_words(words: Sequence[str], choices: Sequence[str]) -> Optional[int]:
    """Index of the choice naming exactly the same set of things (classes, positions, yes/no, water kinds)."""
    want = {_canon(w) for w in words}
    for i, c in enumerate(choices):
        parts = [p for p in re.split(r",|\band\b|/|&", normalise(c)) if p.strip()]
        if {_canon(p) for p in parts} == want:
            return i
    return None


def _canon(word: str) -> str:
    t = normalise(word).strip()
    t = {"center": "centre", "middle": "centre", "northwest": "north-west", "northeast": "north-east",
         "southwest": "south-west", "southeast": "south-east"}.get(t, t)
    if t in ("river", "rivers", "lake", "lakes", "pond", "ponds", "sea", "seas", "ocean"):
        return t.rstrip("s") if t != "ocean" else "sea"
    cls = class_of_word(t) if find_classes(t) else None
    return cls or t


MAX_CHOICES = 26  # one letter each, A-Z, in the model's prompt
_WORDS = {1: "one", 2: "two"}


def check_options(items: Optional[Sequence[str]], what: str, least: int = 2) -> Optional[list[str]]:
    """Choices (or labels) as given, stripped, after checking them; None stays None.

    Raises:
        InputError: fewer than ``least``, more than 26, an empty one, or one given twice (any case).
    """
    from core.errors import InputError

    if items is None:
        return None
    cleaned = [str(c).strip() for c in items]
    if any(not c for c in cleaned):
        raise InputError(f"One of the {what} is empty; separate them with '|', e.g. 'yes|no'.")
    if len(cleaned) < least:
        raise InputError(f"Give at least {_WORDS.get(least, least)} {what} (got {len(cleaned)}).")
    if len(cleaned) > MAX_CHOICES:
        raise InputError(f"Give at most {MAX_CHOICES} {what} (got {len(cleaned)}).")
    seen: set[str] = set()
    for c in cleaned:
        if c.casefold() in seen:
            raise InputError(f"'{c}' is given twice among the {what}.")
        seen.add(c.casefold())
    return cleaned

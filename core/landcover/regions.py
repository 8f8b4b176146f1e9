"""Parts of an area people name in questions: the nine cells of a 3x3 grid ("in the north-west") and halves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from core.landcover.words import _DIR_WORDS


@dataclass(frozen=True)
class Region:
    """A part of the area of interest, as fractions of its envelope (row 0 = north, col 0 = west).

    ``name`` is how an answer says it: "north-west ninth", "northern half", "whole area".
    """

    name: str
    rows: tuple[float, float] = (0.0, 1.0)
    cols: tuple[float, float] = (0.0, 1.0)

    @property
    def whole(self) -> bool:
        return self.rows == (0.0, 1.0) and self.cols == (0.0, 1.0)


_GRID = (("north-west", "north", "north-east"), ("west", "centre", "east"), ("south-west", "south", "south-east"))
REGIONS: dict[str, Region] = {}
for _r, _row in enumerate(_GRID):
    for _c, _word in enumerate(_row):
        REGIONS[f"{_word} ninth"] = Region(f"{_word} ninth", (_r / 3, (_r + 1) / 3), (_c / 3, (_c + 1) / 3))
REGIONS.update({
    "northern half": Region("northern half", (0.0, 0.5), (0.0, 1.0)),
    "southern half": Region("southern half", (0.5, 1.0), (0.0, 1.0)),
    "western half": Region("western half", (0.0, 1.0), (0.0, 0.5)),
    "eastern half": Region("eastern half", (0.0, 1.0), (0.5, 1.0)),
})
_HALF = {"north": "northern half", "south": "southern half", "west": "western half", "east": "eastern half"}
_DIR = "|".join(sorted((re.escape(w) for w in _DIR_WORDS if len(w) > 2), key=len, reverse=True))
_PART = r"(?:part|parts|half|side|corner|portion|section|area|region|quadrant|edge|end|sector|bit|cell)"
# "in the north-west (corner)", "on the left side", "towards the top", "the northern half", "top-left"
_IN = re.compile(rf"\b(?:in|on|at|towards|toward|to|within|across|inside|along|of)\s+(?:the\s+|its\s+|this\s+)?"
                 rf"(?:very\s+|far\s+)?(?P<dir>{_DIR})(?:\s+(?P<part>{_PART}))?\b")
_PARTED = re.compile(rf"\b(?P<dir>{_DIR})\s+(?P<part>{_PART})\b")


def find_region(text: str) -> Optional[tuple[Region, tuple[int, int]]]:
    """The part of the area named in normalised ``text`` and the character span that names it, or None.

    "in the north" is the north ninth (the top-centre cell of a 3x3 grid over the area), as the
    benchmark and the engine's position words use it; "half" must be said for a half.
    """
    for pattern in (_IN, _PARTED):
        m = pattern.search(text)
        if not m:
            continue
        word = _DIR_WORDS[m.group("dir")]
        part = m.group("part") or ""
        if part == "half":
            if word not in _HALF:
                continue
            return REGIONS[_HALF[word]], m.span()
        return REGIONS[f"{word} ninth"], m.span()
    return None

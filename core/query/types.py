"""Typed queries over the measured facts of an area, and the answers they give."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from core.landcover.regions import Region

KINDS = (
    "share",  # share of the area covered by a class (%); also the area in a unit when one is asked
    "area",  # area of a class in m2/ha/km2 (the unit asked, else a readable one)
    "count",  # number of objects (connected components) of a class; near: those within "next to" of a class
    "presence",  # is there any of a class
    "compare",  # more/less of class A than class B, by area or by count
    "rank",  # the largest/smallest class (by area), the class with the most objects
    "where",  # where a class is (3x3 position of its centre of mass); largest: where its largest object is
    "adjacent",  # is class A next to / near class B
    "urban",  # rural or urban (buildings + roads from 20%)
    "land_use",  # the main land-use types (classes from 10% of the area)
    "water_types",  # which kinds of water bodies (sea, river, lake, pond) by shape and size
)




@dataclass
class Query:
    """What a question asks, in the engine's terms.

    Attributes:
        kind: one of :data:`KINDS`.
        classes: canonical class names, one (two for compare/adjacent).
        unit: '%', 'm2', 'ha', 'km2', 'acre' or '' (the answer then picks a readable one).
        region: the part of the area the question is about (None: the whole area).
        by: compare/rank by 'area' or 'count'.
        order: compare: 'more' | 'less'; rank: 'largest' | 'smallest'; where: 'largest' for the largest object;
            urban: the word a yes/no question asks about ('urban' | 'rural').
        near: count: only objects within "next to" distance of this class ('' for all).
        distance: adjacent, and count with ``near``: 'next_to' (touching, a few metres) or 'near' (tens of metres).
    """

    kind: str
    classes: list[str] = field(default_factory=list)
    unit: str = ""
    region: Optional[Region] = None
    by: str = "area"
    order: str = ""
    near: str = ""
    distance: str = ""
    yes_no: bool = False  # compare, urban: the question wants yes/no ("is there more...", "is it urban?")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with only the fields that say something (``yes_no`` is how to word the answer)."""
        d = asdict(self)
        d.pop("yes_no")
        d["region"] = self.region.name if self.region is not None else None
        return {k: v for k, v in d.items() if v not in ("", None, []) and not (k == "by" and v == "area")}


@dataclass
class Figure:
    """One measured figure an answer rests on."""

    name: str  # "water share", "building objects"
    value: float
    unit: str  # "%", "m2", "objects", "m"...
    text: str  # "46.2% (48.50 km2 of 104.86 km2)"


@dataclass
class MeasuredAnswer:
    """The answer a query gets from measurement: a short answer, a sentence quoting the figures, the figures."""

    answer: str  # short: "46.2%", "43", "yes", "north-west", a picked choice
    sentence: str  # "Water covers 46.2% of the area (48.50 km2 of 104.86 km2), measured from the land-cover ..."
    figures: list[Figure] = field(default_factory=list)
    value: Optional[float] = None  # the number the answer states, in ``unit`` (share: %, count: objects)
    unit: str = ""
    choice: Optional[int] = None  # index of the picked choice (multiple choice)
    how: str = ""  # how it was measured

"""Pick the objects an instance query asks for: size, region, neighbour and colour filters, then order and limit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from core.instances.phrase import InstanceQuery
from core.landcover.grid import (
    ClassObjects,
    Component,
    MaskGrid,
    distance_to_class,
    in_region,
    near_limit_m,
    object_pixels,
)
from core.landcover.regions import REGIONS
from core.stats import format_area

ColourFn = Callable[[Sequence[Component]], dict[int, str]]  # objects -> colour name by object id


@dataclass
class Selection:
    """The objects a query selected and the rule that selected them."""

    objects: list[Component]  # in the order asked, at most ``limit``
    matched: int  # objects that passed every filter, before the limit
    total: int  # objects of the class of at least the minimum area, before the filters
    rule: str  # "water objects of at least 400 m2 in the north-west ninth, largest first (3 of 12)"
    warnings: list[str] = field(default_factory=list)


def describe(query: InstanceQuery, floor_m2: float, near_m: float) -> str:
    """What the query looks for, in words: "building objects of at least 400 m2 within 20 m of road, largest first"."""
    low = max(floor_m2, query.min_area_m2 or 0.0)
    size = (f"of {format_area(low)} to {format_area(query.max_area_m2)}" if query.max_area_m2 is not None
            else f"of at least {format_area(low)}")
    parts = [f"{query.cls} objects", size]
    if query.colour:
        parts.append(f"looking {query.colour} in the image")
    if query.near:
        parts.append(f"within {near_m:.0f} m of {query.near}")
    if query.region:
        parts.append(f"in the {query.region}")
    return " ".join(parts) + f", {query.order or 'largest'} first"


def select_objects(found: ClassObjects, grid: MaskGrid, query: InstanceQuery, classes: Sequence[str],
                   colours: Optional[ColourFn] = None) -> Selection:
    """Apply the query's filters (area, region by centroid, distance to a class, colour), then order and limit.

    Args:
        found: the objects of ``query.cls`` (:func:`core.landcover.grid.find_objects`).
        grid: the mask they were found in.
        query: what to select.
        classes: class names by mask index (for the neighbour class).
        colours: names the colour of objects from the image; needed when the query asks for a colour.
    """
    near_m = near_limit_m(grid, query.distance or "next_to")
    text = describe(query, found.min_area_m2, near_m)
    warnings: list[str] = []
    keep = list(found.objects)
    if query.min_area_m2 is not None:
        keep = [o for o in keep if o.area_m2 >= query.min_area_m2]
    if query.max_area_m2 is not None:
        keep = [o for o in keep if o.area_m2 <= query.max_area_m2]
    if query.region:
        keep = [o for o in keep if in_region(grid, o, REGIONS[query.region])]
    if query.near and keep:
        dist = distance_to_class(grid, classes, query.near)
        if not np.isfinite(dist).any():
            warnings.append(f"there is no {query.near} in the area")

        def gap(o: Component) -> float:
            c1, r1, c2, r2 = o.box
            return float(dist[r1:r2, c1:c2][object_pixels(found, o)].min())

        keep = [o for o in keep if gap(o) <= near_m]
    if query.colour and keep:
        if colours is None:
            warnings.append("no image to judge colours by, so no object could be matched by colour")
            keep = []
        else:
            named = colours(keep)
            keep = [o for o in keep if named.get(o.id) == query.colour]
    keep.sort(key=lambda o: (o.area_m2 if query.order == "smallest" else -o.area_m2, o.id))
    chosen = keep[:query.limit] if query.limit is not None else keep
    total = len(found.objects)
    if not chosen:
        if total == 0:
            warnings.append(f"nothing found: the area has no {query.cls} object of at least "
                            f"{format_area(found.min_area_m2)}")
        else:
            warnings.append(f"nothing found: looked for {text}; none of the {total} {query.cls} "
                            f"object{'s' if total != 1 else ''} of at least {format_area(found.min_area_m2)} matched")
    return Selection(chosen, len(keep), total, f"{text} ({len(chosen)} of {len(keep)})", warnings)

"""Objects that appeared or disappeared between the dates, counted only where the pixel size allows it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.change.mask import NOISE, UNCHANGED
from core.landcover.grid import NODATA, MaskGrid, find_objects
from core.landcover.resolution import countable, why_not_counted

MAJORITY = 0.5  # an object counts as new (gone) when more than half its pixels are a reported change


@dataclass
class ObjectChange:
    """Objects of one class that appeared or disappeared; ``counted`` False says why not (``why``)."""

    cls: str
    appeared: int
    disappeared: int
    before: int  # objects of the class on the first date, over the compared area
    after: int
    counted: bool = True
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def object_changes(before: MaskGrid, after: MaskGrid, change: MaskGrid, classes: Sequence[str],
                   min_object_m2: float = 0.0) -> list[ObjectChange]:
    """Per class (background aside): objects of the second date with no pixel of the class on the first date
    and mostly in reported change (appeared), and the reverse (disappeared).

    The three grids are one grid (the masks as read); pixels outside the compared area are nodata in
    ``change`` and are left out of both dates. Classes whose single objects cannot be told apart at this
    pixel size (:func:`core.landcover.resolution.countable`) are not counted, and say why.
    """
    from core.landcover.grid import default_min_area_m2

    outside = change.mask == NODATA
    real = (change.mask != UNCHANGED) & (change.mask != NOISE) & ~outside
    b_mask, a_mask = before.mask.copy(), after.mask.copy()
    b_mask[outside], a_mask[outside] = NODATA, NODATA
    b_grid = MaskGrid(b_mask, before.transform, before.crs)
    a_grid = MaskGrid(a_mask, after.transform, after.crs)
    floor = default_min_area_m2(b_grid, min_object_m2)
    out = []
    for cls in classes:
        if cls == "background":
            continue
        if not countable(cls, b_grid.gsd_m):
            out.append(ObjectChange(cls, 0, 0, 0, 0, counted=False, why=why_not_counted(cls, b_grid.gsd_m)))
            continue
        k = classes.index(cls)
        old, new = find_objects(b_grid, classes, cls, floor), find_objects(a_grid, classes, cls, floor)
        appeared = _new(new, b_mask == k, real)
        gone = _new(old, a_mask == k, real)
        out.append(ObjectChange(cls, appeared, gone, len(old.objects), len(new.objects)))
    return out


def _new(found: Any, other: np.ndarray, real: np.ndarray) -> int:
    """Objects with no pixel of their class on the other date and mostly reported change."""
    n = 0
    for obj in found.objects:
        c1, r1, c2, r2 = obj.box
        own = found.labels[r1:r2, c1:c2] == obj.id
        if other[r1:r2, c1:c2][own].any():
            continue
        if real[r1:r2, c1:c2][own].mean() > MAJORITY:
            n += 1
    return n

"""Measured grounding: the objects of the class a phrase names, found in the land-cover mask, as polygons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

from core.analysis import Area
from core.instances.colour import object_colours
from core.instances.phrase import InstanceQuery
from core.instances.polygons import to_found_object
from core.instances.select import Selection, select_objects
from core.landcover.grid import ClassObjects, MaskGrid
from core.progress import CancelledFn, ProgressFn, check_cancelled, no_progress
from core.results import FoundObject


@dataclass
class Found:
    """What measured grounding found, with what a user should be told about it."""

    objects: list[FoundObject]
    rule: str  # the selection rule, once
    warnings: list[str] = field(default_factory=list)  # e.g. what was looked for when nothing matched
    notes: list[str] = field(default_factory=list)  # caveats for the provenance (decimated mask...)


def select_in(grid: MaskGrid, found: ClassObjects, classes: Sequence[str], query: InstanceQuery,
              area: Optional[Area] = None) -> Selection:
    """Select the objects ``query`` asks for among ``found``; colours are read from ``area``'s image when asked."""
    colours = None if area is None else (lambda objs: object_colours(area, grid, found, objs))
    return select_objects(found, grid, query, classes, colours)


def ground_instances(grid: MaskGrid, found: ClassObjects, classes: Sequence[str], query: InstanceQuery,
                     area: Optional[Area] = None, progress: ProgressFn = no_progress,
                     cancelled: Optional[CancelledFn] = None) -> Found:
    """Select and outline the objects ``query`` asks for.

    Args:
        grid: the segmentation of the area (class indices, 255 outside it), in the raster's CRS.
        found: the objects of ``query.cls`` in ``grid`` (:func:`core.landcover.grid.find_objects`; the engine
            passes those its measured facts already hold, so counts and "find" agree).
        classes: class names by mask index.
        query: from :func:`core.instances.phrase.parse_phrase`.
        area: the analysed area, whose image colours are read when the query names a colour.
    """
    check_cancelled(cancelled)
    sel = select_in(grid, found, classes, query, area)
    objects = []
    for i, obj in enumerate(sel.objects):
        check_cancelled(cancelled)
        objects.append(to_found_object(found, obj, grid, sel.rule))
        progress((i + 1) / len(sel.objects), f"outlining object {i + 1}/{len(sel.objects)}")
    from core.landcover.resolution import countable, why_not_counted

    warnings = list(sel.warnings)
    if objects and not countable(query.cls, grid.gsd_m):
        warnings.append(f"{why_not_counted(query.cls, grid.gsd_m)}: each outline is a patch of {query.cls}s, "
                        "not one object")
    return Found(objects, sel.rule, warnings, list(grid.notes))

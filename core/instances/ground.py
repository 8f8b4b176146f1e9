"""Measured grounding: the objects of the class a phrase names, found in the land-cover mask, as polygons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

from core.analysis import Area
from core.instances.colour import object_colours
from core.instances.phrase import InstanceQuery
from core.instances.polygons import to_found_object
from core.instances.select import select_objects
from core.landcover.grid import default_min_area_m2, find_objects, read_mask
from core.progress import CancelledFn, ProgressFn, check_cancelled, no_progress
from core.results import FoundObject


@dataclass
class Found:
    """What measured grounding found, with what a user should be told about it."""

    objects: list[FoundObject]
    rule: str  # the selection rule, once
    warnings: list[str] = field(default_factory=list)  # e.g. what was looked for when nothing matched
    notes: list[str] = field(default_factory=list)  # caveats for the provenance (decimated mask...)


def ground_instances(mask_path: str, classes: Sequence[str], query: InstanceQuery, area: Optional[Area] = None,
                     min_object_m2: float = 0.0, progress: ProgressFn = no_progress,
                     cancelled: Optional[CancelledFn] = None) -> Found:
    """Find, select and outline the objects ``query`` asks for in a class-index mask GeoTIFF.

    Args:
        mask_path: the segmentation of the area (class indices, 255 outside it), in the raster's CRS.
        classes: class names by mask index.
        query: from :func:`core.instances.phrase.parse_phrase`.
        area: the analysed area, whose image colours are read when the query names a colour.
        min_object_m2: the engine's minimum object area; objects are at least 4 pixels in any case.
    """
    grid = read_mask(mask_path)
    found = find_objects(grid, classes, query.cls, default_min_area_m2(grid, min_object_m2))
    check_cancelled(cancelled)
    colours = None if area is None else (lambda objs: object_colours(area, grid, found, objs))
    sel = select_objects(found, grid, query, classes, colours)
    objects = []
    for i, obj in enumerate(sel.objects):
        check_cancelled(cancelled)
        objects.append(to_found_object(found, obj, grid, sel.rule))
        progress((i + 1) / len(sel.objects), f"outlining object {i + 1}/{len(sel.objects)}")
    return Found(objects, sel.rule, sel.warnings, list(grid.notes))

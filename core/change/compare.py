"""Compare two class masks on one grid: from-to matrix, noise floor, change mask, polygons and objects."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np

from core.change.matrix import (
    NOISE_FACTOR,
    mean_pixel_m2,
    reported_pairs,
    transition_rows,
    transitions,
    valid_area,
)
from core.change.result import ChangeResult, NoiseFloor

PathLike = Union[str, "os.PathLike[str]"]


def noise_floor(before_mask: PathLike, control_mask: PathLike, k: int, method: str) -> NoiseFloor:
    """The segmentation's disagreement with itself on unchanged ground: the first date's map against the map
    of the same image perturbed (``control_mask``), as each pair's share of the area both cover (the larger of
    i -> j and j -> i)."""
    areas = transitions(before_mask, control_mask, k)
    total = float(areas.sum())
    rate = areas / total if total > 0 else np.zeros_like(areas)
    off = rate.copy()
    np.fill_diagonal(off, 0.0)
    disagreement = float(off.sum())
    off = np.maximum(off, off.T)  # a shift moves a boundary both ways: j -> i noise is i -> j noise too; a
    # resampled image biases the map one way (blurred fields read as roads): that direction is kept whole
    return NoiseFloor(method, disagreement, off, NOISE_FACTOR)


def compare_masks(before_mask: PathLike, after_mask: PathLike, classes: Sequence[str], noise: NoiseFloor,
                  out: PathLike, polygons: Optional[PathLike] = None, min_object_m2: float = 0.0,
                  before: str = "", after: str = "", model: str = "") -> ChangeResult:
    """Everything measured from two class masks on one grid (``out``: the change mask GeoTIFF to write)."""
    from core.change.mask import read_legend, write_change_mask
    from core.change.objects import object_changes
    from core.change.polygons import change_patches, write_change_gpkg
    from core.landcover.grid import read_mask

    k = len(classes)
    areas = transitions(before_mask, after_mask, k)
    before_m2, pixel_m2 = valid_area(before_mask, k), mean_pixel_m2(before_mask)
    reported = reported_pairs(areas, noise.pair_rate, pixel_m2, noise.factor)
    rows = transition_rows(classes, areas, noise.pair_rate, reported)
    write_change_mask(before_mask, after_mask, out, classes, reported)
    legend = read_legend(out)
    grids = [read_mask(p) for p in (before_mask, after_mask, out)]
    patches, left = change_patches(grids[2], legend)
    objects = object_changes(grids[0], grids[1], grids[2], list(classes), min_object_m2)
    notes = list(dict.fromkeys(n for g in grids for n in g.notes))
    if left:
        notes.append(f"{left} smaller change patches are not written as polygons")
    layer = None
    if polygons is not None:
        layer = write_change_gpkg(polygons, patches, grids[2].crs, before=before, after=after, model=model)
    compared = float(areas.sum())
    return ChangeResult(before, after, list(classes), rows, compared, before_m2, noise, os.fspath(out), layer,
                        patches, objects, notes=notes)

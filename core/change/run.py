"""The change pipeline: segment both dates on the first date's grid, a noise test, then compare and measure."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, Optional

from core.analysis import AOILike, Area
from core.errors import InputError
from core.progress import CancelledFn, ProgressFn, SubProgress, check_cancelled, no_progress

NOISE_SHIFT_PX = 3  # the noise test moves the tiles this many pixels (whole pixels: the image is not resampled)


def run_change(engine: Any, before: str, after: str, aoi: AOILike = None, out: Optional[str] = None,
               polygons: Optional[str] = None, question: Optional[str] = None,
               progress: Optional[ProgressFn] = None, cancelled: Optional[CancelledFn] = None,
               bands: Optional[Sequence[int]] = None, sensor: Optional[str] = None,
               after_bands: Optional[Sequence[int]] = None, after_sensor: Optional[str] = None,
               caption: bool = False, on_text: Optional[Any] = None) -> Any:
    """See :meth:`core.engine.Engine.change`."""
    from core.change.grid import Grid, overlap_bounds, raster_pixel_m, resampling_for, warp_to_grid
    from core.change.questions import parse_change_question
    from core.outputs import check_output, input_files

    report = progress or no_progress
    t0 = time.perf_counter()
    if question is not None and not question.strip():
        raise InputError("The question is empty.")
    later = engine.locate(after, None, (after_bands, after_sensor))  # checks the second raster; NIR as the first
    first = engine.locate(before, None, (bands, sensor))
    if out is None:
        out = os.path.abspath(f"{os.path.splitext(os.path.basename(str(before)))[0]}_change.tif")
    inputs = input_files(first.info.path) + input_files(later.info.path)
    out = check_output(out, "geotiff", inputs)
    polygons = check_output(polygons, "gpkg", inputs, what="--polygons") if polygons is not None else None
    if out == polygons:
        raise InputError("The change mask and the polygons must be two different files.")
    box = overlap_bounds(first.info.path, later.info.path)
    if box is None:
        raise InputError(f"The two rasters do not overlap: {before} and {after} cover different places.")
    if question is not None:
        parse_change_question(question, engine.classes)  # an unmeasurable question fails before any work
    check_cancelled(cancelled)
    area, stats, tiles, timings = engine._prepare(before, aoi if aoi else list(box), report, cancelled, upto=0.35,
                                                  imagery=(bands, sensor))
    before_mask, _, _ = engine._segment_area(area, None, no_progress, cancelled)
    grid = Grid.of(before_mask)

    t1 = time.perf_counter()
    engine._made += 1
    work = engine.workdir
    before_m, after_m = grid.pixel_m, raster_pixel_m(later.info.path)
    vrt = warp_to_grid(later.info.path, grid, work / f"after_on_before_{engine._made}.vrt",
                       resampling_for(after_m, before_m))
    after_mask = _segment(engine, vrt, area, later.profile, SubProgress(report, 0.35, 0.62), cancelled)
    control = _control(engine, area, grid, later.info.path, (before_m, after_m), SubProgress(report, 0.62, 0.9),
                       cancelled)
    timings["segment_after"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    report(0.92, "comparing")
    result = compare(engine, before, after, before_mask, after_mask, control, out, polygons,
                     _method(before_m, after_m), cancelled)
    timings["compare"] = time.perf_counter() - t2
    result.provenance = engine._provenance(area, stats, tiles, timings)
    result.after_bands = later.profile.to_dict()
    result.notes += [n for n in ([later.profile.note] if later.profile.note else []) if n not in result.notes]
    if question is not None:
        from core.change.questions import answer_change

        result.answer = answer_change(question, result, engine.classes)
    if caption:
        from core.change.caption import write_change_caption

        report(0.95, "writing the change caption")
        t3 = time.perf_counter()
        result.caption = write_change_caption(engine, result, _placed(vrt, area, later.profile), on_text, cancelled)
        timings["caption"] = time.perf_counter() - t3
    timings["total"] = time.perf_counter() - t0
    report(1.0, "done")
    return result


def _control(engine: Any, area: Area, grid: Any, after: str, pixels_m: tuple[float, float], progress: ProgressFn,
             cancelled: Optional[CancelledFn]) -> str:
    """The noise test's map: the first date's image read onto the second date's grid and back, as the second date
    is read (same resampling both ways; an exact copy when the grids match), segmented with the tiles moved
    :data:`NOISE_SHIFT_PX` pixels, and that map moved back onto the first date's grid (pixel for pixel).

    What it disagrees with the first date's map on is what resampling and tiling alone make of unchanged ground.
    """
    from core.change.grid import Grid, resampling_for, warp_to_grid

    before_m, after_m = pixels_m
    work, n = engine.workdir, engine._made
    there = warp_to_grid(area.info.path, Grid.of(after), work / f"noise_there_{n}.vrt",
                         resampling_for(before_m, after_m))
    moved = warp_to_grid(there, grid.moved(NOISE_SHIFT_PX), work / f"noise_back_{n}.vrt",
                         resampling_for(after_m, before_m))
    mask = _segment(engine, moved, area, area.profile, progress, cancelled)
    return warp_to_grid(mask, grid, work / f"noise_mask_{n}.vrt", "nearest")


def _method(before_m: float, after_m: float) -> str:
    from core.landcover.resolution import pixel_text

    how = (f"the first date's {pixel_text(before_m)} image read onto the second date's {pixel_text(after_m)} grid "
           f"and back" if abs(after_m - before_m) > 0.01 * before_m else "the first date's image read onto the "
           "second date's grid and back")
    return f"{how}, segmented again with the tiles moved {NOISE_SHIFT_PX} pixels"


def _segment(engine: Any, path: str, like: Area, profile: Any, progress: ProgressFn,
             cancelled: Optional[CancelledFn]) -> str:
    """Segment a VRT on the first date's grid (same window, same AOI polygon) with ``profile``'s bands."""
    mask, _, _ = engine._segment_area(_placed(path, like, profile), None, progress, cancelled)
    return mask


def _placed(path: str, like: Area, profile: Any) -> Area:
    """A VRT on the first date's grid as an analysed area (same window and AOI polygon, ``profile``'s bands)."""
    from core.raster import open_raster

    info = open_raster(path)
    if (info.width, info.height) != (like.window.width, like.window.height):
        raise ValueError(f"{path} is {info.width}x{info.height}, not on the first date's grid")
    return Area(info, info.window, like.bounds, like.mask, profile)


def compare(engine: Any, before: str, after: str, before_mask: str, after_mask: str, control: str, out: str,
            polygons: Optional[str], method: str, cancelled: Optional[CancelledFn]) -> Any:
    """Noise floor, matrix and outputs from the three masks on one grid."""
    from core.change.compare import compare_masks, noise_floor

    k = len(engine.classes)
    noise = noise_floor(before_mask, control, k, method)
    check_cancelled(cancelled)
    return compare_masks(before_mask, after_mask, engine.classes, noise, out, polygons,
                         engine.config.min_object_m2, before=str(before), after=str(after),
                         model=engine.segmenter.model_id)

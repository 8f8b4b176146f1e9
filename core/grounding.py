"""Grounding over an area: the model reads it window by window; boxes are merged in CRS space."""

from __future__ import annotations

from typing import Any, Optional

from core.analysis import Area
from core.geo import merge_boxes, model_box_to_crs, nms, pixel_size
from core.progress import CancelledFn, ProgressFn, check_cancelled
from core.results import Box
from core.stats import SceneStats
from core.tiling import PixelWindow, tile_plan


def ground_windows(area: Area, tile: int, overlap: int) -> list[PixelWindow]:
    """Scene-pixel windows the model reads: the tile plan of the AOI window (one window when small)."""
    plan = tile_plan(area.window.width, area.window.height, tile, overlap)
    return [t.window.shift(area.window.col_off, area.window.row_off) for t in plan]


def ground_area(engine: Any, area: Area, prompt: str, stats: SceneStats, progress: ProgressFn,
                cancelled: Optional[CancelledFn]) -> tuple[list[Box], list[str], int]:
    """Run grounding on every window of the area; returns merged boxes, parser warnings and window count.

    Each window is resized to the model's input size; the model answers ``<box>x1,y1,x2,y2</box>`` in
    0-999 of that image, mapped back through the window to the raster CRS. A box's score is the
    geometric-mean probability of its tokens. Pieces of one object cut by window seams are merged.
    """
    from models.grounding_text import parse_boxes, score_boxes_from_generation

    windows = ground_windows(area, engine.config.tile, engine.config.overlap)
    boxes: list[Box] = []
    warnings: list[str] = []
    for i, win in enumerate(windows):
        check_cancelled(cancelled)
        image = engine.image(area, win)
        out = engine.generate(image, "ground", prompt, stats, [], None, None, cancelled)
        parsed = parse_boxes(out.text)
        scores = score_boxes_from_generation(out.text, out.token_texts, out.token_logprobs)
        where = f"window {i + 1}/{len(windows)}" if len(windows) > 1 else "model output"
        warnings += [f"{where}: {w}" for w in parsed.warnings if w != "no box found"]
        for box, score in zip(parsed.boxes, scores):
            x1, y1, x2, y2 = model_box_to_crs(box, win, area.info.transform)
            boxes.append(Box(x1, y1, x2, y2, label=prompt, score=float(score)))
        progress((i + 1) / len(windows), f"grounding window {i + 1}/{len(windows)}")
    tolerance = 2 * pixel_size(area.info.transform)
    return nms(merge_boxes(boxes, tolerance=tolerance)), warnings, len(windows)

"""Grounding over windows: an object cut by window seams comes back as one box in the raster CRS."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from core.analysis import locate
from core.grounding import ground_area, ground_windows
from core.stats import SceneStats
from core.tiling import PixelWindow
from tests.rasters import UTM_TRANSFORM, make_raster

OBJECT_PX = (100, 40, 170, 90)  # scene pixels (x1, y1, x2, y2): crosses the seams of 96 px windows


@dataclass
class _Out:
    text: str
    token_texts: list[str] = field(default_factory=list)
    token_logprobs: list[float] = field(default_factory=list)


class _SeesTheObject:
    """Stands in for the model: answers, for each window, the 0-999 box of the object's part inside it."""

    class config:  # noqa: N801 (mirrors EngineConfig's fields that ground_area reads)
        tile = 96
        overlap = 32

    def __init__(self) -> None:
        self.window: PixelWindow | None = None

    def image(self, area, window: PixelWindow) -> PixelWindow:
        self.window = window
        return window

    def generate(self, image: PixelWindow, task, prompt, stats, retrieved, choices, on_text, cancelled) -> _Out:
        w = image
        x1, y1 = max(OBJECT_PX[0], w.col_off), max(OBJECT_PX[1], w.row_off)
        x2, y2 = min(OBJECT_PX[2], w.col_end), min(OBJECT_PX[3], w.row_end)
        if x2 <= x1 or y2 <= y1:
            return _Out("none")
        box = [round((x1 - w.col_off) / w.width * 999), round((y1 - w.row_off) / w.height * 999),
               round((x2 - w.col_off) / w.width * 999), round((y2 - w.row_off) / w.height * 999)]
        text = "<box>" + ",".join(str(v) for v in box) + "</box>"
        return _Out(text, [text], [-0.1])


@pytest.fixture()
def area(tmp_path):
    return locate(make_raster(tmp_path / "scene.tif", width=224, height=160), None)


def test_windows_cover_the_area(area) -> None:
    windows = ground_windows(area, 96, 32)
    assert len(windows) == 3 * 2  # stride 64: ceil((224-96)/64)+1 = 3 columns, ceil((160-96)/64)+1 = 2 rows
    covered = {(c, r) for w in windows for c in range(w.col_off, w.col_end) for r in range(w.row_off, w.row_end)}
    assert len(covered) == 224 * 160


def test_object_cut_by_seams_comes_back_as_one_box_in_the_crs(area) -> None:
    stats = SceneStats(0.0, 0.0, [], [])
    boxes, warnings, windows = ground_area(_SeesTheObject(), area, "the object", stats, lambda f, m: None, None)
    assert windows == 6 and warnings == []
    assert len(boxes) == 1
    a, _, c, _, e, f = tuple(UTM_TRANSFORM)[:6]
    x1, y1, x2, y2 = OBJECT_PX
    expect = (c + a * x1, f + e * y2, c + a * x2, f + e * y1)  # north-up: rows grow southwards
    got = (boxes[0].x1, boxes[0].y1, boxes[0].x2, boxes[0].y2)
    assert got == pytest.approx(expect, abs=2 * a)  # 0-999 rounding: within two 10 m pixels
    assert boxes[0].label == "the object" and 0 < boxes[0].score <= 1

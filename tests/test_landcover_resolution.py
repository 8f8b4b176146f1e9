"""Single buildings, roads and playgrounds are counted only at pixels of about 2 m or finer; coarser, we say why."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.instances.ground import ground_instances
from core.instances.phrase import parse_phrase
from core.landcover.resolution import countable, why_not_counted
from core.query.answer import answer_question
from core.query.execute import execute
from core.query.facts import AreaFacts
from core.query.parse import parse_question
from core.query.types import Query
from models.config import EARTHVQA_CLASSES
from tests.rasters import UTM_CRS

BUILDING, ROAD, WATER = (EARTHVQA_CLASSES.index(c) for c in ("building", "road", "water"))


def _scene() -> np.ndarray:
    """40 x 40: three separate 3 x 3 buildings, a road along row 20, a pond."""
    m = np.zeros((40, 40), np.uint8)
    for r, c in ((2, 2), (2, 10), (10, 2)):
        m[r:r + 3, c:c + 3] = BUILDING
    m[20, :] = ROAD
    m[28:36, 28:36] = WATER
    return m


def _facts(gsd: float) -> AreaFacts:
    return AreaFacts.of_mask(_scene(), (gsd, 0.0, 435730.0, 0.0, -gsd, 4179460.0), UTM_CRS, EARTHVQA_CLASSES)


@pytest.mark.parametrize(("cls", "gsd", "expected"), [
    ("building", 0.3, True), ("building", 2.0, True), ("building", 2.5, False), ("building", 10.0, False),
    ("road", 10.0, False), ("playground", 30.0, False), ("water", 30.0, True), ("forest", 10.0, True),
    ("building", math.nan, True),
])
def test_which_classes_can_be_counted_at_which_pixel_size(cls: str, gsd: float, expected: bool) -> None:
    assert countable(cls, gsd) is expected


def test_how_many_buildings_at_10_m_says_why_and_gives_the_area() -> None:
    fine, coarse = _facts(0.5), _facts(10.0)
    q = parse_question("How many buildings are there?", EARTHVQA_CLASSES)
    assert execute(q, fine).answer == "3" and execute(q, fine).value == 3
    a = execute(q, coarse)
    assert a.answer == "not counted at 10 m" and a.value is None
    assert "single buildings cannot be told apart at 10 m pixels" in a.sentence and "2 m or finer" in a.sentence
    share = 100 * 27 / 1600  # 27 building pixels of 1600
    assert [f.name for f in a.figures] == ["building share"] and a.figures[0].value == pytest.approx(share, abs=1e-3)
    assert f"{share:.1f}%" in a.sentence and "2,700 m²" in a.sentence  # 27 pixels of 100 m²


def test_counts_of_water_bodies_stay_at_10_m() -> None:
    a = execute(Query("count", ["water"]), _facts(10.0))
    assert a.answer == "1" and a.value == 1


def test_compare_and_rank_by_count_fall_back_to_area_and_say_so() -> None:
    coarse = _facts(10.0)
    cmp = execute(Query("compare", ["building", "water"], by="count", order="more", yes_no=True), coarse)
    assert cmp.sentence.startswith("Compared by area: single buildings cannot be told apart")
    assert cmp.answer == "no"  # 27 building pixels against 64 of water, by area
    rank = execute(Query("rank", by="count"), coarse)
    assert "Not counted at 10 m pixels: roads and buildings" in rank.sentence and rank.answer == "water"


def test_a_model_s_building_count_at_10_m_is_struck_out_not_believed() -> None:
    got = answer_question("Describe the scene.", _facts(10.0), None,
                          lambda: type("G", (), {"text": "There are 37 buildings near the pond."})(), lambda t, c: None)
    assert got.source == "checked" and got.overruled
    assert "[not countable at this pixel size; the model said 37]" in got.answer and "37 buildings" not in got.answer
    assert "cannot be counted at this pixel size" in got.explanation
    assert got.figures[0]["value"] is None and got.figures[0]["text"] == "not countable at this pixel size"


def test_finding_buildings_at_10_m_warns_that_outlines_are_patches() -> None:
    coarse, fine = _facts(10.0), _facts(0.5)
    query = parse_phrase("the buildings", EARTHVQA_CLASSES)
    found = ground_instances(coarse.grid, coarse.found("building"), EARTHVQA_CLASSES, query)
    assert len(found.objects) == 3 and any("patch of buildings" in w for w in found.warnings)
    assert why_not_counted("building", 10.0) in found.warnings[-1]
    sharp = ground_instances(fine.grid, fine.found("building"), EARTHVQA_CLASSES, query)
    assert len(sharp.objects) == 3 and not any("patch" in w for w in sharp.warnings)


def test_a_scene_far_from_the_training_pixel_sizes_gets_a_note() -> None:
    from core.landcover.resolution import training_note

    trained = [0.3, 0.5, 10.0, 30.0]
    assert training_note(10.0, trained) == "" and training_note(0.6, trained) == "" and training_note(50, trained) == ""
    assert "3 m pixels are far from the pixel sizes the model was trained on (0.3 m, 0.5 m, 10 m, 30 m)" in \
        training_note(3.0, trained)
    assert training_note(3.0, []) == ""  # a model that does not say: no note

"""The never-contradict rule: a model's stated shares and counts checked against the measurement; measured answers
equal the statistics a user sees beside them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest

from core.data.measure import PRESENT_MIN_FRACTION
from core.query.answer import answer_question
from core.query.check import corrected, find_claims
from core.query.facts import AreaFacts
from core.stats import describe_stats, format_area
from models.config import EARTHVQA_CLASSES
from tests.rasters import UTM_CRS, UTM_TRANSFORM, scene_values

BUILDING, ROAD, WATER, FOREST = (EARTHVQA_CLASSES.index(c) for c in ("building", "road", "water", "forest"))
UNPARSED = "Describe the scene."  # the query layer leaves this to the language model


@dataclass
class Generation:
    """What the language model returns: its text and the prompt it was given (a stand-in for its output)."""

    text: str
    prompt: str = ""


class FakeModel:
    """``ask_model`` for :func:`answer_question`: returns fixed text and counts its calls."""

    def __init__(self, text: str) -> None:
        self.text, self.calls = text, 0

    def __call__(self) -> Generation:
        self.calls += 1
        return Generation(self.text, prompt=f"[question] {UNPARSED}")


def no_choice(text: str, choices: list[str]) -> Optional[int]:
    return None


@pytest.fixture(autouse=True)
def count_at_any_pixel_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """These 10 m masks test the counting logic itself (components, regions, "next to"); the rule that single
    buildings are not counted at pixels coarser than about 2 m is tested in tests/test_landcover_resolution.py."""
    import core.landcover.resolution

    monkeypatch.setattr(core.landcover.resolution, "COUNT_GSD_M", {})


@pytest.fixture(scope="module")
def facts() -> AreaFacts:
    """20 x 20 at 10 m: water 38 px (9.5%), 4 separate 2 x 2 buildings (one touching the road), a road row."""
    m = np.zeros((20, 20), np.uint8)
    m[0:4, 0:9] = WATER
    m[4, 0:2] = WATER
    for r, c in ((6, 2), (6, 8), (6, 14), (13, 2)):
        m[r:r + 2, c:c + 2] = BUILDING
    m[15, :] = ROAD
    return AreaFacts.of_mask(m, UTM_TRANSFORM, UTM_CRS, EARTHVQA_CLASSES)


def _stated(answer: str) -> str:
    """The answer without the notes that quote what the model said."""
    return re.sub(r"\s*\[measured; the model said [^\]]*\]", "", answer)


AGREE = [
    "About 10% of the area is water.",  # 9.5% measured: within 5 points
    "about 10% water",
    "5%-15% of the area is water",  # the range contains 9.5%
    "There are 4 buildings.",
    "3 buildings are near the road.",  # a subset: only more than the total (4) contradicts
]
CONTRADICT = [  # (model text, wrong figure, measured figure)
    ("About 40% of the area is water.", "40%", "9.5%"),
    ("40%-50% of the area is water", "40%-50%", "9.5%"),
    ("There are 3 buildings.", "3 buildings", "4 buildings"),
    ("There are 12 buildings in the image.", "12", "4"),
    ("5 buildings are near the road.", "5 buildings", "4"),  # more than the total
]


@pytest.mark.parametrize("text", [
    *AGREE,
    "There are 3 buildings near the road.",  # a subset: fewer than the total agrees
    "3 buildings in the north of the scene.",
])
def test_agreeing_figures_are_kept(facts: AreaFacts, text: str) -> None:
    model = FakeModel(text)
    a = answer_question(UNPARSED, facts, None, model, no_choice)
    assert model.calls == 1
    assert a.source == "checked" and not a.overruled
    assert a.answer == text and a.model_answer == text


@pytest.mark.parametrize(("text", "wrong", "measured"), CONTRADICT)
def test_contradicted_figures_are_overruled(facts: AreaFacts, text: str, wrong: str, measured: str) -> None:
    a = answer_question(UNPARSED, facts, None, FakeModel(text), no_choice)
    assert a.source == "checked" and a.overruled
    assert a.model_answer == text  # the model's words are kept beside the correction
    assert measured in _stated(a.answer) and wrong not in _stated(a.answer)
    assert any(f["value"] in (9.5, 4.0) for f in a.figures)


def test_a_text_without_figures_is_the_models(facts: AreaFacts) -> None:
    text = "A small coastal settlement with a lake to the north-west and a road along the south."
    model = FakeModel(text)
    a = answer_question(UNPARSED, facts, None, model, no_choice)
    assert a.source == "model" and a.answer == text and not a.overruled and model.calls == 1
    assert a.generated is not None and a.generated.text == text


def test_the_chosen_choice_is_what_gets_checked(facts: AreaFacts) -> None:
    choices = ["about 10% water", "about 40% water"]
    a = answer_question(UNPARSED, facts, choices, FakeModel("B"), lambda text, ch: 1)
    assert a.source == "checked" and a.overruled and a.model_answer == "about 40% water"


@pytest.mark.parametrize("question", [
    "How much of this scene is water?", "How many buildings are there?", "Is there any forest?",
    "is the water next to a road", "What is the dominant land cover?",
])
def test_a_parseable_question_never_asks_the_model(facts: AreaFacts, question: str) -> None:
    model = FakeModel("There are 99 buildings and 80% water.")
    a = answer_question(question, facts, None, model, no_choice)
    assert model.calls == 0
    assert a.source == "measured" and a.query is not None and a.model_answer is None
    assert "99" not in a.answer and "80%" not in a.explanation


def test_corrected_replaces_only_contradicted_figures(facts: AreaFacts) -> None:
    text = "There are 4 buildings and about 40% water."
    claims = find_claims(text, facts)
    assert [(c.kind, c.agrees) for c in claims] == [("count", True), ("share", False)]
    out = corrected(text, claims)
    assert out.startswith("There are 4 buildings and about 9.5%") and "40%" not in _stated(out)


def _random_facts(seed: int, min_object_m2: float) -> AreaFacts:
    """48 x 48 at 10 m: smooth seeded class blobs (all 8 classes); forest removed on odd seeds."""
    mask = (scene_values(1, 48, 48, "uint8", seed=seed)[0] // 32).astype(np.uint8)
    if seed % 2:
        mask[mask == FOREST] = 0
    return AreaFacts.of_mask(mask, UTM_TRANSFORM, UTM_CRS, EARTHVQA_CLASSES, min_object_m2=min_object_m2)


@pytest.mark.parametrize("min_object_m2", [0.0, 500.0])
@pytest.mark.parametrize("seed", range(5))
def test_measured_answers_equal_the_statistics(seed: int, min_object_m2: float) -> None:
    f = _random_facts(seed, min_object_m2)
    stats = {c.name: c for c in f.stats.classes}
    shown = describe_stats(f.stats, max_chars=2000)  # what the user sees beside the answer

    def ask(question: str) -> dict:
        model = FakeModel("unused")
        a = answer_question(question, f, None, model, no_choice)
        assert a.source == "measured" and model.calls == 0, question
        return {"answer": a.answer, "values": [x["value"] for x in a.figures]}

    assert {"water", "building"} <= set(stats)  # every seed has both, so the figures below are real ones

    def line(cls: str) -> str:  # the class's entry in the statistics text
        c = stats[cls]
        return f"{cls} {100 * c.fraction:.1f}% {format_area(c.area_m2)}, {c.count} object{'' if c.count == 1 else 's'}"

    water = stats["water"]
    share = ask("How much of this scene is water?")
    assert share["values"][0] == round(100 * water.fraction, 2) and share["answer"] == f"{100 * water.fraction:.1f}%"
    assert line("water").startswith(f"water {share['answer']} ") and line("water") in shown

    buildings = ask("How many buildings are there?")
    n = stats["building"].count
    assert buildings["answer"] == str(n) and buildings["values"][0] == n
    assert line("building").endswith(f", {n} object{'' if n == 1 else 's'}") and line("building") in shown

    forest = ask("Is there any forest?")
    # yes when the class covers 0.2% or the table beside the answer counts an object of it
    present = "forest" in stats and (stats["forest"].fraction >= PRESENT_MIN_FRACTION or stats["forest"].count > 0)
    assert forest["answer"] == ("yes" if present else "no")
    assert present == (seed % 2 == 0)


@pytest.fixture(scope="module")
def forest_facts() -> AreaFacts:
    """20 x 20 at 10 m: forest 60%, water 23%, a road row (5%) and two 2 x 2 buildings in the water (2%)."""
    m = np.zeros((20, 20), np.uint8)
    m[0:12, :] = FOREST
    m[12:17, :] = WATER
    m[18, :] = ROAD
    m[13:15, 2:4] = m[13:15, 8:10] = BUILDING
    return AreaFacts.of_mask(m, UTM_TRANSFORM, UTM_CRS, EARTHVQA_CLASSES)


@pytest.mark.parametrize(("text", "kinds", "agree"), [
    ("A rural scene dominated by forest.", ["scene", "dominant"], [True, True]),
    ("An urban scene dominated by water.", ["scene", "dominant"], [False, False]),
    ("Mostly forest, with a lake in the south; countryside.", ["dominant", "scene"], [True, True]),
    ("A built-up area.", ["scene"], [False]),
    ("A non-urban area; the lake is not urban.", [], []),  # negated scene words are not claims
])
def test_scene_words_are_checked_against_the_measurement(forest_facts: AreaFacts, text: str, kinds: list[str],
                                                         agree: list[bool]) -> None:
    claims = find_claims(text, forest_facts)
    assert [c.kind for c in claims] == kinds and [c.agrees for c in claims] == agree


def test_a_caption_that_calls_a_forest_urban_is_corrected_with_its_figures(forest_facts: AreaFacts) -> None:
    text = "An urban scene dominated by water."
    a = answer_question(UNPARSED, forest_facts, None, FakeModel(text), no_choice)
    built = 100 * (forest_facts.fraction("building") + forest_facts.fraction("road"))
    assert a.source == "checked" and a.overruled and a.model_answer == text
    assert a.answer.startswith(f"A rural [measured: buildings and roads {built:.1f}%, urban from 20%; the model said "
                               "urban] scene dominated by forest [measured: forest 60.0%, water 23.0%; the model said "
                               "water].")
    assert "urban or rural" in a.explanation and "dominant class" in a.explanation
    assert {f["name"]: f["value"] for f in a.figures} == {"urban or rural": round(built, 2), "dominant class": 23.0}

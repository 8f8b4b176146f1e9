"""Change questions are parsed into typed queries and answered from the from-to matrix, saying so."""

from __future__ import annotations

import pytest

from core.change.compare import compare_masks, noise_floor
from core.change.questions import answer_change, parse_change_question
from core.errors import InputError
from tests.change.change_masks import write_masks
from tests.masks import CLASSES


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("questions")
    before, after, control = write_masks(folder)
    noise = noise_floor(before, control, len(CLASSES), "test control")
    return compare_masks(before, after, CLASSES, noise, folder / "change.tif")


@pytest.mark.parametrize(("question", "kind", "cls", "direction"), [
    ("How much forest was lost?", "lost", "forest", ""),
    ("where did new buildings appear?", "where", "building", "gain"),
    ("Did the water area grow?", "grew", "water", "gain"),
    ("what did the farmland become?", "became", "agriculture", ""),
    ("how much new barren land is there?", "gained", "barren", ""),
    ("Has the lake shrunk?", "grew", "water", "loss"),
    ("where was forest cleared?", "where", "forest", "loss"),
])
def test_questions_parse_to_change_queries(question: str, kind: str, cls: str, direction: str) -> None:
    q = parse_change_question(question, CLASSES)
    assert (q.kind, q.cls, q.direction) == (kind, cls, direction)


@pytest.mark.parametrize("question", ["what changed?", "did forest become water or fields?", "how is the weather"])
def test_unmeasurable_questions_are_refused_with_examples(question: str) -> None:
    with pytest.raises(InputError, match="how much forest was lost"):
        parse_change_question(question, CLASSES)


def test_forest_lost_is_the_measured_from_to_area(result) -> None:  # noqa: ANN001
    a = answer_change("How much forest was lost?", result, CLASSES)
    assert a["source"] == "measured" and a["answer"] == "600 m²"
    assert "to barren land" in a["sentence"] and "measured from the land-cover maps" in a["sentence"]
    assert "50.0% of its 1,200 m²" in a["sentence"]
    assert "Compared over the overlap" in a["sentence"] and "7.5% of unchanged ground" in a["sentence"]
    lost = next(f for f in a["figures"] if f["name"] == "forest lost")
    assert lost["value"] == pytest.approx(600.0)


def test_water_did_not_grow(result) -> None:  # noqa: ANN001
    a = answer_change("Did the water area grow?", result, CLASSES)
    assert a["answer"] == "no" and "shrank by 600 m²" in a["sentence"]


def test_farmland_became_buildings_not_the_noise(result) -> None:  # noqa: ANN001
    a = answer_change("What did the farmland become?", result, CLASSES)
    assert a["answer"] == "buildings"  # the 500 m2 of forest creep is within the noise floor
    assert "400 m²" in a["sentence"] and "forest" not in a["answer"]


def test_new_buildings_are_placed(result) -> None:  # noqa: ANN001
    a = answer_change("Where did new buildings appear?", result, CLASSES)
    assert a["answer"] == "west" and "agriculture -> building" in a["sentence"]


def test_a_class_without_change_says_so(result) -> None:  # noqa: ANN001
    a = answer_change("Where did new roads appear?", result, CLASSES)
    assert a["answer"] == "nowhere" and "noise floor" in a["sentence"]

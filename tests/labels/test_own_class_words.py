"""A fine-tuned model's own class names are found in questions and "find the <class>" phrases."""

from __future__ import annotations

from core.instances.phrase import parse_phrase
from core.query.parse import parse_question
from models.config import EARTHVQA_CLASSES

TUNED = list(EARTHVQA_CLASSES) + ["saltmarsh", "solar panels"]


def test_new_classes_are_found_by_name_singular_and_plural() -> None:
    assert parse_phrase("find the saltmarsh", TUNED).cls == "saltmarsh"
    got = parse_phrase("the 3 largest saltmarshes", TUNED)
    assert (got.cls, got.limit, got.order) == ("saltmarsh", 3, "largest")
    assert parse_phrase("solar panel next to the road", TUNED).near == "road"
    assert parse_question("How much saltmarsh is there in ha?", TUNED).classes == ["saltmarsh"]


def test_a_model_without_the_class_still_does_not_guess() -> None:
    assert parse_phrase("find the saltmarsh", EARTHVQA_CLASSES) is None
    assert parse_phrase("find the lakes", TUNED).cls == "water"  # the class words are unchanged

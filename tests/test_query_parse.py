"""Question -> Query: the hand-written paraphrase set, and the parser's properties (case, typos, synonyms, regions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.landcover.regions import REGIONS
from core.landcover.words import CLASS_WORDS, DIRECTIONS
from core.query.parse import parse_question
from models.config import EARTHVQA_CLASSES

PARAPHRASES = Path(__file__).parent / "fixtures" / "paraphrases" / "questions.jsonl"
MIN_ACCURACY = 0.95  # exact match of the whole Query.to_dict() on the paraphrase set


def _parsed(question: str, classes: list[str] = EARTHVQA_CLASSES) -> dict | None:
    q = parse_question(question, classes)
    return q.to_dict() if q is not None else None


def _paraphrases() -> list[dict]:
    # Only questions.jsonl: holdout_questions.jsonl (when present) is for the eval, never asserted on here.
    return [json.loads(line) for line in PARAPHRASES.read_text().splitlines() if line.strip()]


def test_paraphrase_accuracy_and_no_guesses() -> None:
    rows = _paraphrases()
    assert len(rows) >= 150
    misses = [(r["question"], r["query"], _parsed(r["question"])) for r in rows]
    misses = [m for m in misses if m[1] != m[2]]
    guesses = [m for m in misses if m[1] is None]  # the engine cannot answer these: a parse is a guess
    report = "\n".join(f"{q!r}: expected {want}, got {got}" for q, want, got in misses)
    accuracy = 1 - len(misses) / len(rows)
    assert not guesses, f"parsed questions the measurement cannot answer:\n{report}"
    assert accuracy >= MIN_ACCURACY, f"exact-match accuracy {accuracy:.3f} < {MIN_ACCURACY}; misses:\n{report}"


def test_paraphrase_set_is_well_formed() -> None:
    for r in _paraphrases():
        q = r["query"]
        if q is None:
            continue
        assert set(q["classes"] if "classes" in q else []) <= set(EARTHVQA_CLASSES), r
        assert q.get("region") is None or q["region"] in REGIONS, r


@pytest.mark.parametrize(("clean", "variants"), [
    ("how many buildings are there?", ["HOW MANY BUILDINGS ARE THERE", "How many building are there",
                                       "how many biuldings are there", "how many buildngs r there"]),
    ("what percentage of the image is water?", ["What Percentage Of The Image Is Water", "what percantage of the "
                                                "image is watter", "what percentage of the image is waters"]),
    ("is there any forest?", ["Is There Any Forests", "is there any forrest", "IS THERE ANY FOREST"]),
    ("how many hectares of farmland are in the north-west?", ["How many hectars of farmlands are in the northwest",
                                                              "how many hectares of farmland in the top left"]),
    ("where is the largest lake?", ["Where is the largest lakes", "WHERE IS THE LARGEST LAKE"]),
])
def test_case_plural_and_typos_give_the_clean_query(clean: str, variants: list[str]) -> None:
    want = _parsed(clean)
    assert want is not None
    for v in variants:
        assert _parsed(v) == want, v


@pytest.mark.parametrize(("cls", "word"), [(c, w) for c, words in CLASS_WORDS.items() for w in words])
def test_every_synonym_maps_to_its_class(cls: str, word: str) -> None:
    for template in ("is there any {}?", "what percentage of the image is {}?"):
        q = parse_question(template.format(word), EARTHVQA_CLASSES)
        assert q is not None and q.classes == [cls], template.format(word)


@pytest.mark.parametrize("question", [
    "how many buildings are there?", "is there any building?", "what percentage of the area is houses",
    "where are the buildings", "is there more water than buildings?", "how many buildings are near the water?",
    "is there any water near the houses",  # names water too: must not become "is there any water"
    "how much of the area is covered by water and forest",  # must not become the water share
])
def test_a_class_the_model_lacks_gets_none(question: str) -> None:
    assert parse_question(question, ["background", "water"]) is None
    assert parse_question("is there any water?", ["background", "water"]) is not None


@pytest.mark.parametrize(("words", "region"), [
    ("in the north", "north ninth"), ("at the top", "north ninth"), ("in the northern part", "north ninth"),
    ("in the top left", "north-west ninth"), ("in the north-west corner", "north-west ninth"),
    ("in the upper right", "north-east ninth"), ("in the middle", "centre ninth"), ("in the centre", "centre ninth"),
    ("on the left side", "west ninth"), ("in the east", "east ninth"), ("in the bottom-right", "south-east ninth"),
    ("in the southwest", "south-west ninth"), ("at the bottom", "south ninth"),
    ("in the northern half", "northern half"), ("in the north half", "northern half"),
    ("in the bottom half", "southern half"), ("in the left half", "western half"),
    ("in the eastern half", "eastern half"),
])
def test_region_words(words: str, region: str) -> None:
    q = parse_question(f"how much water is there {words}?", EARTHVQA_CLASSES)
    assert q is not None and q.region is not None and q.region.name == region
    assert q.region == REGIONS[region]


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_half_only_when_half_is_said(direction: str) -> None:
    q = parse_question(f"how many buildings are in the {direction}?", EARTHVQA_CLASSES)
    assert q is not None and q.region == REGIONS[f"{direction} ninth"]
    r = REGIONS[f"{direction} ninth"]
    assert r.rows[1] - r.rows[0] == pytest.approx(1 / 3) and r.cols[1] - r.cols[0] == pytest.approx(1 / 3)


def test_no_region_is_the_whole_area() -> None:
    q = parse_question("what percentage of the image is water?", EARTHVQA_CLASSES)
    assert q is not None and q.region is None and "region" not in q.to_dict()

"""Reading "find" phrases: class words, synonyms, typos, counts, sizes, regions, neighbours, colours, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.instances.phrase import InstanceQuery, parse_phrase
from core.landcover.regions import REGIONS
from models.config import EARTHVQA_CLASSES

HA, ACRE = 1e4, 4046.8564224

READS: list[tuple[str, dict[str, Any]]] = [
    # classes, synonyms, plurals, capitals, typos
    ("the water bodies", {"cls": "water"}),
    ("Lakes", {"cls": "water"}),
    ("the POND", {"cls": "water"}),
    ("rivers and the sea", {"cls": "water"}),
    ("the ocean", {"cls": "water"}),
    ("trees", {"cls": "forest"}),
    ("the woods", {"cls": "forest"}),
    ("fields", {"cls": "agriculture"}),
    ("farmland", {"cls": "agriculture"}),
    ("houses", {"cls": "building"}),
    ("the highway", {"cls": "road"}),
    ("bare soil", {"cls": "barren"}),
    ("sports fields", {"cls": "playground"}),
    ("the tennis court", {"cls": "playground"}),
    ("the biuldings", {"cls": "building"}),
    ("FORREST", {"cls": "forest"}),
    ("find all the lakes, please", {"cls": "water"}),
    # order and count
    ("the 3 largest buildings", {"cls": "building", "order": "largest", "limit": 3}),
    ("the largest building", {"cls": "building", "order": "largest", "limit": 1}),
    ("the largest lakes", {"cls": "water", "order": "largest"}),
    ("the two smallest ponds", {"cls": "water", "order": "smallest", "limit": 2}),
    ("the top 5 fields", {"cls": "agriculture", "order": "largest", "limit": 5}),
    ("10 houses", {"cls": "building", "limit": 10}),
    # sizes with units
    ("water bodies bigger than 2 ha", {"cls": "water", "min_area_m2": 2 * HA}),
    ("ponds over 500 m2", {"cls": "water", "min_area_m2": 500.0}),
    ("ponds over 500m²", {"cls": "water", "min_area_m2": 500.0}),
    ("forest smaller than 0.1 km2", {"cls": "forest", "max_area_m2": 1e5}),
    ("fields larger than 1 acre", {"cls": "agriculture", "min_area_m2": ACRE}),
    ("lakes of 1,000 square metres or more", {"cls": "water", "min_area_m2": 1000.0}),
    ("lakes between 1 and 5 hectares", {"cls": "water", "min_area_m2": HA, "max_area_m2": 5 * HA}),
    ("the 2 largest lakes larger than 3 ha", {"cls": "water", "order": "largest", "limit": 2,
                                              "min_area_m2": 3 * HA}),
    # regions
    ("lakes in the north-west", {"cls": "water", "region": "north-west ninth"}),
    ("the houses in the top-left corner", {"cls": "building", "region": "north-west ninth"}),
    ("trees in the north", {"cls": "forest", "region": "north ninth"}),
    ("woods in the northern part", {"cls": "forest", "region": "north ninth"}),
    ("roads on the left side", {"cls": "road", "region": "west ninth"}),
    ("the northern lakes", {"cls": "water", "region": "north ninth"}),
    ("buildings in the southern half", {"cls": "building", "region": "southern half"}),
    # neighbours
    ("houses next to the road", {"cls": "building", "near": "road", "distance": "next_to"}),
    ("buildings along the river", {"cls": "building", "near": "water", "distance": "next_to"}),
    ("fields beside the water", {"cls": "agriculture", "near": "water", "distance": "next_to"}),
    ("buildings near the forest", {"cls": "building", "near": "forest", "distance": "near"}),
    ("the largest field next to the road in the east", {"cls": "agriculture", "order": "largest", "limit": 1,
                                                        "near": "road", "distance": "next_to",
                                                        "region": "east ninth"}),
    # colours
    ("red roofs", {"cls": "building", "colour": "red"}),
    ("the blue-roofed buildings", {"cls": "building", "colour": "blue"}),
    ("buildings with grey roofs", {"cls": "building", "colour": "grey"}),
    ("white houses", {"cls": "building", "colour": "white"}),
]

REFUSED = [
    "",  # nothing
    "the cars",  # not a class
    "the cars next to the road",  # the class is only a neighbour: the target is unknown
    "ships on the sea",
    "water and forest",  # two targets
    "buildings in the forest",  # two classes, not as target + neighbour
    "2 ha lakes",  # a size without a comparison
    "buildings bigger than 5 ha and smaller than 1 ha",  # contradiction
    "the background",  # not objects
    "red and blue roofs",  # two colours
    "the largest and smallest lakes",
    "north of the river",
]


@pytest.mark.parametrize(("text", "expected"), READS)
def test_phrase_reads_as_expected(text: str, expected: dict[str, Any]) -> None:
    query = parse_phrase(text, EARTHVQA_CLASSES)
    assert query is not None, text
    got = query.to_dict()
    assert got.keys() == expected.keys(), (text, got)
    for key, value in expected.items():
        assert got[key] == (pytest.approx(value) if isinstance(value, float) else value), (text, key, got)
    assert query.region is None or query.region in REGIONS  # a region the selection knows


@pytest.mark.parametrize("text", REFUSED)
def test_phrase_that_names_no_single_class_is_refused(text: str) -> None:
    assert parse_phrase(text, EARTHVQA_CLASSES) is None


def test_a_class_the_model_lacks_is_not_read() -> None:
    assert parse_phrase("the playgrounds", ["background", "water", "forest"]) is None
    assert parse_phrase("lakes next to the road", ["background", "water", "forest"]) is None


def test_to_dict_drops_only_empty_fields() -> None:
    q = InstanceQuery("water", limit=1, min_area_m2=0.0)
    assert q.to_dict() == {"cls": "water", "limit": 1, "min_area_m2": 0.0}


def test_hand_written_grounding_phrases_parse_and_nothing_is_guessed() -> None:
    """The hand-written grounding set (tests/fixtures/paraphrases): mostly exact, never a parse where none is due."""
    path = Path(__file__).parent / "fixtures" / "paraphrases" / "grounding.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    got = [parse_phrase(r["phrase"], EARTHVQA_CLASSES) for r in rows]
    got = [q.to_dict() if q is not None else None for q in got]
    misses = [(r["phrase"], r["query"], g) for r, g in zip(rows, got) if g != r["query"]]
    guessed = [m for m in misses if m[1] is None]
    assert len(rows) >= 60 and not guessed, guessed
    assert 1 - len(misses) / len(rows) >= 0.85, misses

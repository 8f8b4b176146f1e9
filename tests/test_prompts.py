"""Prompt formats: fixed phrases, choices, what goes in and what stays out, answers, choice matching."""

import pytest

from models import prompts
from models.grounding_text import parse_boxes
from models.prompts import build_answer, build_prompt, match_choice

OBJECTS = "water: 31.2% (31.8 ha), 2 objects, centroid east; building: 5.0% (5.1 ha), 40 objects"
RETRIEVED = ["A harbour with boats moored along a pier.", "Farmland with irrigation channels."]


def test_multiple_choice_lists_lettered_choices_after_the_objects() -> None:
    text = build_prompt("vqa", "Are there  any ponds?", OBJECTS, RETRIEVED, choices=["yes", "no"])
    assert text.splitlines() == [
        prompts.OBJECTS_PREFIX + OBJECTS,
        "Question: Are there any ponds?",
        prompts.CHOICES_HEADER,
        "A. yes",
        "B. no",
        prompts.MC_INSTRUCTION,
    ]


def test_open_question_has_no_choices() -> None:
    text = build_prompt("vqa", "How many buildings are there?", "", [])
    assert text == "Question: How many buildings are there?\n" + prompts.OPEN_INSTRUCTION
    assert prompts.CHOICES_HEADER not in text


def test_classify_uses_the_paper_phrase_with_all_categories() -> None:
    cats = ["airport", "bare land", "storage tanks", "viaduct"]
    text = build_prompt("classify", "", OBJECTS, [], choices=cats)
    phrase = "Choose the best category describe the image from: airport, bare land, storage tanks, viaduct."
    assert text.endswith(phrase)


def test_ground_and_caption_instructions() -> None:
    ground = build_prompt("ground", "the storage tanks next to the road", "", [])
    assert "Locate: the storage tanks next to the road" in ground and "<box>x1,y1,x2,y2</box>" in ground
    assert "0-999" in ground
    assert build_prompt("caption", "", "", []) == prompts.CAPTION_INSTRUCTION
    assert build_prompt("caption", "Describe the roads.", "", []) == "Describe the roads."


def test_retrieved_text_stays_out_unless_asked() -> None:
    plain = build_prompt("vqa", "Is there a harbour?", OBJECTS, RETRIEVED)
    assert "harbour with boats" not in plain and prompts.RETRIEVED_PREFIX not in plain
    with_ret = build_prompt("vqa", "Is there a harbour?", OBJECTS, RETRIEVED, include_retrieved=True)
    assert "(1) A harbour with boats moored along a pier. (2) Farmland" in with_ret


def test_long_objects_text_is_clipped() -> None:
    long = "; ".join(f"class{i}: {i}.0% ({i}.1 ha), {i} objects, centroid north" for i in range(60))
    first = build_prompt("caption", "", long, []).splitlines()[0]
    assert len(first) <= len(prompts.OBJECTS_PREFIX) + prompts.MAX_OBJECTS_CHARS and first.endswith(" ...")


@pytest.mark.parametrize(
    "task, query, choices",
    [("translate", "q", None), ("classify", "", None), ("vqa", "  ", None), ("ground", "", None),
     ("vqa", "q", [str(i) for i in range(27)])],
)
def test_bad_requests_raise(task, query, choices) -> None:
    with pytest.raises(ValueError):
        build_prompt(task, query, "", [], choices=choices)


def test_answers() -> None:
    assert build_answer("vqa", 3.0) == "3" and build_answer("vqa", 2.5) == "2.5"
    assert build_answer("vqa", " no ") == "no"
    assert build_answer("caption", "A lake\n near  fields.") == "A lake near fields."
    boxes = [[10, 20, 300, 400], [0, 0, 999, 999]]
    target = build_answer("ground", boxes)
    assert target == "<box>10,20,300,400</box><box>0,0,999,999</box>"
    parsed = parse_boxes(target)
    assert parsed.boxes == [tuple(b) for b in boxes] and parsed.warnings == []
    with pytest.raises(ValueError):
        build_answer("vqa", "  ")


@pytest.mark.parametrize(
    "said, choices, index",
    [("no", ["yes", "no"], 1), ("No.", ["yes", "no"], 1), ("B", ["yes", "no"], 1), ("(A)", ["yes", "no"], 0),
     ("B. no", ["yes", "no"], 1), ("A. no", ["yes", "no"], None), ("A. yes, there is one", ["yes", "no"], 0),
     ("I think the answer is yes", ["yes", "no"], 0),
     ("yes and no", ["yes", "no"], None), ("0%-10%", ["0%-10%", "10%-20%", "10%"], 0),
     ("about 10%", ["0%-10%", "10%-20%", "10%"], 2), ("maybe", ["yes", "no"], None)],
)
def test_match_choice(said, choices, index) -> None:
    assert match_choice(said, choices) == index


def test_prompt_version_is_recorded() -> None:
    assert prompts.PROMPT_VERSION == "earthask-prompts-1"

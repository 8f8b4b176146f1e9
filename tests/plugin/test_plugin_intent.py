"""The plain-words command parser."""

import pytest

from core.errors import InputError
from plugin.intent import ASK, CAPTION, CLASSIFY, GROUND, SEGMENT, Intent, parse_intent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("find all playgrounds", Intent(GROUND, "playgrounds")),
        ("Find all the playgrounds in this area.", Intent(GROUND, "playgrounds")),
        ("locate the largest pond", Intent(GROUND, "largest pond")),
        ("show me every building here", Intent(GROUND, "building")),
        ("where are the roads?", Intent(GROUND, "roads")),
        ("please detect a tennis court in the box", Intent(GROUND, "tennis court")),
        ("describe this", Intent(CAPTION)),
        ("Describe this area", Intent(CAPTION)),
        ("caption the image", Intent(CAPTION)),
        ("what's here?", Intent(CAPTION)),
        ("what is in this image?", Intent(CAPTION)),
        ("tell me about this region", Intent(CAPTION)),
        ("segment", Intent(SEGMENT)),
        ("map the land cover", Intent(SEGMENT)),
        ("land cover map of this view", Intent(SEGMENT)),
        ("classify this scene", Intent(CLASSIFY)),
        ("what kind of scene is this?", Intent(CLASSIFY)),
        ("classify as urban, rural or coastal", Intent(CLASSIFY, "", ("urban", "rural", "coastal"))),
        ("How much of this area is forest?", Intent(ASK, "How much of this area is forest?")),
        ("Is it mostly urban or rural? (urban|rural)", Intent(ASK, "Is it mostly urban or rural?", ("urban", "rural"))),
        ("How much is water? (less than 10%| 10-50% |more than 50%)",
         Intent(ASK, "How much is water?", ("less than 10%", "10-50%", "more than 50%"))),
        ("Is it urban or rural? (urban/rural)", Intent(ASK, "Is it urban or rural? (urban/rural)")),  # '|' only
        ("classify as urban|rural|coastal", Intent(CLASSIFY, "", ("urban", "rural", "coastal"))),
        ("  Are   there  roads ?", Intent(ASK, "Are there roads ?")),
        ("describe the ecology of wetlands in detail compared to farmland",
         Intent(ASK, "describe the ecology of wetlands in detail compared to farmland")),
    ],
)
def test_parse_intent(text: str, expected: Intent) -> None:
    assert parse_intent(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "?", None])
def test_empty_text_is_an_input_error_with_one_sentence(text) -> None:
    with pytest.raises(InputError, match="Type a question"):
        parse_intent(text)


def test_every_intent_kind_is_reachable() -> None:
    words = ["find cars", "describe this", "segment", "classify", "Is there water?"]
    assert {parse_intent(w).kind for w in words} == {GROUND, CAPTION, SEGMENT, CLASSIFY, ASK}


def test_choices_use_one_separator_everywhere() -> None:
    from core.cli import _split
    from plugin.intent import CHOICE_SEPARATOR, split_choices

    text = "less than 10% | 10-50% | more than 50%"
    assert split_choices(text) == _split(text) == list(parse_intent(f"How much is water? ({text})").choices)
    assert CHOICE_SEPARATOR == "|"
    with pytest.raises(InputError, match="Separate the choices with"):
        split_choices("yes, no")

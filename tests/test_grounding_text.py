"""Grounding text: format/parse round trip, a dozen malformed outputs with warnings, likelihood scores."""

import math
import random

import pytest

from models.grounding_text import (
    align_tokens,
    box_scores,
    format_boxes,
    from_0_999,
    parse_boxes,
    score_boxes_from_generation,
    to_0_999,
)


def test_round_trip_of_random_boxes() -> None:
    rng = random.Random(0)
    for _ in range(50):
        boxes = []
        for _ in range(rng.randint(1, 4)):
            x1, x2 = sorted(rng.sample(range(1000), 2))
            y1, y2 = sorted(rng.sample(range(1000), 2))
            boxes.append((x1, y1, x2, y2))
        parsed = parse_boxes("the tanks " + format_boxes(boxes))
        assert parsed.warnings == [] or any("duplicate" in w for w in parsed.warnings)
        assert parsed.boxes == list(dict.fromkeys(boxes))


def test_well_formed_spans_point_at_the_numbers() -> None:
    text = "ship <box>10,20,300,400</box><box>5,6,7,8</box>"
    parsed = parse_boxes(text)
    assert parsed.boxes == [(10, 20, 300, 400), (5, 6, 7, 8)] and parsed.warnings == []
    assert [text[s:e] for s, e in parsed.spans] == ["10,20,300,400", "5,6,7,8"]
    assert format_boxes([(1, 2, 3, 4)], label="ship") == "ship <box>1,2,3,4</box>"


@pytest.mark.parametrize(
    "text, boxes, warning",
    [
        ("<box>10,20,300,400", [(10, 20, 300, 400)], "missing </box>"),
        ("<box>1,2,3,4<box>5,6,7,8</box>", [(1, 2, 3, 4), (5, 6, 7, 8)], "box 1: missing </box>"),
        ("<box>300,400,10,20</box>", [(10, 20, 300, 400)], "corners swapped"),
        ("<box>-5,20,1200,400</box>", [(0, 20, 999, 400)], "clipped"),
        ("<box>10 20 300 400</box>", [(10, 20, 300, 400)], "separators"),
        ("<box>10;20;300;400</box>", [(10, 20, 300, 400)], "separators"),
        ("<box>(10,20),(300,400)</box>", [(10, 20, 300, 400)], "separators"),
        ("<box>10.4,20.6,300.2,400.9</box>", [(10, 21, 300, 401)], "rounded"),
        ("<box>0.1,0.2,0.5,0.6</box>", [(100, 200, 500, 599)], "fractions"),
        ("The tank is at [10, 20, 300, 400].", [(10, 20, 300, 400)], "no <box> tags"),
        ("<box>10,20,300</box>", [], "3 number(s)"),
        ("<box>1,2,3,4</box><box>1,2,3,4</box>", [(1, 2, 3, 4)], "duplicate"),
        ("<box>1,2,3,4,5,6,7,8</box>", [(1, 2, 3, 4), (5, 6, 7, 8)], "read as 2 boxes"),
        ("<box>1,2,3,4,5</box>", [(1, 2, 3, 4)], "last 1 ignored"),
        ("<BOX>1,2,3,4</ box>", [(1, 2, 3, 4)], None),
        ("<box>5,5,5,9</box>", [(5, 5, 5, 9)], "zero area"),
        ("There are 2 tanks.", [], "no run of 4 numbers"),
        ("", [], "no box found"),
    ],
)
def test_malformed_outputs_are_repaired_and_reported(text, boxes, warning) -> None:
    parsed = parse_boxes(text)
    assert parsed.boxes == boxes
    assert len(parsed.spans) == len(boxes)
    if warning is None:
        assert parsed.warnings == []
    else:
        assert any(warning in w for w in parsed.warnings), parsed.warnings
    if not boxes:
        assert "no box found" in parsed.warnings


@pytest.mark.parametrize("bad", [[(-1, 0, 5, 5)], [(0, 0, 1000, 5)], [(10, 0, 5, 5)]])
def test_format_rejects_bad_targets(bad) -> None:
    with pytest.raises(ValueError):
        format_boxes(bad)


def test_pixel_conversion() -> None:
    assert to_0_999((0, 0, 256, 128), 256, 256) == (0, 0, 999, 500)
    assert to_0_999((-3, 0, 300, 256), 256, 256) == (0, 0, 999, 999)
    back = from_0_999(to_0_999((17.0, 33.0, 200.0, 250.0), 256, 256), 256, 256)
    assert all(abs(a - b) <= 256 / 999 for a, b in zip(back, (17, 33, 200, 250)))


def test_box_scores_are_geometric_mean_probabilities() -> None:
    lp = [-0.1, -0.2, -0.3, -0.4]
    assert box_scores(lp, [(0, 2), (1, 4), (4, 4)]) == pytest.approx([math.exp(-0.15), math.exp(-0.3), 0.0])


def test_scores_align_boxes_to_generated_tokens() -> None:
    tokens = ["<", "box", ">", "10", ",", "20", ",", "300", ",", "400", "</", "box", ">",
              "<box>", "1", ",2,3,", "4", "</box>", "<|im_end|>"]
    first = [-0.5, -0.01, -0.2, -0.01, -0.3, -0.01, -0.4]  # "10", ",", "20", ... "400"
    lp = [-0.01] * 3 + first + [-0.01] * 3 + [-9, -1.0, -2.0, -3.0, -9, -9]
    text = "".join(tokens[:-1])  # the decoded text leaves the end-of-turn token out
    scores = score_boxes_from_generation(text, tokens, lp)
    assert scores == pytest.approx([math.exp(sum(first) / 7), math.exp(-2.0)])


def test_alignment_tolerates_a_stripped_text() -> None:
    tokens = [" <box>", "5,6,7,8", "</box>", "\n"]
    text = "<box>5,6,7,8</box>"
    assert align_tokens(text, tokens) == [(0, 5), (5, 12), (12, 18), (18, 18)]
    scores = score_boxes_from_generation(text, tokens, [-1.0, -0.5, -1.0, -1.0])
    assert scores == pytest.approx([math.exp(-0.5)])
    with pytest.raises(ValueError):
        score_boxes_from_generation(text, tokens, [-1.0])

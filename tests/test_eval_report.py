"""VQA scoring rules and the report files, on hand-made predictions (no model)."""

from __future__ import annotations

import json
import math

import pytest

from core.data.manifest import VQARecord
from core.eval.evaluate import _limit, _score_vqa
from core.eval.report import write_report
from models.prompts import match_choice


def _q(type_: str, answer: str, choices=None, value=None) -> VQARecord:
    return VQARecord(id="q", image="i.png", scene="s", question="?", type=type_, choices=choices, answer=answer,
                     answer_value=value)


def test_score_vqa():
    outputs = [
        (_q("basic_counting", "3", value=3.0), {}, "3."),  # open, right
        (_q("basic_counting", "2", value=2.0), {}, "There are five."),  # open, wrong, reads 5
        (_q("basic_counting", "4", value=4.0), {}, "many"),  # open, wrong, unreadable -> 0
        (_q("basic_judging", "yes", ["yes", "no"]), {}, "B"),  # MC by letter: "no", wrong
        (_q("basic_judging", "no", ["yes", "no"]), {}, "No."),  # MC, right
        (_q("reasoning_counting", "10%-20%", ["0%-10%", "10%-20%"], value=15.0), {}, "10%-20%"),  # MC, right
        (_q("basic_judging", "yes", ["yes", "no"]), {}, "maybe"),  # MC, invalid
    ]
    r = _score_vqa(outputs, match_choice)
    acc = r["accuracy"]
    assert acc["basic_counting"]["accuracy"] == pytest.approx(1 / 3)
    assert acc["basic_judging"]["accuracy"] == pytest.approx(1 / 3)
    assert acc["reasoning_counting"]["accuracy"] == 1.0
    assert acc["overall"]["accuracy"] == pytest.approx(3 / 7)
    assert r["multiple_choice"] == {"accuracy": pytest.approx(2 / 4), "n": 4, "invalid": 1}
    assert r["open_ended"]["n"] == 3 and r["open_ended"]["exact_match"] == pytest.approx(1 / 3)
    # counting: errors 0 (3 vs 3), 3 (5 vs 2), 4 (unparsed -> 0 vs 4), 0 (15 vs 15) -> sqrt(25 / 4) = 2.5
    assert r["counting"] == {"rmse": pytest.approx(2.5), "n": 4, "unparsed": 1}


def test_write_report(tmp_path):
    results = {
        "meta": {"model": "m", "data": "d", "split": "test", "limit": 2, "device": "cpu", "seconds": 1.0,
                 "prompt_version": "earthask-prompts-1", "objects": "none", "retrieval": "off",
                 "box_format": "0-999", "example_prompts": {"caption": "Describe the image."}, "notes": ["n1"]},
        "caption": {"bleu1": 0.5, "rouge1": 0.25, "meteor": float("nan"), "exact_match": 0.0, "n": 2},
        "seg": {"miou": 0.5, "per_class": {"a": 0.5, "b": float("nan")}, "pixel_accuracy": 0.75, "n": 1},
    }
    paths = write_report(results, [{"task": "caption", "prediction": "x"}], tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())  # standard JSON: NaN written as null
    assert data["caption"]["meteor"] is None and data["seg"]["per_class"]["b"] is None
    md = (tmp_path / "report.md").read_text()
    assert "## Captioning" in md and "## Segmentation" in md and "earthask-prompts-1" in md and "n/a" in md
    assert "Describe the image." in md
    for key in ("json", "markdown", "predictions", "seg_iou", "summary"):
        assert paths[key].is_file() and paths[key].stat().st_size > 0
    assert (tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"
    assert not math.isnan(results["seg"]["miou"])


def test_limit_is_a_seeded_sample_in_order():
    picked = _limit(list(range(100)), 10)
    assert len(set(picked)) == 10 and picked == sorted(picked) and picked == _limit(list(range(100)), 10)
    assert any(i % 2 for i in picked) and any(i % 2 == 0 for i in picked)  # not one parity only
    assert _limit(list(range(3)), 5) == [0, 1, 2] and _limit(list(range(4)), 0) == [0, 1, 2, 3]

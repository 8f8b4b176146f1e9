"""Readers of public formats on tiny fixtures (tests/fixtures/data, made by make_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.data import Manifest
from core.data.readers import answer_value, normalise_type, read, write_manifest

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def test_answer_values_and_types() -> None:
    assert answer_value("3") == 3.0 and answer_value("10%-20%") == 15.0 and answer_value("1099m2") == 1099.0
    assert answer_value("yes") is None
    assert normalise_type("Reasoning-based_Counting") == "reasoning_counting"
    assert normalise_type("Object Situation Analysis") == "object_situation"
    with pytest.raises(ValueError):
        normalise_type("Colour")


def test_earthvqa(tmp_path: Path) -> None:
    imported = read("earthvqa", FIXTURES / "earthvqa")
    vqa = imported.records["train"]["vqa"]
    assert len(vqa) == 8 and len(imported.records["val"]["vqa"]) == 4
    assert {r.type for r in vqa} == {"basic_judging", "basic_counting", "reasoning_counting", "comprehensive_analysis"}
    ratio = next(r for r in vqa if r.type == "reasoning_counting")
    assert ratio.answer == "20%-30%" and ratio.answer_value == 25.0 and ratio.source_type == "Reasoning-based_Counting"
    mc = next(r for r in vqa if r.choices)
    assert mc.answer in mc.choices
    write_manifest(imported, tmp_path / "m")
    m = Manifest(tmp_path / "m")
    seg = m.records("seg", "train")[0]
    mask = m.load_mask(seg.mask)
    assert mask[0, 0] == 255 and mask[0, 1] == 0 and mask[15, 0] == 1 and mask[15, 15] == 3  # LoveDA - 1
    assert m.load_image(seg.image).shape == (3, 16, 16)
    assert [r.id for r in m.records("vqa", "val")] == [r.id for r in imported.records["val"]["vqa"]]


def test_rsvqa(tmp_path: Path) -> None:
    imported = read("rsvqa", FIXTURES / "rsvqa")
    train = imported.records["train"]["vqa"]
    assert len(train) == 6 and len(imported.records["test"]["vqa"]) == 3  # the inactive question is skipped
    count = next(r for r in train if r.source_type == "count")
    assert count.type == "basic_counting" and count.answer_value == 4.0
    assert {r.type for r in train if r.source_type == "rural_urban"} == {"reasoning_judging"}
    write_manifest(imported, tmp_path / "m")
    m = Manifest(tmp_path / "m")
    rec = m.records("vqa", "test")[0]
    x = m.load_image(rec.image)
    assert x.shape == (3, 16, 16) and x.dtype == np.float32


def test_dior_rsvg(tmp_path: Path) -> None:
    imported = read("dior-rsvg", FIXTURES / "dior_rsvg")
    train, test = imported.records["train"]["ground"], imported.records["test"]["ground"]
    assert [r.expression for r in train] == ["a white vehicle on the left", "a green golf field"]
    assert test[0].label == "storagetank" and test[0].boxes == [[8.0, 8.0, 15.0, 15.0]]
    assert test[0].boxes_999 == [[500, 500, 937, 937]]
    write_manifest(imported, tmp_path / "m")
    assert Manifest(tmp_path / "m").records("ground", "train")[1].width == 16


def test_captions(tmp_path: Path) -> None:
    imported = read("captions", FIXTURES / "captions" / "dataset_rsicd.json")
    assert {s: len(t["caption"]) for s, t in imported.records.items()} == {"train": 1, "val": 1, "test": 1}
    rec = imported.records["val"]["caption"][0]
    assert rec.captions["scene"] == ["a beach seen from above .", "there is a beach ."]
    write_manifest(imported, tmp_path / "m")
    m = Manifest(tmp_path / "m")
    assert m.load_image(m.records("caption", "test")[0].image).shape == (3, 16, 16)

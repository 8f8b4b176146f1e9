"""Stage configs, recipes and typed key=value overrides."""

from __future__ import annotations

import dataclasses
import json
from typing import Optional

import pytest

from core.train.config import (
    STAGE_ORDER,
    InstructConfig,
    Overrides,
    SegConfig,
    apply_overrides,
    parse_value,
    recipe_model_overrides,
    recipe_stage_config,
    save_resolved,
)


def test_parse_value_by_type():
    assert parse_value("3", int) == 3
    assert parse_value("1e-4", float) == 1e-4
    assert parse_value("no", bool) is False and parse_value("True", bool) is True
    assert parse_value("none", Optional[int]) is None and parse_value("4", Optional[int]) == 4
    assert parse_value("0.1,0.2", list[float]) == [0.1, 0.2]
    assert parse_value("[a, b]", list[str]) == ["a", "b"]
    with pytest.raises(ValueError):
        parse_value("maybe", bool)
    with pytest.raises(ValueError):
        parse_value("x", int)


def test_apply_overrides_changes_only_what_was_passed():
    base = SegConfig(steps=7, lr=0.5)
    out = apply_overrides(base, {"lr": "1e-3", "augment": "false"})
    assert out.lr == 1e-3 and out.augment is False
    assert out.steps == 7 and out.crop_size == base.crop_size  # untouched
    assert base.lr == 0.5  # the original is not modified
    with pytest.raises(ValueError, match="unknown key 'lrr'"):
        apply_overrides(base, {"lrr": "1"})
    with pytest.raises(ValueError, match="steps="):
        apply_overrides(base, {"steps": "many"})


def test_overrides_common_per_stage_and_model():
    ov = Overrides.parse(["steps=5", "seg.lr=0.01", "crop_size=32", "model.llm_name=tiny"])
    seg = ov.stage_config("tiny", "seg")
    ins = ov.stage_config("tiny", "instruct")
    assert (seg.steps, seg.lr, seg.crop_size) == (5, 0.01, 32)
    assert ins.steps == 5 and ins.lr == InstructConfig().lr  # crop_size only goes where it exists
    assert ov.model == {"llm_name": "tiny"}
    with pytest.raises(ValueError, match="not key=value"):
        Overrides.parse(["steps"])
    with pytest.raises(ValueError, match="no stage config"):
        Overrides.parse(["nonsense=1"])
    with pytest.raises(ValueError, match="prefix"):
        Overrides.parse(["foo.steps=1"])
    with pytest.raises(ValueError, match="unknown key"):
        Overrides.parse(["seg.task_weights=vqa=1"]).stage_config("tiny", "seg")


def test_recipes_cover_every_stage():
    for recipe in ("default", "cpu-small", "tiny"):
        for stage in STAGE_ORDER:
            cfg = recipe_stage_config(recipe, stage)
            assert cfg.steps > 0 and cfg.batch_size > 0
    assert recipe_model_overrides("tiny") == {"tiny": True}
    assert recipe_stage_config("tiny", "align").steps <= 3
    with pytest.raises(ValueError):
        recipe_stage_config("huge", "seg")


def test_save_resolved_round_trip(tmp_path):
    cfg = InstructConfig(steps=3)
    path = save_resolved(tmp_path / "train_config.json", "instruct", cfg, {"recipe": "tiny"})
    data = json.loads(path.read_text())
    assert InstructConfig(**data["config"]) == cfg and data["recipe"] == "tiny"
    assert set(data["config"]) == {f.name for f in dataclasses.fields(InstructConfig)}


def test_loss_switches_apply_to_a_loaded_checkpoint_and_nothing_else(tmp_path) -> None:
    from core.train.parts import loader_with_overrides
    from models.config import VLMConfig
    from models.vlm import EarthVLM

    EarthVLM(VLMConfig.tiny()).save_pretrained(tmp_path)
    model = loader_with_overrides({"ndl_enabled": "false", "ndl_gamma": "1.0", "prompter_dim": "64"})(tmp_path)
    assert model.cfg.ndl_enabled is False and model.cfg.ndl_gamma == 1.0
    assert model.cfg.prompter_dim == VLMConfig.tiny().prompter_dim  # architecture fields are not touched

"""The stages' pieces on a tiny random EarthVLM and a few built scenes: what trains, samples, retrieval."""

from __future__ import annotations

import pytest
import torch

from core.data.build import build
from core.data.manifest import Manifest
from core.train.config import AlignConfig, InstructConfig, RetrieverConfig, SegConfig
from core.train.data import mix_tasks, parse_weights, scene_choices
from models.config import VLMConfig


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    out = tmp_path_factory.mktemp("bench") / "b"
    build(out, seed=0, scenes=6, size=64, real=False)
    return Manifest(out)


@pytest.fixture(scope="module")
def model(bench: Manifest):
    from models.vlm import EarthVLM

    torch.manual_seed(0)
    return EarthVLM(VLMConfig.tiny(seg_classes=bench.classes))


def _trained(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_each_stage_trains_only_its_parts(bench, model):
    from core.train.align import AlignStage
    from core.train.instruct import InstructStage
    from core.train.retriever import RetrieverStage
    from core.train.seg import SegStage

    SegStage(bench).configure(model, SegConfig())
    assert _trained(model) and all(n.startswith("segmenter.head.") for n in _trained(model))
    RetrieverStage(bench).configure(model, RetrieverConfig())
    assert all(n.startswith(("retriever.image_tower.proj", "retriever.text_tower.proj")) or
               n == "retriever.logit_scale" for n in _trained(model))
    assert "retriever.logit_scale" in _trained(model)
    AlignStage(bench).configure(model, AlignConfig())
    assert {n.split(".")[0] for n in _trained(model)} == {"prompter", "image_proj", "guidance"}
    groups = InstructStage(bench).configure(model, InstructConfig())
    names = _trained(model)
    assert any("lora_" in n for n in names) and any(".experts." in n for n in names)
    assert not any(n.startswith(("segmenter.", "retriever.")) for n in names)
    assert not any(n.startswith("llm.") and "lora_" not in n and ".experts." not in n for n in names)
    assert {g["name"] for g in groups} == {"llm", "visual"}
    with pytest.raises(ValueError, match="shared"):
        RetrieverStage(bench).configure(model, RetrieverConfig(train_image_encoder=True))


def test_language_samples_and_batch(bench, model):
    from core.train.instruct import InstructStage

    stage = InstructStage(bench)
    train, val = stage.datasets(model, InstructConfig(use_retrieval=True))
    tasks = {task for task, _ in train.items}
    assert tasks == {"vqa", "ground", "caption", "classify"}
    batch = stage.collate([train[i] for i in range(len(train)) if train.items[i][0] in ("vqa", "classify")][:4])
    assert batch["image"].shape == (4, 3, 64, 64)
    assert all(p.startswith("Land cover: ") for p in batch["prompts"])  # ground-truth land-cover text
    classify = [train[i] for i in range(len(train)) if train.items[i][0] == "classify"][0]
    assert classify["choices"] == scene_choices(bench) and classify["answer"] in classify["choices"]
    counting = [train[i] for i in range(len(train)) if train.items[i][0] == "vqa"
                and train.items[i][1].answer_value is not None][0]
    assert counting["answer_value"] is not None
    out = stage.loss_module(model, InstructConfig())(stage.collate([counting, classify]))
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])


def test_retrieval_leaves_out_the_own_scene(bench, model):
    from core.train.retrieval import retrieve_for_images

    recs = bench.records("caption", "train")
    images = {r.image: r.scene for r in recs}
    table = retrieve_for_images(model, bench, images, k=3)
    scenes_of: dict[str, set[str]] = {}
    for e in bench.semantic_db():
        scenes_of.setdefault(e.text, set()).add(e.scene)
    for rec in recs:
        got = table[rec.image]
        assert len(got) == 3
        assert all(scenes_of[t] - {rec.scene} for t in got)  # each comes from some other scene


def test_task_mixture():
    items = [("vqa", i) for i in range(10)] + [("ground", i) for i in range(2)]
    mixed = mix_tasks(items, {"vqa": 1, "ground": 1, "caption": 3})  # caption absent: dropped
    assert sum(t == "vqa" for t, _ in mixed) == 6 and sum(t == "ground" for t, _ in mixed) == 6
    assert parse_weights("vqa=4, ground=1") == {"vqa": 4.0, "ground": 1.0}
    with pytest.raises(ValueError):
        parse_weights("chat=1")


def test_real_chips_can_be_drawn_more_often(bench, tmp_path):
    import shutil

    from core.train.seg import SegStage

    copy = Manifest(shutil.copytree(bench.root, tmp_path / "b"))
    records = copy.records("seg", "train")
    real = records[0].scene
    (copy.root / "spectral").mkdir(exist_ok=True)
    (copy.root / "spectral" / f"{real}.tif").write_bytes(b"")  # a scene with reflectance bands is a real chip
    stage = SegStage(copy)
    train, _ = stage.datasets(None, SegConfig(real_repeat=3))
    scenes = [r.scene for r in train.records]
    assert len(scenes) == len(records) + 2 and scenes.count(real) == 3
    assert all(scenes.count(r.scene) == 1 for r in records[1:])
    assert len(stage.datasets(None, SegConfig())[0]) == len(records)
    with pytest.raises(ValueError, match="real_repeat"):
        stage.datasets(None, SegConfig(real_repeat=0))

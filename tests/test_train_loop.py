"""The shared training loop on a toy model: resume, logging, schedule, precision, checkpoint format."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from train_toy import ToyModel, ToyStage, toy_config

from core.train.config import StageConfig
from core.train.loop import STATE_FILE, load_trainer_state, lr_factor, resolve_precision, train_stage


def _train(out, stage=None, resume=False, **kw):
    torch.manual_seed(0)
    return train_stage(stage or ToyStage(), toy_config(**kw), out, ToyModel, ToyModel.from_pretrained,
                       resume=resume)


def test_writes_checkpoint_csv_plot_and_config(tmp_path):
    summary = _train(tmp_path / "run", steps=6, log_every=2)
    run = tmp_path / "run"
    for name in ("config.json", "model.safetensors", STATE_FILE, "train_config.json", "metrics.csv",
                 "metrics.png"):
        assert (run / name).is_file(), name
    assert (run / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    assert list(rows[0])[:5] == ["step", "stage", "loss", "lr", "seconds"]
    assert {"mae", "grad_norm"} <= set(rows[0])
    assert rows[-1]["val_loss"] and not rows[0]["val_loss"]  # validation at the end only
    assert rows[0]["stage"] == "toy"
    resolved = json.loads((run / "train_config.json").read_text())
    assert resolved["stage"] == "toy" and resolved["config"]["steps"] == 6
    assert summary["step"] == 6 and summary["loss"] == pytest.approx(float(rows[-1]["loss"]), rel=1e-4)
    state = load_trainer_state(run)  # weights_only=True: plain tensors and containers only
    assert state["step"] == 6 and state["done"] is True
    assert set(state) >= {"optimizer", "scheduler", "rng", "config"}


def test_loss_goes_down(tmp_path):
    _train(tmp_path / "run", steps=30, log_every=10, lr=3e-2)
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert float(rows[-1]["loss"]) < 0.5 * float(rows[0]["loss"])


def test_resume_continues_from_saved_step_exactly(tmp_path):
    straight = _train(tmp_path / "a", steps=6, save_every=3)
    # a run that crashes while fetching the 4th batch; its last checkpoint is the one at step 3
    with pytest.raises(RuntimeError, match="simulated crash"):
        _train(tmp_path / "b", stage=ToyStage(fail_after=3), steps=6, save_every=3)
    assert load_trainer_state(tmp_path / "b")["step"] == 3
    with pytest.raises(FileExistsError):  # never silently overwrite a checkpoint
        _train(tmp_path / "b", steps=6, save_every=3)
    stage = ToyStage()
    resumed = _train(tmp_path / "b", stage=stage, resume=True, steps=6, save_every=3)
    assert len(stage.seen) == 3 + 1  # three training batches after the checkpoint, one validation batch
    assert resumed["step"] == 6
    a = ToyModel.from_pretrained(tmp_path / "a").state_dict()
    b = ToyModel.from_pretrained(tmp_path / "b").state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    assert resumed["loss"] == pytest.approx(straight["loss"], rel=1e-5)
    steps = [int(r["step"]) for r in csv.DictReader((tmp_path / "b" / "metrics.csv").open())]
    assert steps == [2, 4, 6]  # rows after the checkpoint were dropped and rewritten, no duplicates
    # resuming a finished stage does nothing
    assert _train(tmp_path / "b", resume=True, steps=6)["skipped"] is True


def test_only_configured_parameters_change(tmp_path):
    torch.manual_seed(0)
    before = ToyModel()
    before.save_pretrained(tmp_path / "init")
    train_stage(ToyStage(), toy_config(steps=3), tmp_path / "run", ToyModel, ToyModel.from_pretrained,
                init=tmp_path / "init")
    after = ToyModel.from_pretrained(tmp_path / "run")
    torch.testing.assert_close(after.frozen.weight, before.frozen.weight)
    assert not torch.equal(after.net[0].weight, before.net[0].weight)


def test_gradient_accumulation_matches_bigger_batch(tmp_path):
    # without dropout, 2 micro-batches of 4 == 1 batch of 8 (same samples: one epoch of 8)
    class NoDropStage(ToyStage):
        def configure(self, model, cfg):
            model.net[2].p = 0.0
            return super().configure(model, cfg)

    _train(tmp_path / "acc", stage=NoDropStage(n=8), steps=2, batch_size=4, grad_accum=2)
    _train(tmp_path / "big", stage=NoDropStage(n=8), steps=2, batch_size=8, grad_accum=1)
    a = ToyModel.from_pretrained(tmp_path / "acc").state_dict()
    b = ToyModel.from_pretrained(tmp_path / "big").state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_lr_schedule_warmup_then_cosine_to_floor():
    cfg = StageConfig(steps=110, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(60, cfg) == pytest.approx(0.55)  # halfway down the cosine: 0.1 + 0.9 * 0.5
    assert lr_factor(110, cfg) == pytest.approx(0.1)
    assert lr_factor(50, StageConfig(steps=100, schedule="constant")) == 1.0


def test_precision_resolution():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError):
        resolve_precision("fp8", "cpu")


def test_bf16_autocast_on_cpu_trains(tmp_path):
    summary = _train(tmp_path / "run", steps=2, precision="bf16")
    assert summary["step"] == 2 and torch.isfinite(torch.tensor(summary["loss"]))

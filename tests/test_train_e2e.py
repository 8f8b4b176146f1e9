"""End to end: build a few scenes, train every stage of the tiny recipe, evaluate with --limit, check files."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from core.data.build import build
from core.eval.__main__ import main as eval_main
from core.train.__main__ import main as train_main


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("e2e") / "bench"
    build(out, seed=0, scenes=6, size=64, real=False)
    return out


def test_tiny_recipe_all_stages_then_eval(data, tmp_path, capsys):
    torch.set_num_threads(2)
    run = tmp_path / "run"
    assert train_main(["--data", str(data), "--out", str(run), "--recipe", "tiny", "steps=2"]) == 0
    summaries = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [s["stage"] for s in summaries] == ["seg", "retriever", "align", "instruct"]
    for s in summaries:
        stage = run / s["stage"]
        assert s["step"] == 2 and s["loss"] == s["loss"]  # not NaN
        for name in ("config.json", "model.safetensors", "trainer_state.pt", "train_config.json", "metrics.csv",
                     "metrics.png"):
            assert (stage / name).is_file(), (s["stage"], name)
        resolved = json.loads((stage / "train_config.json").read_text())
        assert resolved["config"]["steps"] == 2 and resolved["recipe"] == "tiny"
        rows = list(csv.DictReader((stage / "metrics.csv").open()))
        assert [int(r["step"]) for r in rows] == [1, 2]
    # every stage after the first starts from the previous one's checkpoint
    assert json.loads((run / "align" / "train_config.json").read_text())["init"] == str(run / "retriever")
    # resuming a finished run trains nothing
    assert train_main(["--data", str(data), "--out", str(run), "--recipe", "tiny", "steps=2", "--resume"]) == 0
    assert all(json.loads(line).get("skipped") for line in capsys.readouterr().out.splitlines()
               if line.startswith("{"))

    report = tmp_path / "report"
    assert eval_main(["--model", str(run / "instruct"), "--data", str(data), "--out", str(report), "--limit", "2",
                      "--max-new-tokens", "4", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "# EarthAsk evaluation" in printed and "earthask-prompts-1" in printed
    for name in ("results.json", "report.md", "predictions.jsonl", "vqa_accuracy.png", "seg_iou.png",
                 "summary.png"):
        assert (report / name).is_file(), name
    results = json.loads((report / "results.json").read_text())
    assert list(results)[0] == "meta"
    assert {"seg", "vqa", "ground", "caption", "classify"} <= set(results)
    assert {"overall", "mean"} <= set(results["vqa"]["accuracy"])
    assert {"multiple_choice", "open_ended", "counting"} <= set(results["vqa"])
    assert {"bleu1", "rouge1", "meteor", "exact_match"} <= set(results["vqa"]["open_ended"])
    assert {"bleu1", "rouge1", "meteor"} <= set(results["caption"])
    assert "precision@0.5" in results["ground"] and "accuracy" in results["classify"]
    assert set(results["seg"]["per_class"]) == set(json.loads((data / "meta.json").read_text())["classes"])
    meta = results["meta"]
    assert meta["prompt_version"] == "earthask-prompts-1" and "0-999" in meta["box_format"]
    assert set(meta["example_prompts"]) == {"vqa", "ground", "caption", "classify"}
    assert any("METEOR" in n and "no synonyms" in n for n in meta["notes"])
    lines = (report / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == sum(meta["counts"][t] for t in ("vqa", "ground", "caption", "classify"))
    vqa = [json.loads(line) for line in lines if json.loads(line)["task"] == "vqa"]
    assert vqa and all(isinstance(r["correct"], bool) and r["type"] for r in vqa)  # for core.eval.compare
    assert sum(r["correct"] for r in vqa) / len(vqa) == pytest.approx(results["vqa"]["accuracy"]["overall"]["accuracy"])
    # the three VQA rows: model alone, measured where the question parses, what users get
    users = results["vqa_combined"]["accuracy"]["overall"]["accuracy"]
    assert sum(r["combined_correct"] for r in vqa) / len(vqa) == pytest.approx(users)
    assert all(r["measured"] is None or r["query"] is not None for r in vqa)
    assert results["vqa_parsed"]["overall"]["n"] == len(vqa)
    assert "what users get" in (report / "report.md").read_text()


def test_ablation_switches_retrieval_off_skips_the_retriever_and_a_checkpoint_cannot_switch_a_part_on(
        data, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--data", str(data), "--recipe", "tiny", "steps=1", "model.retrieval_enabled=false"]
    assert train_main([*args, "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "retriever: skipped" in out
    assert [json.loads(line)["stage"] for line in out.splitlines() if line.startswith("{")] == [
        "seg", "align", "instruct"]
    assert not (run / "retriever").exists()
    assert json.loads((run / "align" / "train_config.json").read_text())["init"] == str(run / "seg")
    assert json.loads((run / "instruct" / "config.json").read_text())["retrieval_enabled"] is False
    # from a checkpoint: experts off is allowed (their tensors are dropped), retrieval on is not
    more = ["--data", str(data), "--recipe", "tiny", "steps=1", "--stage", "instruct", "--init", str(run / "align")]
    assert train_main([*more, "--out", str(tmp_path / "no_experts"), "model.experts_enabled=false"]) == 0
    saved = json.loads((tmp_path / "no_experts" / "config.json").read_text())
    assert saved["experts_enabled"] is False and saved["retrieval_enabled"] is False
    capsys.readouterr()
    assert train_main([*more, "--out", str(tmp_path / "bad"), "model.retrieval_enabled=true"]) == 2
    assert "cannot switch a part on" in capsys.readouterr().err


def test_random_tiny_baseline_and_bad_input(data, tmp_path, capsys):
    out = tmp_path / "base"
    assert eval_main(["--model", "tiny", "--data", str(data), "--out", str(out), "--limit", "1",
                      "--tasks", "seg,classify", "--max-new-tokens", "2", "--quiet", "--no-retrieval"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"meta", "seg", "classify", "paraphrases"} and results["meta"]["retrieval"] == "off"
    assert results["paraphrases"]["questions"]["n"] >= 150 and results["paraphrases"]["grounding"]["n"] >= 60
    assert eval_main(["--model", str(tmp_path / "nope"), "--data", str(data)]) == 2
    assert eval_main(["--model", "tiny", "--data", str(data), "--tasks", "chat"]) == 2
    assert train_main(["--data", str(data), "--out", str(tmp_path / "x"), "--recipe", "tiny", "lr=fast"]) == 2
    assert "lr=" in capsys.readouterr().err


def test_ablation_script_trains_evaluates_and_compares_one_row(data, tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, TRAIN_ARGS="--recipe tiny steps=1", EVAL_LIMIT="3",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    runs = tmp_path / "runs"
    no_default = subprocess.run(["bash", "scripts/ablate.sh", "experts", str(data), str(runs)], cwd=repo, env=env,
                                capture_output=True, text=True)
    assert no_default.returncode == 2 and "no default run" in no_default.stderr
    assert train_main(["--data", str(data), "--out", str(runs / "default"), "--recipe", "tiny", "steps=1"]) == 0
    done = subprocess.run(["bash", "scripts/ablate.sh", "experts", str(data), str(runs)], cwd=repo, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((runs / "no_experts" / "config.json").read_text())["experts_enabled"] is False
    assert "default: VQA" in done.stdout and "ablated: VQA" in done.stdout
    assert "| overall | 3 |" in done.stdout  # the paired table over the same 3 questions
    bad = subprocess.run(["bash", "scripts/ablate.sh", "colour", str(data), str(runs)], cwd=repo, env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown row" in bad.stderr

"""Paired comparison of two evaluations: accuracies, McNemar's exact test and the bootstrap interval."""

import json

import numpy as np
import pytest

from core.eval.compare import compare, main, mcnemar_exact, read_vqa


def write(path, rows):
    path.mkdir()
    lines = [json.dumps({"task": "vqa", "id": i, "type": t, "correct": c, "prediction": "x"}) for i, t, c in rows]
    lines.append(json.dumps({"task": "caption", "id": "c0", "prediction": "a caption"}))
    (path / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    return path


def test_mcnemar_exact_against_hand_computed_values() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(1, 2) == 1.0  # 2 * (C(3,0) + C(3,1)) / 8 = 1
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(7, 1) == mcnemar_exact(1, 7) == pytest.approx(2 * (1 + 8) / 256)


def test_compare_pairs_by_id_and_per_type(tmp_path) -> None:
    base = read_vqa(write(tmp_path / "base", [("q1", "a", True), ("q2", "a", True), ("q3", "a", False),
                                              ("q4", "b", False), ("q5", "b", True), ("extra", "b", True)]))
    other = read_vqa(write(tmp_path / "other", [("q1", "a", True), ("q2", "a", False), ("q3", "a", True),
                                                ("q4", "b", True), ("q5", "b", True)]))
    rows = {r.name: r for r in compare(base, other, resamples=2000)}
    assert list(rows) == ["a", "b", "overall"]
    overall = rows["overall"]
    assert overall.n == 5  # 'extra' is only in base
    assert overall.base == pytest.approx(3 / 5) and overall.other == pytest.approx(4 / 5)
    assert (overall.only_base, overall.only_other) == (1, 2) and overall.p_value == 1.0
    assert overall.low <= overall.diff <= overall.high and overall.diff == pytest.approx(0.2)
    assert rows["b"].base == 0.5 and rows["b"].other == 1.0 and rows["b"].n == 2


def test_identical_runs_have_a_zero_interval_and_a_clear_gap_is_significant(tmp_path) -> None:
    rng = np.random.default_rng(1)
    flags = rng.random(200) < 0.5
    rows = [(f"q{i}", "t", bool(f)) for i, f in enumerate(flags)]
    same = read_vqa(write(tmp_path / "a", rows))
    r = compare(same, same, resamples=500)[-1]
    assert (r.low, r.high, r.p_value) == (0.0, 0.0, 1.0)
    better = read_vqa(write(tmp_path / "b", [(i, t, c or n % 2 == 0) for n, (i, t, c) in enumerate(rows)]))
    r = compare(same, better, resamples=500)[-1]
    assert r.only_base == 0 and r.only_other > 30 and r.p_value < 1e-6 and r.low > 0


def test_cli_prints_a_table_and_rejects_bad_input(tmp_path, capsys) -> None:
    a = write(tmp_path / "a", [("q1", "t", True), ("q2", "t", False)])
    b = write(tmp_path / "b", [("q1", "t", False), ("q2", "t", False)])
    assert main([str(a), str(b), "--resamples", "100"]) == 0
    out = capsys.readouterr().out
    assert "| overall | 2 | 0.500 | 0.000 | -0.500" in out
    old = tmp_path / "old"
    old.mkdir()
    (old / "predictions.jsonl").write_text(json.dumps({"task": "vqa", "id": "q1", "prediction": "x"}) + "\n")
    assert main([str(a), str(old)]) == 2
    assert "evaluate again" in capsys.readouterr().err
    c = write(tmp_path / "c", [("z1", "t", True)])
    assert main([str(a), str(c)]) == 2 and "share no VQA question ids" in capsys.readouterr().err
    assert main([str(a), str(tmp_path / "missing")]) == 2

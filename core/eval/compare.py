"""``python -m core.eval.compare BASE OTHER``: paired comparison of two evaluations on the same VQA questions.

Reads the ``predictions.jsonl`` of two ``python -m core.eval`` runs (a report directory or the file),
pairs questions by id and prints, overall and per question type: both accuracies, the difference
(OTHER - BASE), its 95% paired bootstrap interval and the exact McNemar p-value over the questions that
only one run got right. Paired, because an ablation and its baseline answer the same questions: the
difference is much less noisy than two independent accuracies suggest.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np


@dataclass
class Paired:
    """One row of the comparison."""

    name: str
    n: int
    base: float  # accuracy of BASE
    other: float  # accuracy of OTHER
    low: float  # 95% bootstrap interval of other - base
    high: float
    only_base: int  # questions only BASE got right
    only_other: int  # questions only OTHER got right
    p_value: float  # exact two-sided McNemar (binomial on the discordant pairs)

    @property
    def diff(self) -> float:
        return self.other - self.base


def read_vqa(path: str | Path) -> dict[str, tuple[str, bool]]:
    """id -> (question type, correct) of the VQA rows of a predictions.jsonl (or a report directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / "predictions.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no predictions.jsonl at {path}")
    rows = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("task") != "vqa":
            continue
        if "correct" not in row or "type" not in row:
            raise ValueError(f"{path}: VQA rows without 'type'/'correct' (written by an older core.eval): "
                             "evaluate again")
        rows[row["id"]] = (row["type"], bool(row["correct"]))
    return rows


def mcnemar_exact(only_base: int, only_other: int) -> float:
    """Two-sided exact McNemar p-value: P(as or more lopsided split of the discordant pairs | fair coin)."""
    n, k = only_base + only_other, min(only_base, only_other)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(name: str, base: np.ndarray, other: np.ndarray, resamples: int = 10000, seed: int = 0) -> Paired:
    """Accuracies, bootstrap interval of the difference and McNemar p of two aligned 0/1 arrays [n]."""
    n = len(base)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))  # [R, n] questions drawn with replacement
    diffs = other[idx].mean(1) - base[idx].mean(1)  # [R]
    low, high = np.quantile(diffs, [0.025, 0.975])
    only_base, only_other = int((base & ~other).sum()), int((other & ~base).sum())
    return Paired(name, n, float(base.mean()), float(other.mean()), float(low), float(high), only_base, only_other,
                  mcnemar_exact(only_base, only_other))


def compare(base: dict[str, tuple[str, bool]], other: dict[str, tuple[str, bool]], resamples: int = 10000,
            seed: int = 0) -> list[Paired]:
    """Rows for every question type (sorted) and 'overall', over the ids both runs answered."""
    ids = sorted(set(base) & set(other))
    if not ids:
        raise ValueError("the two runs share no VQA question ids (different data, split or --limit?)")
    types = np.array([base[i][0] for i in ids])
    a = np.array([base[i][1] for i in ids])
    b = np.array([other[i][1] for i in ids])
    rows = [paired(t, a[types == t], b[types == t], resamples, seed) for t in sorted(set(types))]
    return [*rows, paired("overall", a, b, resamples, seed)]


def to_markdown(rows: list[Paired], base_name: str, other_name: str) -> str:
    lines = [f"| question type | n | {base_name} | {other_name} | difference [95% CI] | only base / only other "
             "right | McNemar p |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.name} | {r.n} | {r.base:.3f} | {r.other:.3f} | {r.diff:+.3f} [{r.low:+.3f}, "
                     f"{r.high:+.3f}] | {r.only_base} / {r.only_other} | {r.p_value:.3f} |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.eval.compare", description=__doc__.split("\n")[0])
    p.add_argument("base", help="report directory (or predictions.jsonl) of the baseline")
    p.add_argument("other", help="report directory (or predictions.jsonl) of the run compared with it")
    p.add_argument("--resamples", type=int, default=10000, help="bootstrap resamples (default 10000)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        rows = compare(read_vqa(args.base), read_vqa(args.other), args.resamples, args.seed)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(to_markdown(rows, Path(args.base).name or "base", Path(args.other).name or "other"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

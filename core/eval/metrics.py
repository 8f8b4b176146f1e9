"""Evaluation metrics written out in full: accuracy, RMSE, BLEU-1, ROUGE-1, METEOR, box IoU, mIoU.

Pure Python (numpy only for the confusion matrix), so the numbers do not depend on a toolkit's version
or on data it downloads. Every text metric uses :func:`tokenize`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from models.ndl_loss import parse_number  # noqa: F401  (one parser for targets and scoring)

_TOKEN = re.compile(r"[a-z0-9%]+")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens: runs of ``[a-z0-9%]``; everything else separates ("10%-20%" -> 10%, 20%)."""
    return _TOKEN.findall(text.lower())


def normalize_answer(text: str) -> str:
    """The form compared by exact match: lower case, tokens joined by one space (punctuation dropped)."""
    return " ".join(tokenize(text))


def exact_match(prediction: str, reference: str) -> bool:
    """True when both normalise to the same string ("Yes." == "yes")."""
    return normalize_answer(prediction) == normalize_answer(reference)


# ---------------------------------------------------------------- accuracy and errors


def accuracy_by_type(types: Sequence[str], correct: Sequence[bool]) -> dict[str, dict[str, float]]:
    """Accuracy per question type plus ``"overall"`` (micro average over all questions) and ``"mean"``.

    Returns ``{type: {"accuracy": a, "n": n}}``; ``"mean"`` is the unweighted mean of the per-type accuracies.
    """
    if len(types) != len(correct):
        raise ValueError("types and correct differ in length")
    totals: Counter[str] = Counter(types)
    hits: Counter[str] = Counter(t for t, c in zip(types, correct) if c)
    out = {t: {"accuracy": hits[t] / totals[t], "n": float(totals[t])} for t in sorted(totals)}
    n = len(types)
    per_type = [v["accuracy"] for v in out.values()]
    out["overall"] = {"accuracy": (sum(hits.values()) / n) if n else float("nan"), "n": float(n)}
    out["mean"] = {"accuracy": (sum(per_type) / len(per_type)) if per_type else float("nan"),
                   "n": float(len(per_type))}
    return out


def rmse(predictions: Sequence[float], targets: Sequence[float]) -> float:
    """Root mean squared error; NaN for no pairs."""
    if len(predictions) != len(targets):
        raise ValueError("predictions and targets differ in length")
    if not predictions:
        return float("nan")
    return math.sqrt(sum((p - t) ** 2 for p, t in zip(predictions, targets)) / len(predictions))


# ---------------------------------------------------------------- text generation metrics


def _closest_ref_length(hyp_len: int, ref_lens: Iterable[int]) -> int:
    """The reference length closest to the hypothesis length; the shorter one on a tie (as in BLEU)."""
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def bleu1(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU-1 with brevity penalty (Papineni et al. 2002), on :func:`tokenize` tokens.

    p1 = sum over sentences of clipped unigram matches / sum of hypothesis lengths, where a hypothesis word
    counts at most as often as it appears in any single reference; BP = 1 if c > r else exp(1 - r / c), with
    c the total hypothesis length and r the sum of the reference lengths closest to each hypothesis.
    BLEU-1 = BP * p1. Returns 0 for an empty corpus or empty hypotheses.
    """
    if len(hypotheses) != len(references):
        raise ValueError("hypotheses and references differ in length")
    clipped = c = r = 0
    for hyp, refs in zip(hypotheses, references):
        h = tokenize(hyp)
        ref_tokens = [tokenize(x) for x in refs] or [[]]
        max_ref: Counter[str] = Counter()
        for toks in ref_tokens:
            for word, count in Counter(toks).items():
                max_ref[word] = max(max_ref[word], count)
        clipped += sum(min(count, max_ref[word]) for word, count in Counter(h).items())
        c += len(h)
        r += _closest_ref_length(len(h), (len(t) for t in ref_tokens))
    if c == 0:
        return 0.0
    bp = 1.0 if c > r else math.exp(1.0 - r / c)
    return bp * clipped / c


def rouge1_f(hypothesis: str, references: Sequence[str]) -> float:
    """ROUGE-1 F1 (Lin 2004): unigram overlap with clipped counts; the best over the references.

    overlap = sum_w min(count_hyp(w), count_ref(w)); P = overlap / |hyp|, R = overlap / |ref|,
    F = 2PR / (P + R) (0 when the overlap is 0).
    """
    h = Counter(tokenize(hypothesis))
    best = 0.0
    for ref in references:
        rc = Counter(tokenize(ref))
        overlap = sum((h & rc).values())
        if overlap == 0:
            continue
        p, rec = overlap / sum(h.values()), overlap / sum(rc.values())
        best = max(best, 2 * p * rec / (p + rec))
    return best


@dataclass
class MeteorParts:
    """The pieces of one METEOR score, for checking by hand."""

    matches: int
    chunks: int
    precision: float
    recall: float
    fmean: float
    penalty: float
    score: float


def _align(hyp: list[str], ref: list[str]) -> list[tuple[int, int]]:
    """Exact-match unigram alignment as (hyp index, ref index) pairs, one-to-one, hyp order.

    Hypothesis words are taken left to right. A word goes to the free reference occurrence that continues
    the previous pair (ref index + 1) when there is one; otherwise to the free occurrence that starts the
    longest run of identical words in both sentences (the earliest on a tie). This approximates METEOR's
    choice of the alignment with the fewest chunks without its full search.
    """
    free: dict[str, list[int]] = {}
    for j, word in enumerate(ref):
        free.setdefault(word, []).append(j)
    used: set[int] = set()

    def run_length(i: int, j: int) -> int:
        n = 0
        while i + n < len(hyp) and j + n < len(ref) and hyp[i + n] == ref[j + n] and j + n not in used:
            n += 1
        return n

    pairs: list[tuple[int, int]] = []
    for i, word in enumerate(hyp):
        slots = [j for j in free.get(word, []) if j not in used]
        if not slots:
            continue
        if pairs and pairs[-1][0] == i - 1 and pairs[-1][1] + 1 in slots:
            j = pairs[-1][1] + 1
        else:
            j = max(slots, key=lambda c: (run_length(i, c), -c))
        used.add(j)
        pairs.append((i, j))
    return pairs


def meteor_parts(hypothesis: str, reference: str, alpha: float = 0.9, beta: float = 3.0,
                 gamma: float = 0.5) -> MeteorParts:
    """METEOR (Banerjee & Lavie 2005) against one reference, exact matching only (no stems or synonyms).

    m aligned unigrams (:func:`_align`), P = m / |hyp|, R = m / |ref|, Fmean = P R / (alpha P + (1 - alpha) R)
    (= 10 P R / (R + 9 P) for alpha = 0.9), chunks = runs of pairs adjacent in both sentences,
    Penalty = gamma (chunks / m) ** beta, score = Fmean (1 - Penalty).
    """
    hyp, ref = tokenize(hypothesis), tokenize(reference)
    pairs = _align(hyp, ref)
    m = len(pairs)
    if m == 0:
        return MeteorParts(0, 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    chunks = 1 + sum(1 for a, b in zip(pairs, pairs[1:]) if not (b[0] == a[0] + 1 and b[1] == a[1] + 1))
    p, r = m / len(hyp), m / len(ref)
    fmean = p * r / (alpha * p + (1 - alpha) * r)
    penalty = gamma * (chunks / m) ** beta
    return MeteorParts(m, chunks, p, r, fmean, penalty, fmean * (1 - penalty))


def meteor(hypothesis: str, references: Sequence[str]) -> float:
    """METEOR of one hypothesis: the best score over its references (exact unigram matching only)."""
    return max((meteor_parts(hypothesis, ref).score for ref in references), default=0.0)


def text_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float | int]:
    """BLEU-1 (corpus), mean ROUGE-1 F, mean METEOR and exact match (any reference), each in 0..1."""
    n = len(hypotheses)
    if n == 0:
        return {"bleu1": float("nan"), "rouge1": float("nan"), "meteor": float("nan"),
                "exact_match": float("nan"), "n": 0}
    return {
        "bleu1": bleu1(hypotheses, references),
        "rouge1": sum(rouge1_f(h, r) for h, r in zip(hypotheses, references)) / n,
        "meteor": sum(meteor(h, r) for h, r in zip(hypotheses, references)) / n,
        "exact_match": sum(any(exact_match(h, x) for x in r) for h, r in zip(hypotheses, references)) / n,
        "n": n,
    }


# ---------------------------------------------------------------- boxes and masks


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two boxes ``(x1, y1, x2, y2)`` with x1 <= x2, y1 <= y2 (continuous coordinates)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def precision_at_iou(predicted: Sequence[Optional[Sequence[float]]], targets: Sequence[Sequence[float]],
                     threshold: float = 0.5) -> float:
    """Share of samples whose predicted box has IoU >= ``threshold`` with the target; None is a miss."""
    if not targets:
        return float("nan")
    hits = sum(1 for p, t in zip(predicted, targets) if p is not None and box_iou(p, t) >= threshold)
    return hits / len(targets)


def confusion_matrix(pred: np.ndarray, target: np.ndarray, num_classes: int,
                     ignore_index: int = 255) -> np.ndarray:
    """``[K, K]`` int64 counts, rows = target class, columns = predicted class.

    Pixels whose target is ``ignore_index`` or outside ``0..K-1`` are skipped.
    """
    t = np.asarray(target).reshape(-1).astype(np.int64)
    p = np.asarray(pred).reshape(-1).astype(np.int64)
    if t.shape != p.shape:
        raise ValueError(f"prediction and target differ in size: {p.shape} vs {t.shape}")
    keep = (t != ignore_index) & (t >= 0) & (t < num_classes)
    p = np.clip(p[keep], 0, num_classes - 1)
    return np.bincount(t[keep] * num_classes + p, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def iou_from_confusion(cm: np.ndarray) -> tuple[list[float], float]:
    """Per-class IoU = TP / (TP + FP + FN) and their mean.

    A class absent from both targets and predictions has IoU NaN and is left out of the mean.
    """
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)
    valid = iou[~np.isnan(iou)]
    return [float(x) for x in iou], (float(valid.mean()) if valid.size else float("nan"))

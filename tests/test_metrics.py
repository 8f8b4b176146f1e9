"""Evaluation metrics against values computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.eval.metrics import (
    accuracy_by_type,
    bleu1,
    box_iou,
    confusion_matrix,
    exact_match,
    iou_from_confusion,
    meteor,
    meteor_parts,
    normalize_answer,
    parse_number,
    precision_at_iou,
    rmse,
    rouge1_f,
    text_scores,
    tokenize,
)

HYP = "the cat the cat on the mat"  # 7 tokens: the x3, cat x2, on, mat
REF = "the cat is on the mat"  # 6 tokens: the x2, cat, is, on, mat


def test_tokenize_and_normalize():
    assert tokenize("Yes.") == ["yes"]
    assert tokenize("10%-20% of the Area") == ["10%", "20%", "of", "the", "area"]
    assert normalize_answer("  No,  there   aren't ") == "no there aren t"
    assert exact_match("Yes.", "yes") and not exact_match("yes", "no")


def test_bleu1_clipping_without_brevity_penalty():
    # clipped matches: the min(3,2)=2 + cat min(2,1)=1 + on 1 + mat 1 = 5; p1 = 5/7; c=7 > r=6 -> BP = 1
    assert bleu1([HYP], [[REF]]) == pytest.approx(5 / 7)


def test_bleu1_brevity_penalty():
    # "the cat": p1 = 2/2 = 1; c=2 <= r=6 -> BP = exp(1 - 6/2) = exp(-2) = 0.135335
    assert bleu1(["the cat"], [[REF]]) == pytest.approx(math.exp(-2))
    # corpus of both: clipped 5+2=7, c=7+2=9, r=6+6=12 -> p1=7/9, BP=exp(1-12/9)=exp(-1/3); 0.557302
    assert bleu1([HYP, "the cat"], [[REF], [REF]]) == pytest.approx(7 / 9 * math.exp(-1 / 3))
    assert bleu1([HYP, "the cat"], [[REF], [REF]]) == pytest.approx(0.557302, abs=1e-6)


def test_bleu1_closest_reference_length_and_edge_cases():
    # hyp 3 tokens, refs of 2 and 4 tokens: tie -> the shorter (2), c=3 > r=2 -> BP=1; clipped 2 ("a b")
    assert bleu1(["a b c"], [["a b", "a b d e"]]) == pytest.approx(2 / 3)
    # hyp 3 tokens, refs of 1 and 5: closest is 1 (|3-1| = 2 = |3-5|, shorter wins), BP=1; matches 1
    assert bleu1(["a x y"], [["a", "a b c d e"]]) == pytest.approx(1 / 3)
    assert bleu1([""], [[REF]]) == 0.0


def test_rouge1_f():
    # overlap 5 (as BLEU's clipped count); P = 5/7, R = 5/6; F = 2PR/(P+R) = (50/42)/(65/42) = 10/13
    assert rouge1_f(HYP, [REF]) == pytest.approx(10 / 13)
    # best over references; no overlap -> 0
    assert rouge1_f(HYP, ["dog", REF]) == pytest.approx(10 / 13)
    assert rouge1_f("dog", [REF]) == 0.0


def test_meteor_perfect_words_two_chunks():
    # hyp [the cat sat on the mat] vs ref [on the mat the cat sat]: all 6 words match, P = R = 1, Fmean = 1.
    # Best alignment: "the cat sat" -> ref 3..5 and "on the mat" -> ref 0..2: 2 chunks.
    # Penalty = 0.5 * (2/6)^3 = 1/54; score = 1 - 1/54 = 0.981481
    parts = meteor_parts("the cat sat on the mat", "on the mat the cat sat")
    assert (parts.matches, parts.chunks) == (6, 2)
    assert parts.score == pytest.approx(1 - 1 / 54)


def test_meteor_partial_match():
    # hyp [a small pond near the road] (6), ref [the road is next to a pond] (7)
    # matches: a->5, pond->6, the->0, road->1 => m = 4; chunks: {a}, {pond} (hyp not adjacent to a),
    # {the road} => 3. P = 4/6, R = 4/7; Fmean = PR / (0.9P + 0.1R) = (8/21) / (4.6/7) = 0.579710
    # Penalty = 0.5 * (3/4)^3 = 0.2109375; score = 0.579710 * 0.7890625 = 0.457427
    parts = meteor_parts("a small pond near the road", "the road is next to a pond")
    assert (parts.matches, parts.chunks) == (4, 3)
    assert parts.fmean == pytest.approx((8 / 21) / (4.6 / 7))
    assert parts.penalty == pytest.approx(0.2109375)
    assert parts.score == pytest.approx(0.457427, abs=1e-6)


def test_meteor_exact_only_and_best_reference():
    assert meteor("ponds", ["pond"]) == 0.0  # no stemming, no synonyms
    assert meteor("a pond", ["nothing here", "a pond"]) == pytest.approx(1 - 0.5 * (1 / 2) ** 3)


def test_text_scores_keys():
    s = text_scores(["Yes.", "two ponds"], [["yes"], ["two ponds", "2 ponds"]])
    assert s["exact_match"] == 1.0 and s["n"] == 2
    assert set(s) == {"bleu1", "rouge1", "meteor", "exact_match", "n"}


def test_accuracy_by_type():
    # a: 1 of 2 = 0.5; b: 2 of 3; overall 3/5 = 0.6; mean of types (0.5 + 2/3) / 2 = 0.583333
    acc = accuracy_by_type(["a", "a", "b", "b", "b"], [True, False, True, True, False])
    assert acc["a"]["accuracy"] == 0.5 and acc["a"]["n"] == 2
    assert acc["b"]["accuracy"] == pytest.approx(2 / 3)
    assert acc["overall"]["accuracy"] == pytest.approx(0.6)
    assert acc["mean"]["accuracy"] == pytest.approx(7 / 12)


def test_rmse_and_number_parsing():
    # errors 0, 2, 1 -> mean square 5/3 -> sqrt = 1.290994
    assert rmse([2, 3, 5], [2, 1, 4]) == pytest.approx(math.sqrt(5 / 3))
    assert math.isnan(rmse([], []))
    assert parse_number("There are 3 ponds.") == 3.0
    assert parse_number("three") == 3.0
    assert parse_number("none") == 0.0
    assert parse_number("10%-20%") == 15.0 and parse_number("1,200 m2") == 1200.0
    assert parse_number("unknown") is None


def test_box_iou_and_precision():
    # overlap 5x5 = 25; union 100 + 100 - 25 = 175 -> 1/7
    assert box_iou((0, 0, 10, 10), (5, 5, 15, 15)) == pytest.approx(1 / 7)
    assert box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    # IoU 1 (hit), no box (miss), 80/100 = 0.8 (hit) -> 2/3
    preds = [(0, 0, 10, 10), None, (0, 0, 10, 8)]
    targets = [(0, 0, 10, 10), (0, 0, 1, 1), (0, 0, 10, 10)]
    assert precision_at_iou(preds, targets, 0.5) == pytest.approx(2 / 3)
    assert precision_at_iou(preds, targets, 0.9) == pytest.approx(1 / 3)


def test_miou_with_ignore_index():
    # valid pixels (target != 255): (t0,p0) (t1,p0) (t1,p1) (t2,p2) (t0,p2); the ignored pixel has p=1.
    # class 0: TP 1, FP 1, FN 1 -> 1/3; class 1: TP 1, FP 0, FN 1 -> 1/2; class 2: TP 1, FP 1, FN 0 -> 1/2
    # class 3: never present nor predicted -> NaN, left out; mIoU = (1/3 + 1/2 + 1/2) / 3 = 4/9
    pred = np.array([[0, 0, 1], [1, 2, 2]], dtype=np.uint8)
    target = np.array([[0, 1, 1], [255, 2, 0]], dtype=np.uint8)
    cm = confusion_matrix(pred, target, 4)
    assert cm.sum() == 5
    per_class, miou = iou_from_confusion(cm)
    assert per_class[:3] == pytest.approx([1 / 3, 1 / 2, 1 / 2])
    assert math.isnan(per_class[3])
    assert miou == pytest.approx(4 / 9)
    # accumulating two halves gives the same matrix
    cm2 = confusion_matrix(pred[:1], target[:1], 4) + confusion_matrix(pred[1:], target[1:], 4)
    np.testing.assert_array_equal(cm, cm2)

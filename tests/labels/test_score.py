"""Scores against labels equal hand-computed values; a class the model lacks scores 0 unless mapped."""

from __future__ import annotations

import numpy as np
import pytest

from core.labels.score import agreement, score

MODEL = ["background", "water", "forest", "agriculture"]


def grids() -> tuple[np.ndarray, np.ndarray]:
    """4x4 labels (0 = lake, 1 = veg, -1 unlabelled) and a prediction, small enough to count by hand."""
    labels = np.array([[0, 0, 0, -1],
                       [0, 0, 1, 1],
                       [-1, 1, 1, 1],
                       [-1, -1, 1, 1]])
    pred = np.array([[1, 1, 0, 1],   # 1 = water, 2 = forest, 3 = agriculture
                     [1, 1, 1, 2],
                     [1, 3, 2, 0],
                     [2, 2, 3, 3]])
    return labels, pred


def test_iou_precision_recall_and_areas_by_hand() -> None:
    labels, pred = grids()
    s = score(labels, pred, ["lake", "veg"], MODEL, {"lake": ["water"], "veg": ["forest", "agriculture"]},
              pixel_area_m2=np.full((4, 1), 2500.0))  # 50 m pixels: 0.25 ha each
    lake, veg = s.classes["lake"], s.classes["veg"]
    # lake: 5 labelled, 4 predicted water (TP), 1 background (FN); veg pixels predicted water: 1 (FP)
    assert (lake.iou, lake.precision, lake.recall) == pytest.approx((4 / 6, 4 / 5, 4 / 5))
    # veg: 7 labelled, predicted forest/agriculture 5 (TP), water 1 + background 1 (FN); lake predicted veg: 0
    assert (veg.iou, veg.precision, veg.recall) == pytest.approx((5 / 7, 1.0, 5 / 7))
    assert s.miou == pytest.approx((4 / 6 + 5 / 7) / 2)
    assert (lake.labelled_ha, lake.predicted_ha) == pytest.approx((1.25, 1.25))  # 5 px labelled, 5 px say water
    assert (veg.labelled_ha, veg.predicted_ha) == pytest.approx((1.75, 1.25))
    assert s.confusion == [[1, 4, 0, 0], [1, 1, 2, 3]]
    assert s.labelled_pixels == 12


def test_a_class_the_model_lacks_scores_zero_unless_mapped() -> None:
    labels, pred = grids()
    s = score(labels, pred, ["lake", "veg"], MODEL, {"lake": ["water"], "veg": []})
    assert s.classes["veg"].iou == 0.0 and s.classes["veg"].mapped_to == []
    assert any("'veg'" in n for n in s.notes)
    agree = agreement(labels, pred, ["lake", "veg"], MODEL, {"lake": ["water"], "veg": ["forest", "agriculture"]})
    assert (agree == 1).sum() == 9 and (agree == 0).sum() == 3 and (agree == -1).sum() == 4

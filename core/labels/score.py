"""Scores of a land-cover map against label polygons: per-class IoU, precision, recall, confusion, areas."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np

from core.labels.rasterise import UNLABELLED


@dataclass
class ClassScore:
    """How one label class fares: pixels counted over the labelled polygons only."""

    name: str
    mapped_to: list[str]  # model classes that count as this label ([] = the model lacks it: scores 0)
    iou: float
    precision: float
    recall: float
    labelled_ha: float  # area labelled as this class
    predicted_ha: float  # area inside the labelled polygons predicted as one of mapped_to
    pixels: int


@dataclass
class Scores:
    """Per-class scores, their mean IoU, and the confusion matrix (label classes x model classes, pixels)."""

    classes: dict[str, ClassScore]
    miou: float
    confusion: list[list[int]]
    label_names: list[str]
    model_classes: list[str]
    labelled_pixels: int
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``{"classes": {NAME: {"iou": ...}}, "miou": ..., "confusion": {...}}`` for ``--json``."""
        return {
            "classes": {n: {k: v for k, v in asdict(c).items() if k != "name"} for n, c in self.classes.items()},
            "miou": self.miou,
            "confusion": {"rows (labels)": self.label_names, "columns (model)": self.model_classes,
                          "pixels": self.confusion},
            "labelled_pixels": self.labelled_pixels,
            "notes": list(self.notes),
        }


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else 0.0


def score(labels: np.ndarray, prediction: np.ndarray, label_names: list[str], model_classes: list[str],
          mapping: dict[str, list[str]], pixel_area_m2: Optional[np.ndarray] = None,
          valid: Optional[np.ndarray] = None) -> Scores:
    """Score ``prediction`` (model class index per pixel) against ``labels`` (label class index, -1 outside).

    For label class L mapped to model classes M(L): TP = pixels labelled L predicted in M(L); FN = labelled L
    predicted elsewhere; FP = pixels labelled as another class predicted in M(L). IoU = TP / (TP + FP + FN),
    precision = TP / (TP + FP), recall = TP / (TP + FN); 0 when the denominator is 0. Only labelled pixels
    count (what is outside the polygons is unknown), and pixels where ``valid`` is False are left out.

    Args:
        pixel_area_m2: ``[H, 1]`` or ``[H, W]`` ground area of each pixel (areas are then in ha); None: 1 m².
    """
    inside = labels != UNLABELLED
    if valid is not None:
        inside &= valid
    inside &= (prediction >= 0) & (prediction < len(model_classes))
    lab, pred = labels[inside].astype(np.int64), prediction[inside].astype(np.int64)
    k_l, k_m = len(label_names), len(model_classes)
    confusion = np.bincount(lab * k_m + pred, minlength=k_l * k_m).reshape(k_l, k_m)
    area = np.ones(labels.shape) if pixel_area_m2 is None else np.broadcast_to(pixel_area_m2, labels.shape)
    weights = area[inside]
    area_conf = np.bincount(lab * k_m + pred, weights=weights, minlength=k_l * k_m).reshape(k_l, k_m)
    out: dict[str, ClassScore] = {}
    notes = []
    for i, name in enumerate(label_names):
        cols = [model_classes.index(c) for c in mapping.get(name, []) if c in model_classes]
        tp = confusion[i, cols].sum()
        fn = confusion[i].sum() - tp
        fp = confusion[:, cols].sum() - tp
        if not cols:
            notes.append(f"label class {name!r} is not a class of the model and is not mapped (--map): it scores 0")
        out[name] = ClassScore(name, [model_classes[c] for c in cols], _ratio(tp, tp + fp + fn), _ratio(tp, tp + fp),
                               _ratio(tp, tp + fn), float(area_conf[i].sum() / 1e4),
                               float(area_conf[:, cols].sum() / 1e4), int(confusion[i].sum()))
    present = [c.iou for c in out.values() if c.pixels > 0]
    miou = float(np.mean(present)) if present else 0.0
    return Scores(out, miou, confusion.astype(int).tolist(), list(label_names), list(model_classes),
                  int(inside.sum()), notes)


def agreement(labels: np.ndarray, prediction: np.ndarray, label_names: list[str], model_classes: list[str],
              mapping: dict[str, list[str]]) -> np.ndarray:
    """Per pixel: 1 where the prediction is one of the label's mapped classes, 0 where it is not, -1 unlabelled."""
    out = np.full(labels.shape, -1, np.int8)
    for i, name in enumerate(label_names):
        here = labels == i
        ok = np.isin(prediction, [model_classes.index(c) for c in mapping.get(name, []) if c in model_classes])
        out[here] = ok[here].astype(np.int8)
    return out

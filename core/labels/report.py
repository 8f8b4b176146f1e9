"""The label check's report: Markdown, a PNG (per-class IoU before/after, confusion) and disagreement polygons."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.labels.score import Scores


def to_markdown(runs: dict[str, Scores], title: str = "Model against labels", notes: Optional[list[str]] = None) -> str:
    """Per-class IoU, precision, recall and areas for each run (e.g. "before", "after"), then the confusion
    matrix of the last run."""
    names = list(runs)
    first = runs[names[0]]
    lines = [f"# {title}", ""]
    head = "| class | mapped to | labelled ha | " + " | ".join(
        f"{n} IoU | {n} precision | {n} recall | {n} predicted ha" for n in names) + " |"
    lines += [head, "|" + "---|" * (3 + 4 * len(names))]
    for cls in first.classes:
        row = [cls, "+".join(runs[names[-1]].classes[cls].mapped_to) or "(none: scores 0)",
               f"{first.classes[cls].labelled_ha:.2f}"]
        for n in names:
            c = runs[n].classes[cls]
            row += [f"{c.iou:.3f}", f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.predicted_ha:.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "mean IoU: " + ", ".join(f"{n} {runs[n].miou:.3f}" for n in names), ""]
    last = runs[names[-1]]
    lines += [f"## Confusion ({names[-1]}; pixels, rows = labels, columns = model classes)", "",
              "| label \\ model | " + " | ".join(last.model_classes) + " |",
              "|" + "---|" * (1 + len(last.model_classes))]
    for name, row in zip(last.label_names, last.confusion):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    extra = list(notes or []) + sorted({n for s in runs.values() for n in s.notes})
    if extra:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in extra]
    return "\n".join(lines) + "\n"


def write_png(runs: dict[str, Scores], path: Path) -> Path:
    """Bars of per-class IoU for each run, beside the last run's confusion matrix (row-normalised)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(runs)
    classes = list(runs[names[0]].classes)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        ax1.bar(np.arange(len(classes)) + i * width, [runs[n].classes[c].iou for c in classes], width,
                label=f"{n} (mIoU {runs[n].miou:.3f})")
    ax1.set_xticks(np.arange(len(classes)) + width * (len(names) - 1) / 2, classes, rotation=30, ha="right")
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("IoU over the labelled polygons")
    ax1.legend()
    last = runs[names[-1]]
    conf = np.asarray(last.confusion, float)
    conf = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    ax2.imshow(conf, vmin=0, vmax=1, cmap="Blues")
    ax2.set_xticks(range(len(last.model_classes)), last.model_classes, rotation=45, ha="right")
    ax2.set_yticks(range(len(last.label_names)), last.label_names)
    ax2.set_title(f"confusion ({names[-1]}), share of each label's pixels")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_disagreements(labels: np.ndarray, prediction: np.ndarray, agree: np.ndarray, label_names: list[str],
                        model_classes: list[str], transform: Any, crs: Any, path: Path) -> int:
    """Polygons where the model disagrees with the labels (``agree == 0``), with the label and the predicted
    class, written as a GeoPackage layer ``disagreements``; returns how many."""
    import geopandas as gpd
    from rasterio import features
    from shapely.geometry import shape

    k = len(model_classes)
    code = np.where(agree == 0, labels.astype(np.int64) * k + prediction.astype(np.int64), -1).astype(np.int32)
    rows = []
    for geom, value in features.shapes(code, mask=code >= 0, transform=transform):
        v = int(value)
        rows.append({"label": label_names[v // k], "predicted": model_classes[v % k], "geometry": shape(geom)})
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs) if rows else gpd.GeoDataFrame(
        {"label": [], "predicted": []}, geometry=[], crs=crs)
    if len(frame) and frame.crs is not None and frame.crs.is_projected:
        frame["area_m2"] = frame.geometry.area  # planar, in the raster's projected CRS
    tmp = path.with_name(path.stem + ".part.gpkg")
    frame.to_file(tmp, layer="disagreements", driver="GPKG")
    tmp.replace(path)
    return len(frame)

"""RGB against multispectral segmentation on held-out real chips: per-class IoU, as the engine reads them.

    python -m core.eval.spectral --data bench --model resources/model \
        --refiner resources/model/spectral --control runs/spectral-rgb

Rows: the RGB segmenter alone; the control refiner trained on the same chips without infrared (``--control``,
optional); the multispectral refiner with NIR only (SWIR withheld); with NIR and SWIR. Each chip is read as the
engine reads a raster (:func:`core.train.spectral.engine_read`). The labels of the real chips are derived from
these same bands by spectral-index rules (core/data/sentinel.py), so this measures how well each input recovers
those rules on unseen ground, not agreement with human labels.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np


def score(chips: list[Any], classes: list[str], runs: dict[str, Any]) -> dict[str, Any]:
    """``{row: {"classes": {name: iou}, "miou": m, "pixel_acc": a}}`` over the chips' labelled pixels.

    ``runs`` maps a row name to ``predict(chip) -> class index [H, W]``. IoU is reported for the classes that
    have labelled pixels; mIoU is their mean.
    """
    from core.eval.metrics import confusion_matrix, iou_from_confusion

    k = len(classes)
    out: dict[str, Any] = {}
    labelled = np.zeros(k, np.int64)
    for chip in chips:
        labelled += np.bincount(chip.mask[chip.mask != 255].ravel(), minlength=k)[:k]
    present = [i for i in range(k) if labelled[i] > 0]
    for row, predict in runs.items():
        cm = sum(confusion_matrix(predict(chip), chip.mask, k) for chip in chips)
        iou, _ = iou_from_confusion(cm)
        out[row] = {"classes": {classes[i]: iou[i] for i in present},
                    "miou": float(np.mean([iou[i] for i in present])),
                    "pixel_acc": float(np.trace(cm) / max(cm.sum(), 1))}
    out["_pixels"] = {classes[i]: int(labelled[i]) for i in present}
    return out


def table(result: dict[str, Any]) -> str:
    """The Markdown table of :func:`score`'s result."""
    names = list(result["_pixels"])
    rows = [r for r in result if not r.startswith("_")]
    lines = ["| input | " + " | ".join(names) + " | mIoU | pixel acc. |",
             "|---|" + "---|" * (len(names) + 2)]
    for r in rows:
        cells = [f"{result[r]['classes'][n]:.3f}" for n in names]
        tail = f" | **{result[r]['miou']:.3f}** | {result[r]['pixel_acc']:.3f} |"
        lines.append(f"| {r} | " + " | ".join(cells) + tail)
    share = sum(result["_pixels"].values())
    lines.append("| labelled share | " + " | ".join(f"{100 * result['_pixels'][n] / share:.1f}%" for n in names)
                 + " | | |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.eval.spectral", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="a benchmark with spectral/ chips")
    p.add_argument("--model", default="default", help="checkpoint with the RGB segmenter")
    p.add_argument("--refiner", required=True, help="multispectral refiner folder (trained with --bands all)")
    p.add_argument("--control", help="refiner trained with --bands rgb (the no-infrared control)")
    p.add_argument("--splits", default="val,test", help="held-out splits (no model selection uses them)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="read each chip as if its pixels were 1/SCALE times their size (0.5: 10 m chips as 20 m)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON after the table")
    args = p.parse_args(argv)
    import torch

    from core.train.spectral import load_chips, load_segmenter, withhold
    from models.spectral import SpectralRefiner

    segment, classes, model_id = load_segmenter(args.model)
    if not 0 < args.scale <= 4:
        print(f"error: --scale {args.scale}: give a factor between 0 and 4", file=sys.stderr)
        return 2
    chips = load_chips(Path(args.data), [s.strip() for s in args.splits.split(",") if s.strip()], segment,
                       fixed_stretch=False, scales=(args.scale,))
    if not chips:
        print(f"error: no spectral chips in {args.data} for {args.splits}", file=sys.stderr)
        return 2
    refiner = SpectralRefiner.from_pretrained(args.refiner)

    def refined(model: Any, mode: str) -> Any:
        def predict(chip: Any) -> np.ndarray:
            with torch.inference_mode():
                logp = torch.from_numpy(chip.logp[0])[None]
                bands = torch.from_numpy(withhold(chip.bands, mode))[None]
                return model(logp, bands)[0].argmax(0).numpy()
        return predict

    runs: dict[str, Any] = {"RGB (segmenter alone)": lambda c: c.logp[0].argmax(0)}
    if args.control:
        runs["RGB + refiner trained without infrared"] = refined(SpectralRefiner.from_pretrained(args.control), "rgb")
    runs["RGB + NIR"] = refined(refiner, "nir")
    runs["RGB + NIR + SWIR"] = refined(refiner, "full")
    result = score(chips, classes, runs)
    scale = "" if args.scale == 1.0 else f", resampled x{args.scale:g}"
    print(f"{len(chips)} held-out real chips ({args.splits}{scale}); RGB model {model_id}; refiner {args.refiner}")
    print(table(result))
    if args.json:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m core.train finetune``: teach a model the analyst's classes from label polygons.

    python -m core.train finetune --raster scene.tif [scene2.tif ...] --labels labels.gpkg --class-field class \\
        --out models/mine [--model default] [--map vegetation=forest+agriculture] [--steps 300]

Trains the segmentation head (and the spectral refiner when the model has one and the rasters have NIR) on
windows sampled inside and around the polygons; label classes the model lacks become new classes. A spatially
separated share of the polygons is held out, and the model is scored on it before and after training
(``--out``/report.md, report.png, scores.json). The folder works wherever ``--model DIR`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional


def parser() -> argparse.ArgumentParser:
    from core.labels.finetune import FinetuneOptions

    d = FinetuneOptions()
    p = argparse.ArgumentParser(prog="python -m core.train finetune", description=__doc__.split("\n")[0])
    p.add_argument("--raster", nargs="+", required=True)
    p.add_argument("--labels", required=True, help="polygons in any OGR vector, any CRS")
    p.add_argument("--class-field", required=True)
    p.add_argument("--out", required=True, help="folder for the fine-tuned model")
    p.add_argument("--model", default="default", help="base checkpoint: default or a folder")
    p.add_argument("--map", action="append", default=[], metavar="NAME=CLASS[+CLASS]")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--crop", type=int, default=d.crop)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--held-out", type=float, default=d.held_out, help="share of labelled area held out (0: none)")
    p.add_argument("--block-m", type=float, default=d.block_m)
    p.add_argument("--gap-m", type=float, default=d.gap_m)
    p.add_argument("--rgb-only", action="store_true", help="do not train the spectral refiner")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-report", action="store_true", help="skip the before/after scores on held-out polygons")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    from core.errors import InputError
    from core.labels.finetune import FinetuneOptions, finetune
    from core.labels.rasterise import parse_mapping

    args = parser().parse_args(argv)
    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    if args.steps < 1 or args.batch < 1 or args.crop < 16:
        print("error: --steps and --batch must be >= 1, --crop >= 16", file=sys.stderr)
        return 2
    opts = FinetuneOptions(steps=args.steps, batch=args.batch, crop=args.crop, lr=args.lr, held_out=args.held_out,
                           block_m=args.block_m, gap_m=args.gap_m, spectral=not args.rgb_only, seed=args.seed)
    try:
        mapping = parse_mapping(args.map)
        result = finetune(args.raster, args.labels, args.class_field, args.out, args.model, mapping, opts, log=log)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for note in result.notes:
        log(note)
    log(f"trained in {result.seconds:.1f} s; classes {result.classes} (new: {result.new_classes}); "
        f"saved to {result.out}")
    summary = {"out": str(result.out), "classes": result.classes, "new_classes": result.new_classes,
               "train_seconds": round(result.seconds, 1)}
    if result.split.held_out and not args.no_report:
        summary["held_out"] = before_after(args, result)
    print(json.dumps(summary, indent=2))
    return 0


def before_after(args: argparse.Namespace, result: object) -> dict:
    """Score the base and the fine-tuned model on the held-out polygons of each raster; write the report."""
    from core.eval.labels import check, predict, write_outputs
    from core.labels.rasterise import read_labels

    out: dict = {}
    start = time.perf_counter()
    for i, raster in enumerate(args.raster):
        import rasterio

        with rasterio.open(raster) as ds:
            crs = ds.crs
        held = read_labels(args.labels, args.class_field, crs).subset(result.split.held_out)
        mapping = {k: v for k, v in result.mapping.items() if v}
        before = check(predict(raster, args.model), held, mapping)[0]
        prediction = predict(raster, str(result.out))
        after, grid, resolved = check(prediction, held, mapping)
        runs = {"before": before, "after": after}
        folder = Path(result.out) / ("report" if len(args.raster) == 1 else f"report-{i + 1}")
        write_outputs(folder, runs, prediction, grid, resolved, f"Held-out polygons of {Path(raster).name}",
                      result.notes + [f"train: {result.seconds:.1f} s, {args.steps} steps x {args.batch} windows"])
        out[raster] = {"before_miou": before.miou, "after_miou": after.miou,
                       "before": {n: c.iou for n, c in before.classes.items()},
                       "after": {n: c.iou for n, c in after.classes.items()}, "report": str(folder / "report.md")}
    out["score_seconds"] = round(time.perf_counter() - start, 1)
    return out


if __name__ == "__main__":
    sys.exit(main())

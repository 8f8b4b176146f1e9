"""``python -m core.train``: train one stage, or every stage in order (each from the previous checkpoint).

Examples::

    python -m core.train --data bench --out runs/seg --stage seg --recipe cpu-small lr=3e-4
    python -m core.train --data bench --out runs/all --recipe tiny          # seg, retriever, align, instruct
    python -m core.train --data bench --out runs/all --recipe default --resume instruct.steps=8000
    torchrun --nproc_per_node 4 -m core.train --data bench --out runs/all --recipe default

Overrides: ``key=value`` sets a field of every stage config that has it, ``STAGE.key=value`` one stage's,
``model.key=value`` a VLMConfig field of a new model; from --init or a checkpoint only the loss switches
(``LOSS_FIELDS``: ndl_enabled, ndl_alpha, ndl_gamma) and switching a part off (guide_enabled,
retrieval_enabled, experts_enabled = false: its trained tensors are dropped) apply (ablations).
One stage writes its checkpoint to --out; all stages write --out/<stage>/ (the last, --out/instruct, is the
trained model). See core/train/loop.py for what a checkpoint directory holds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Optional

from core.train.config import RECIPES, STAGE_ORDER, Overrides, recipe_model_overrides


def _stage(name: str, manifest: object) -> object:
    if name == "seg":
        from core.train.seg import SegStage

        return SegStage(manifest)
    if name == "retriever":
        from core.train.retriever import RetrieverStage

        return RetrieverStage(manifest)
    if name == "align":
        from core.train.align import AlignStage

        return AlignStage(manifest)
    from core.train.instruct import InstructStage

    return InstructStage(manifest)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=[*STAGE_ORDER, "all"], default="all",
                   help="one stage, or all of them in order (default)")
    p.add_argument("--data", required=True, help="manifest directory (python -m core.data build)")
    p.add_argument("--out", required=True, help="checkpoint directory (all stages: one folder per stage)")
    p.add_argument("--init", help="checkpoint to start from (default: a new model from the recipe)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--recipe", choices=RECIPES, default="default")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["finetune"]:  # python -m core.train finetune ...: learn from label polygons
        from core.train.finetune import main as finetune_main

        return finetune_main(raw[1:])
    args = parser().parse_intermixed_args(argv)  # key=value may come before and after options
    try:
        overrides = Overrides.parse(args.overrides)
        stages = STAGE_ORDER if args.stage == "all" else [args.stage]
        configs = {s: overrides.stage_config(args.recipe, s) for s in stages}
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from core.data.manifest import Manifest
    from core.train.distributed import cleanup, init_distributed
    from core.train.parts import model_config

    try:
        manifest = Manifest(args.data)
        vlm_cfg = model_config(recipe_model_overrides(args.recipe), overrides.model, manifest.classes)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.init and not Path(args.init, "config.json").is_file():
        print(f"error: --init {args.init} has no config.json: not a checkpoint", file=sys.stderr)
        return 2
    out = Path(args.out)
    init: Optional[Path] = Path(args.init) if args.init else None
    args.model_overrides = overrides.model
    info = init_distributed(configs[stages[0]].device)  # one process group for every stage
    try:
        return _run(args, stages, configs, manifest, vlm_cfg, out, init, info.is_main)
    finally:
        cleanup(info)


def _run(args: argparse.Namespace, stages: list[str], configs: dict, manifest: object, vlm_cfg: object,
         out: Path, init: Optional[Path], is_main: bool) -> int:
    from core.train.loop import train_stage
    from core.train.parts import create_model_fn, loader_with_overrides

    load_model = loader_with_overrides(getattr(args, "model_overrides", {}))

    for name in stages:
        if name == "retriever" and args.stage == "all" and not _has_retrieval(vlm_cfg, init, args.model_overrides):
            if is_main:
                print("retriever: skipped (retrieval_enabled=false: the model has no retriever)", flush=True)
            continue
        stage_out = out / name if args.stage == "all" else out
        meta = {"recipe": args.recipe, "data": str(Path(args.data).resolve()), "overrides": args.overrides,
                "model_config_if_new": dataclasses.asdict(vlm_cfg) if init is None else None}
        try:
            summary = train_stage(_stage(name, manifest), configs[name], stage_out, create_model_fn(vlm_cfg),
                                  load_model, init=init, resume=args.resume, meta=meta)
        except (FileExistsError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if is_main:
            print(json.dumps(summary), flush=True)
        init = stage_out
    return 0


def _has_retrieval(vlm_cfg: object, init: Optional[Path], model_overrides: dict[str, str]) -> bool:
    """Whether the model the next stage trains has a retriever (a new model's config, or --init's)."""
    if init is None:
        return bool(vlm_cfg.retrieval_enabled)
    from core.train.parts import part_switches
    from models.config import VLMConfig

    switched_on = part_switches(model_overrides).get("retrieval_enabled", True)
    return bool(VLMConfig.load(init).retrieval_enabled) and switched_on


if __name__ == "__main__":
    sys.exit(main())

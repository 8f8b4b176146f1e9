"""Training configs: one dataclass per stage, recipes, and typed ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

STAGE_ORDER = ["seg", "retriever", "align", "instruct"]
RECIPES = ["default", "cpu-small", "tiny"]


@dataclass
class StageConfig:
    """Settings every stage shares (the loop reads these)."""

    steps: int = 1000  # optimizer steps
    batch_size: int = 8  # samples per process per micro-step
    grad_accum: int = 1  # micro-steps per optimizer step
    lr: float = 1e-4  # peak learning rate of the trained parts
    weight_decay: float = 0.0
    warmup_steps: int = 0  # linear warmup from 0
    schedule: str = "cosine"  # cosine | linear | constant (after warmup), decays to min_lr_ratio * lr
    min_lr_ratio: float = 0.1
    max_grad_norm: float = 1.0  # 0 disables clipping
    precision: str = "auto"  # auto (CUDA: bf16 if supported else fp16; CPU: fp32) | fp32 | bf16 | fp16
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 0
    num_workers: int = 0  # DataLoader worker processes (0: a resumed run continues exactly)
    log_every: int = 10  # steps between CSV rows
    save_every: int = 0  # steps between checkpoints (0: only at the end)
    eval_every: int = 0  # steps between validation losses (0: only at the end)
    eval_batches: int = 4  # validation batches per evaluation (0: no validation)
    train_split: str = "train"
    val_split: str = "val"
    limit: int = 0  # use at most this many training records (0: all)
    ddp_find_unused: bool = False  # DDP: allow trained parameters that a step does not use (slower)


@dataclass
class SegConfig(StageConfig):
    """Land-cover segmentation: encoder + FPN head on the data's masks (cross-entropy, ignore 255)."""

    steps: int = 2000
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    crop_size: int = 256  # random square crop in pixels (0: whole image); eval uses whole images
    encoder_lr_scale: float = 0.0  # backbone lr = lr * this; 0 keeps it frozen (see core/train/seg.py)
    ignore_index: int = 255
    augment: bool = True  # random flips and 90-degree rotations
    real_repeat: int = 1  # each real chip (a scene with spectral/ bands) is drawn this many times per epoch


@dataclass
class RetrieverConfig(StageConfig):
    """Contrastive image-caption retriever (symmetric InfoNCE, in-batch negatives)."""

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 50
    train_text_encoder: bool = False  # also train the text encoder (a base: see core/train/retriever.py)
    train_image_encoder: bool = False  # not supported: the image encoder is the segmenter's, shared
    text_encoder_lr_scale: float = 0.1  # text encoder lr = lr * this


@dataclass
class AlignConfig(StageConfig):
    """Image-text alignment by captioning: trains the prompter and the projections; LLM frozen."""

    steps: int = 2000
    batch_size: int = 16
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    use_retrieval: bool = True  # feed retrieved descriptions (of other scenes), as at inference
    objects: str = "gt"  # land-cover text in the prompt: gt (from the data's masks) | none


@dataclass
class InstructConfig(StageConfig):
    """Multi-task instruction tuning: LoRA + semantic experts + prompter; NDL for number answers."""

    steps: int = 4000
    batch_size: int = 8
    grad_accum: int = 2
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    task_weights: str = "vqa=4,ground=1,caption=1,classify=1"  # sampling weights of the tasks
    use_retrieval: bool = True
    objects: str = "gt"  # gt | none (see AlignConfig)


STAGE_CONFIGS: dict[str, type[StageConfig]] = {
    "seg": SegConfig, "retriever": RetrieverConfig, "align": AlignConfig, "instruct": InstructConfig,
}

_TINY_STEPS: dict[str, Any] = {
    "steps": 3, "batch_size": 2, "grad_accum": 1, "warmup_steps": 0, "log_every": 1, "eval_batches": 1,
}

# Per-recipe changes from the dataclass defaults; "model" holds VLMConfig fields (or "tiny").
_RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    # Full-size components (EfficientNet-Lite0, MiniLM, SmolLM2-135M), sized for one GPU.
    "default": {"model": {"seg_detail": True}, **{s: {"num_workers": 4} for s in STAGE_ORDER}},
    # Real components, few small steps: roughly 1-2 hours on 2 idle CPU cores (estimate: SmolLM2 takes ~7 s
    # per fwd+bwd of 8x128 tokens; 2 steps of every stage took ~5 min on 2 cores shared with other jobs).
    "cpu-small": {
        "model": {"vision_image_size": 128, "image_tokens": 16, "prompter_tokens": 4, "seg_detail": True},
        "seg": {"steps": 150, "batch_size": 4, "crop_size": 128, "log_every": 5},
        "retriever": {"steps": 100, "batch_size": 16, "log_every": 5},
        "align": {"steps": 100, "batch_size": 4, "log_every": 5, "warmup_steps": 10},
        "instruct": {"steps": 200, "batch_size": 4, "grad_accum": 1, "log_every": 5, "warmup_steps": 10},
    },
    # Random tiny model, a few steps each: smoke tests.
    "tiny": {
        "model": {"tiny": True},
        **{s: dict(_TINY_STEPS) for s in STAGE_ORDER},
        "seg": {**_TINY_STEPS, "crop_size": 64},
    },
}


def recipe_stage_config(recipe: str, stage: str) -> StageConfig:
    """The stage's config as the recipe sets it (before command-line overrides)."""
    if recipe not in _RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose from {RECIPES}")
    if stage not in STAGE_CONFIGS:
        raise ValueError(f"unknown stage {stage!r}; choose from {STAGE_ORDER}")
    return STAGE_CONFIGS[stage](**_RECIPES[recipe].get(stage, {}))


def recipe_model_overrides(recipe: str) -> dict[str, Any]:
    """VLMConfig changes of the recipe; ``{"tiny": True}`` means start from ``VLMConfig.tiny()``."""
    if recipe not in _RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose from {RECIPES}")
    return dict(_RECIPES[recipe]["model"])


# ---------------------------------------------------------------- typed key=value overrides

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(text: str, annotation: Any) -> Any:
    """Parse ``text`` as the type ``annotation`` (bool, int, float, str, Optional[...], list[...])."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if text.lower() in ("none", "null") and len(args) < len(typing.get_args(annotation)):
            return None
        return parse_value(text, args[0])
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(annotation) or (str,)
        items = [s.strip() for s in text.strip("[]").split(",") if s.strip()]
        return [parse_value(s, inner) for s in items]
    if annotation is bool:
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"not a boolean: {text!r}")
    if annotation is int:
        return int(text)
    if annotation is float:
        return float(text)
    if annotation is str:
        return text
    raise ValueError(f"cannot parse a value of type {annotation}")


def split_override(pair: str) -> tuple[str, str]:
    """``"key=value"`` -> ``("key", "value")``; a clear error for anything else."""
    key, sep, value = pair.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {pair!r} is not key=value")
    return key.strip(), value.strip()


def apply_overrides(config: Any, pairs: dict[str, str]) -> Any:
    """A copy of dataclass ``config`` with only the given fields replaced, each parsed by its field type.

    Raises ValueError naming the valid keys when a key is not a field.
    """
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    changes = {}
    for key, value in pairs.items():
        if key not in hints or key not in names:
            raise ValueError(f"unknown key {key!r} for {type(config).__name__}; valid: {', '.join(names)}")
        try:
            changes[key] = parse_value(value, hints[key])
        except ValueError as exc:
            raise ValueError(f"{key}={value!r}: {exc}") from None
    return dataclasses.replace(config, **changes)


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


@dataclass
class Overrides:
    """Command-line overrides sorted by target: every stage, one stage (``seg.lr=``), or the model."""

    common: dict[str, str] = field(default_factory=dict)
    per_stage: dict[str, dict[str, str]] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, pairs: list[str]) -> Overrides:
        """Sort ``key=value``, ``STAGE.key=value`` and ``model.key=value`` strings."""
        out = cls()
        for pair in pairs:
            key, value = split_override(pair)
            prefix, dot, rest = key.partition(".")
            if dot and prefix == "model":
                out.model[rest] = value
            elif dot and prefix in STAGE_CONFIGS:
                out.per_stage.setdefault(prefix, {})[rest] = value
            elif dot:
                raise ValueError(f"override {pair!r}: prefix must be model or a stage {STAGE_ORDER}")
            else:
                if not any(key in _field_names(c) for c in STAGE_CONFIGS.values()):
                    raise ValueError(f"unknown key {key!r}: no stage config has it")
                out.common[key] = value
        return out

    def stage_config(self, recipe: str, stage: str) -> StageConfig:
        """The recipe's config for ``stage`` with the overrides that apply to it."""
        cfg = recipe_stage_config(recipe, stage)
        common = {k: v for k, v in self.common.items() if k in _field_names(type(cfg))}
        return apply_overrides(cfg, {**common, **self.per_stage.get(stage, {})})


def save_resolved(path: str | Path, stage: str, config: StageConfig, extra: dict[str, Any]) -> Path:
    """Write the resolved stage config (and run facts in ``extra``) as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"stage": stage, "config": dataclasses.asdict(config), **extra}
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path

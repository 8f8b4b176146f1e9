"""Helpers the stages share: building/loading the EarthVLM, choosing what trains, frozen BatchNorm."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Name tests for the trained parts of models.vlm.EarthVLM (state-dict names).
PARTS: dict[str, Callable[[str], bool]] = {
    "seg_head": lambda n: n.startswith("segmenter.head."),
    "band_adapter": lambda n: n.startswith("segmenter.encoder.adapter."),
    "vision_backbone": lambda n: n.startswith("segmenter.encoder.backbone."),
    "guidance": lambda n: n.startswith("guidance."),
    "image_proj": lambda n: n.startswith("image_proj."),
    "prompter": lambda n: n.startswith("prompter."),
    "retriever_proj": lambda n: n.startswith(("retriever.image_tower.proj.", "retriever.text_tower.proj."))
    or n == "retriever.logit_scale",
    "text_encoder": lambda n: n.startswith("retriever.text_tower.encoder."),
    "lora": lambda n: n.startswith("llm.") and "lora_" in n,
    "experts": lambda n: n.startswith("llm.") and ".experts." in n,
}


def model_config(recipe_model: dict[str, Any], overrides: dict[str, str], classes: list[str]) -> Any:
    """The VLMConfig of a new model: the recipe's (``{"tiny": True}`` = VLMConfig.tiny()), then
    ``model.key=value`` overrides, with ``seg_classes`` taken from the data."""
    from core.train.config import apply_overrides
    from models.config import VLMConfig

    rec = dict(recipe_model)
    cfg = VLMConfig.tiny() if rec.pop("tiny", False) else VLMConfig()
    cfg = apply_overrides(cfg, {k: str(v) for k, v in rec.items()}) if rec else cfg
    cfg = apply_overrides(cfg, overrides)
    cfg.seg_classes = list(classes)
    return cfg


def create_model_fn(cfg: Any) -> Callable[[], Any]:
    """A function that builds a fresh EarthVLM from ``cfg`` (bases loaded, trained parts random)."""

    def create() -> Any:
        from models.vlm import EarthVLM

        return EarthVLM(cfg)

    return create


def load_model(directory: str | Path, device: str = "cpu", switch_off: tuple[str, ...] = (),
               grow: tuple[str, ...] = ()) -> Any:
    """EarthVLM.from_pretrained (the loop moves it to its device); ``switch_off`` parts are left out, ``grow``
    parts added at their initialisation where the checkpoint lacks them."""
    from models.vlm import EarthVLM

    return EarthVLM.from_pretrained(directory, device=device, switch_off=switch_off, grow=grow)


LOSS_FIELDS = ("ndl_enabled", "ndl_alpha", "ndl_gamma")  # read at loss time: safe to change on a checkpoint


def part_switches(model_overrides: dict[str, str]) -> dict[str, bool]:
    """The part switches (``models.checkpoint.SWITCHABLE``) among ``model.key=value`` overrides, parsed."""
    from core.train.config import parse_value
    from models.checkpoint import SWITCHABLE

    return {k: parse_value(v, bool) for k, v in model_overrides.items() if k in SWITCHABLE}


def loader_with_overrides(model_overrides: dict[str, str]) -> Any:
    """``load_model`` that applies the ``model.key=value`` overrides a checkpoint can take (ablations).

    Loss switches (``LOSS_FIELDS``) are set on the loaded config. A part switch of
    ``models.checkpoint.SWITCHABLE`` set false (``model.experts_enabled=false``) loads the checkpoint without
    that part; set true, the checkpoint must already have it (a new part needs a new model). A part of
    ``models.checkpoint.GROWABLE`` set true (``model.seg_detail=true``) is added to a checkpoint that lacks it,
    at its initialisation, for the stage to train. Other architecture fields shape a new model only and are
    ignored here.
    """
    from core.train.config import apply_overrides, parse_value
    from models.checkpoint import GROWABLE
    from models.config import VLMConfig

    loss = {k: v for k, v in model_overrides.items() if k in LOSS_FIELDS}
    switches = part_switches(model_overrides)
    on = [k for k, v in switches.items() if v]
    off = tuple(k for k, v in switches.items() if not v)
    grow = tuple(k for k, v in model_overrides.items() if k in GROWABLE and parse_value(v, bool))

    def load(directory: str | Path, device: str = "cpu") -> Any:
        saved = VLMConfig.load(directory) if on else None
        absent = [k for k in on if not getattr(saved, k)]
        if absent:
            raise ValueError(f"{directory} was trained with {', '.join(f'{k}=false' for k in absent)}: a "
                             "checkpoint cannot switch a part on; train a new model (no --init)")
        model = load_model(directory, device, off, grow)
        if loss:
            model.cfg = apply_overrides(model.cfg, loss)
        return model

    return load


def select(model: nn.Module, groups: dict[str, tuple[Iterable[str], float]]) -> list[dict[str, Any]]:
    """Freeze everything, then unfreeze the named parts; one optimizer group per entry.

    Args:
        groups: group name -> (part names from PARTS, learning rate). Groups with lr 0 are left frozen.
    Returns:
        AdamW parameter groups (``name``, ``params``, ``lr``); a shared tensor is counted once.
    """
    model.requires_grad_(False)
    seen: set[int] = set()
    out = []
    named = list(model.named_parameters())  # shared tensors appear once (named_parameters deduplicates)
    for group, (parts, lr) in groups.items():
        if lr <= 0:
            continue
        tests = [PARTS[p] for p in parts]
        params = [p for n, p in named if any(t(n) for t in tests) and id(p) not in seen]
        for p in params:
            seen.add(id(p))
            p.requires_grad_(True)
        if params:
            out.append({"name": group, "params": params, "lr": lr})
    return out


def count(groups: list[dict[str, Any]]) -> int:
    return sum(p.numel() for g in groups for p in g["params"])


def freeze_frozen_norms(module: nn.Module) -> None:
    """Put BatchNorm layers without trainable parameters in eval mode (running statistics stay)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in m.parameters()):
            m.eval()


class StageLoss(nn.Module):
    """Base of the stages' loss modules: holds the model; train() keeps frozen BatchNorm in eval."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def train(self, mode: bool = True) -> StageLoss:
        super().train(mode)
        if mode:
            freeze_frozen_norms(self.model)
        return self


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device

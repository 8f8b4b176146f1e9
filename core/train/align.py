"""Stage ``align``: image-text alignment by captioning; trains the prompter and the visual projections."""

from __future__ import annotations

from typing import Any

from core.train.config import AlignConfig
from core.train.language import LanguageStage
from core.train.parts import select


class AlignStage(LanguageStage):
    """Caption records, target = one scene-level sentence; LLM (and LoRA, experts) frozen (paper 001, IV-A3:
    the first step trains the multi-level visual prompter on image-caption data)."""

    name = "align"
    tasks = ("caption",)

    def configure(self, model: Any, cfg: AlignConfig) -> list[dict[str, Any]]:
        return select(model, {"visual": (["prompter", "image_proj", "guidance"], cfg.lr)})

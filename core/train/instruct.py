"""Stage ``instruct``: multi-task instruction tuning (VQA, grounding, captioning, classification).

Trains LoRA, the semantic experts, the prompter and the visual projections; answers that are numbers
(counts, area bins) go through the numerical difference loss (``EarthVLM.forward`` with answer numbers).
"""

from __future__ import annotations

from typing import Any

from core.train.config import InstructConfig
from core.train.data import parse_weights
from core.train.language import LanguageStage
from core.train.parts import select


class InstructStage(LanguageStage):
    name = "instruct"
    tasks = ("vqa", "ground", "caption", "classify")
    numbers = True

    def weights(self, cfg: InstructConfig) -> dict[str, float]:
        return parse_weights(cfg.task_weights)

    def configure(self, model: Any, cfg: InstructConfig) -> list[dict[str, Any]]:
        return select(model, {"llm": (["lora", "experts"], cfg.lr),
                              "visual": (["prompter", "image_proj", "guidance"], cfg.lr)})

"""What the language stages (align, instruct) share: samples -> prompts -> EarthVLM teacher-forced loss."""

from __future__ import annotations

import math
from typing import Any, Optional

import torch

from core.train.config import StageConfig
from core.train.data import ObjectsText, TaskSamples, masks_by_image
from core.train.parts import StageLoss, device_of
from core.train.retrieval import retrieve_for_images


def collate_language(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Samples -> images ``[B, 3, S, S]`` and the texts :meth:`EarthVLM.build_batch` takes.

    The prompt is ``models.prompts.build_prompt`` exactly as ``EarthVLM.generate`` builds it.
    """
    from models.prompts import build_prompt

    return {
        "image": torch.stack([it["image"] for it in items]),
        "prompts": [build_prompt(it["task"], it["query"], it["objects_text"], it["retrieved"], it["choices"])
                    for it in items],
        "answers": [it["answer"] for it in items],
        "queries": [it["query"] for it in items],
        "retrieved": [list(it["retrieved"]) for it in items],
        "answer_numbers": [None if it["answer_value"] is None else float(it["answer_value"]) for it in items],
        "tasks": [it["task"] for it in items],
    }


class LanguageLoss(StageLoss):
    """Tokenises on the device (``build_batch``) and returns the model's loss and answer-token accuracy."""

    def __init__(self, model: Any, numbers: bool) -> None:
        super().__init__(model)
        self.numbers = numbers  # pass answer numbers (numerical difference loss)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        numbers = batch["answer_numbers"] if self.numbers else None
        if numbers is not None and all(v is None or math.isnan(v) for v in numbers):
            numbers = None
        inputs = self.model.build_batch(batch["image"], batch["prompts"], batch["answers"], batch["queries"],
                                        batch["retrieved"], numbers)
        loss, logits = self.model(inputs)  # logits [B, T, V]; logits[:, t] predicts input_ids[:, t + 1]
        with torch.no_grad():
            labels = inputs["labels"][:, 1:]  # [B, T-1]
            valid = labels != -100
            hits = (logits[:, :-1].argmax(-1) == labels) & valid
            acc = hits.sum().float() / valid.sum().clamp(min=1)
        return {"loss": loss, "token_acc": acc}


class LanguageStage:
    """Samples of ``tasks`` from the manifest, prompts with land-cover text and retrieved descriptions."""

    name = "language"
    tasks: tuple[str, ...] = ()
    numbers = False

    def __init__(self, manifest: Any) -> None:
        self.manifest = manifest

    def weights(self, cfg: StageConfig) -> Optional[dict[str, float]]:
        return None

    def _items(self, split: str) -> list[tuple[str, Any]]:
        return [(t, r) for t in self.tasks for r in self.manifest.records(t, split)]

    def datasets(self, model: Any, cfg: Any) -> tuple[TaskSamples, Optional[TaskSamples]]:
        train_items, val_items = self._items(cfg.train_split), self._items(cfg.val_split)
        if not train_items:
            raise ValueError(f"no {'/'.join(self.tasks)} records in {self.manifest.root}/{cfg.train_split}")
        objects = ObjectsText(self.manifest, self.manifest.classes) if cfg.objects == "gt" else None
        if cfg.objects not in ("gt", "none"):
            raise ValueError(f"objects must be gt or none, not {cfg.objects!r}")
        masks = masks_by_image(self.manifest, [cfg.train_split, cfg.val_split])
        table: dict[str, list[str]] = {}
        if cfg.use_retrieval and model.cfg.retrieval_enabled:
            images = {r.image: r.scene for _, r in train_items + val_items}
            table = retrieve_for_images(model, self.manifest, images, model.cfg.retriever_top_k,
                                        str(device_of(model)))
        size = model.cfg.vision_image_size

        def lookup(path: str) -> list[str]:
            return table.get(path, [])

        train = TaskSamples(self.manifest, train_items, size, True, objects, masks, lookup, self.weights(cfg))
        val = TaskSamples(self.manifest, val_items, size, False, objects, masks, lookup) if val_items else None
        return train, val

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_language(items)

    def loss_module(self, model: Any, cfg: StageConfig) -> LanguageLoss:
        return LanguageLoss(model, self.numbers)

"""Stage ``retriever``: image-caption contrastive training (symmetric InfoNCE over in-batch negatives)."""

from __future__ import annotations

from typing import Any, Optional

import torch

from core.train.config import RetrieverConfig
from core.train.data import CaptionPairs, collate_pairs
from core.train.parts import StageLoss, select


class RetrieverLoss(StageLoss):
    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        retriever = self.model.retriever
        img = self.model.embed_image(batch["image"])  # [B, D]
        txt = self.model.embed_text(batch["texts"])  # [B, D]
        loss = retriever.info_nce(img, txt)
        with torch.no_grad():
            sim = img @ txt.T  # [B, B]
            target = torch.arange(len(sim), device=sim.device)
            i2t = (sim.argmax(1) == target).float().mean()
            t2i = (sim.argmax(0) == target).float().mean()
        return {"loss": loss, "i2t_acc": i2t, "t2i_acc": t2i,
                "temperature": torch.tensor(retriever.temperature())}


class RetrieverStage:
    """Trains the two projections and the logit scale; the text encoder too (at ``lr *
    text_encoder_lr_scale``) with ``train_text_encoder``. The vision encoder is shared with the segmenter
    and stays frozen here.

    The text encoder is a base component: EarthVLM checkpoints keep a tuned base only while it is
    trainable, so the next stage's checkpoint drops a tuned text encoder again (models/checkpoint.py).
    """

    name = "retriever"

    def __init__(self, manifest: Any) -> None:
        self.manifest = manifest

    def datasets(self, model: Any, cfg: RetrieverConfig) -> tuple[CaptionPairs, Optional[CaptionPairs]]:
        if model.retriever is None:
            raise ValueError("the model was built with retrieval_enabled=False: nothing to train in 'retriever'")
        size = model.cfg.vision_image_size
        train = CaptionPairs(self.manifest, self.manifest.records("caption", cfg.train_split), size, True)
        if len(train) == 0:
            raise ValueError(f"no caption records in {self.manifest.root}/{cfg.train_split}")
        val = CaptionPairs(self.manifest, self.manifest.records("caption", cfg.val_split), size, False)
        return train, (val if len(val) else None)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_pairs(items)

    def configure(self, model: Any, cfg: RetrieverConfig) -> list[dict[str, Any]]:
        if model.retriever is None:
            raise ValueError("the model was built with retrieval_enabled=False: nothing to train in 'retriever'")
        if cfg.train_image_encoder:
            raise ValueError("train_image_encoder: the retriever's image encoder is the segmenter's backbone "
                             "(shared); training it here would change the segmentation features")
        tune_text = cfg.train_text_encoder
        groups = select(model, {"projections": (["retriever_proj"], cfg.lr),
                                "text_encoder": (["text_encoder"], cfg.lr * cfg.text_encoder_lr_scale
                                                 if tune_text else 0.0)})
        model.retriever.image_tower.tune_encoder = False
        model.retriever.text_tower.tune_encoder = tune_text
        model.retriever.train(model.retriever.training)  # a frozen text encoder goes back to eval mode
        return groups

    def loss_module(self, model: Any, cfg: RetrieverConfig) -> RetrieverLoss:
        return RetrieverLoss(model)

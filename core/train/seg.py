"""Stage ``seg``: the land-cover head (FPN) on the data's masks; cross-entropy that ignores 255."""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F

from core.data.manifest import spectral_path
from core.train.config import SegConfig
from core.train.data import SegDataset, collate_seg
from core.train.parts import StageLoss, select


class SegLoss(StageLoss):
    def __init__(self, model: Any, ignore_index: int) -> None:
        super().__init__(model)
        self.ignore_index = ignore_index

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = self.model.segment(batch["image"])  # [B, K, H, W]
        mask = batch["mask"]  # [B, H, W] int64, 255 = ignore
        loss = F.cross_entropy(logits.float(), mask, ignore_index=self.ignore_index)
        with torch.no_grad():
            valid = mask != self.ignore_index
            hits = ((logits.argmax(1) == mask) & valid).sum()
            acc = hits.float() / valid.sum().clamp(min=1)
        return {"loss": loss, "pixel_acc": acc}


class SegStage:
    """Trains ``segmenter.head`` (and the band adapter); the backbone at ``lr * encoder_lr_scale`` if > 0.

    The backbone is a frozen base by default: EarthVLM checkpoints store a base only while it is
    trainable, so a tuned backbone would be dropped again by the next stage's checkpoint.
    """

    name = "seg"

    def __init__(self, manifest: Any) -> None:
        self.manifest = manifest

    def datasets(self, model: Any, cfg: SegConfig) -> tuple[SegDataset, Optional[SegDataset]]:
        train = self.manifest.records("seg", cfg.train_split)
        if not train:
            raise ValueError(f"no seg records in {self.manifest.root}/{cfg.train_split}")
        if cfg.real_repeat < 1:
            raise ValueError(f"seg.real_repeat must be at least 1, got {cfg.real_repeat}")
        train = train + [r for r in train if self.is_real(r)] * (cfg.real_repeat - 1)
        val = self.manifest.records("seg", cfg.val_split)
        return (SegDataset(self.manifest, train, cfg.crop_size, True, cfg.augment, cfg.ignore_index),
                SegDataset(self.manifest, val, cfg.crop_size, False, False, cfg.ignore_index) if val else None)

    def is_real(self, record: Any) -> bool:
        """A real chip: its scene has reflectance bands in ``spectral/`` (procedural scenes have none)."""
        return spectral_path(self.manifest.root, record.scene).is_file()

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return collate_seg(items)

    def configure(self, model: Any, cfg: SegConfig) -> list[dict[str, Any]]:
        return select(model, {"head": (["seg_head", "band_adapter"], cfg.lr),
                              "backbone": (["vision_backbone"], cfg.lr * cfg.encoder_lr_scale)})

    def loss_module(self, model: Any, cfg: SegConfig) -> SegLoss:
        return SegLoss(model, cfg.ignore_index)

"""Segmenter = vision encoder + FPN head: what tiled inference calls and what ONNX exports."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from models.config import INIT_SEED, VLMConfig
from models.seg_head import SegHead
from models.vision_encoder import VisionEncoder, build_vision_encoder


class Segmenter(nn.Module):
    """``forward(x [B, C, H, W] in 0..1) -> logits [B, K, H, W]``, K = ``len(cfg.seg_classes)``.

    Args:
        cfg: ``vision_*`` builds the encoder, ``seg_*`` the head.
        encoder: an existing encoder to share (e.g. the VLM's); built from cfg when None.
        pretrained: load the encoder's base weights when building it.
    """

    def __init__(self, cfg: VLMConfig, encoder: VisionEncoder | None = None, pretrained: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.classes = list(cfg.seg_classes)
        self.encoder = encoder if encoder is not None else build_vision_encoder(cfg, pretrained=pretrained)
        self.head = SegHead(cfg, self.encoder.level_channels, self.encoder.detail_channels)

    def encode(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """One encoder pass -> (levels, the finer map when the head has ``seg_detail``, else None)."""
        if self.head.detail is None:
            return self.encoder(x), None
        detail, levels = self.encoder.with_detail(x)
        return levels, detail

    def features(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """One encoder pass -> (levels [B, C_l, H_l, W_l], logits [B, K, H, W]) so the VLM reuses levels."""
        levels, detail = self.encode(x)
        return levels, self.head(levels, x.shape[-2:], detail)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[1]  # [B, K, H, W]


def load_segmenter(directory: str | Path, device: str | torch.device = "cpu") -> Segmenter:
    """Only the segmenter of an EarthVLM checkpoint: its encoder base and trained head, no language model.

    Built as :class:`models.vlm.EarthVLM` builds it (same seed), so its weights equal the full model's.

    Raises:
        models.checkpoint.CheckpointError: the checkpoint's segmenter tensors do not fit its config.
    """
    from models.checkpoint import load_trained

    cfg = VLMConfig.load(directory)
    holder = nn.Module()  # names its part "segmenter", as in the checkpoint
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        holder.segmenter = Segmenter(cfg)
    load_trained(holder, directory, lambda n: n.startswith("segmenter.encoder.backbone."),
                 lambda n: not n.startswith("segmenter."))
    return holder.segmenter.to(device).eval()

"""FPN land-cover segmentation head on the encoder's multi-level maps -> logits at the input size."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.config import VLMConfig


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3) -> nn.Sequential:
    """kxk conv (no bias) + BatchNorm + ReLU, stride 1, same size."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SegHead(nn.Module):
    """Feature pyramid head (Kirillov et al. 2019, simplified).

    lateral 1x1 (C_l -> D) -> top-down: P_l = lat_l + up(P_{l+1}) -> 3x3 smoothing per level ->
    upsample all to the finest level, concat -> 3x3 fuse (n*D -> D) -> 1x1 classifier (D -> K) ->
    bilinear upsample to ``out_size``. D = ``cfg.seg_dim``, K = ``len(cfg.seg_classes)``.
    """

    def __init__(self, cfg: VLMConfig, level_channels: list[int]) -> None:
        super().__init__()
        if not level_channels:
            raise ValueError("SegHead needs at least one feature level")
        if not cfg.seg_classes:
            raise ValueError("seg_classes is empty")
        dim = cfg.seg_dim
        self.num_classes = len(cfg.seg_classes)
        self.lateral = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in level_channels)
        self.smooth = nn.ModuleList(conv_bn_relu(dim, dim) for _ in level_channels)
        self.fuse = conv_bn_relu(dim * len(level_channels), dim)
        self.classifier = nn.Conv2d(dim, self.num_classes, 1)

    def fused(self, levels: list[torch.Tensor]) -> torch.Tensor:
        """levels (shallow to deep) [B, C_l, H_l, W_l] -> fused pyramid feature [B, D, H_0, W_0]."""
        pyramid = [lat(f) for lat, f in zip(self.lateral, levels)]  # [B, D, H_l, W_l]
        for i in range(len(pyramid) - 2, -1, -1):  # top-down
            pyramid[i] = pyramid[i] + F.interpolate(pyramid[i + 1], size=pyramid[i].shape[-2:], mode="nearest")
        size = pyramid[0].shape[-2:]
        maps = [smooth(p) for smooth, p in zip(self.smooth, pyramid)]
        maps = [maps[0]] + [F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps[1:]]
        return self.fuse(torch.cat(maps, dim=1))  # [B, D, H_0, W_0]

    def forward(self, levels: list[torch.Tensor], out_size: tuple[int, int] | torch.Size | None = None) -> torch.Tensor:
        """levels -> logits [B, K, *out_size] (at the finest level's size when out_size is None)."""
        logits = self.classifier(self.fused(levels))  # [B, K, H_0, W_0]
        if out_size is not None:
            logits = F.interpolate(logits, size=out_size, mode="bilinear", align_corners=False)
        return logits

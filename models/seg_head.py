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


def separable_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    """Depthwise 3x3 + pointwise 1x1 (no bias) + BatchNorm + ReLU, same size: a cheap 3x3 at fine strides."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class DetailDecoder(nn.Module):
    """Boundaries at a finer stride (DeepLabV3+'s decoder, Chen et al. 2018, with separable convs).

    fine map (C_f) -> 1x1 to ``width``; fused pyramid (D) upsampled onto it; concat -> two separable 3x3 -> D.
    With EfficientNet-Lite0's three levels the pyramid is at stride 8 and the fine map (24 ch) at stride 4,
    so a 20 px building keeps its edges instead of a bilinear blur of 8 px cells.
    """

    def __init__(self, dim: int, fine_channels: int, width: int = 32) -> None:
        super().__init__()
        self.reduce = conv_bn_relu(fine_channels, width, 1)
        self.refine = nn.Sequential(separable_bn_relu(dim + width, dim), separable_bn_relu(dim, dim))

    def forward(self, fused: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        """fused [B, D, h, w], fine [B, C_f, H_f, W_f] -> [B, D, H_f, W_f]."""
        up = F.interpolate(fused, size=fine.shape[-2:], mode="bilinear", align_corners=False)
        return self.refine(torch.cat([up, self.reduce(fine)], dim=1))


class SegHead(nn.Module):
    """Feature pyramid head (Kirillov et al. 2019, simplified).

    lateral 1x1 (C_l -> D) -> top-down: P_l = lat_l + up(P_{l+1}) -> 3x3 smoothing per level ->
    upsample all to the finest level, concat -> 3x3 fuse (n*D -> D) -> 1x1 classifier (D -> K) ->
    bilinear upsample to ``out_size``. D = ``cfg.seg_dim``, K = ``len(cfg.seg_classes)``.
    With ``cfg.seg_detail`` a :class:`DetailDecoder` takes the fused map onto the encoder's finer map first.
    """

    def __init__(self, cfg: VLMConfig, level_channels: list[int], detail_channels: int = 0) -> None:
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
        self.detail: DetailDecoder | None = None
        if cfg.seg_detail:
            if not detail_channels:
                raise ValueError("seg_detail needs an encoder with a map finer than its levels "
                                 "(efficientnet_lite0 with vision_levels <= 3, or tiny)")
            self.detail = DetailDecoder(dim, detail_channels)
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

    def forward(self, levels: list[torch.Tensor], out_size: tuple[int, int] | torch.Size | None = None,
                detail: torch.Tensor | None = None) -> torch.Tensor:
        """levels (and the finer map with ``seg_detail``) -> logits [B, K, *out_size] (at the finest map's size
        when out_size is None)."""
        fused = self.fused(levels)  # [B, D, H_0, W_0]
        if self.detail is not None:
            if detail is None:
                raise ValueError("this head has seg_detail: pass the encoder's finer map (Segmenter.encode)")
            fused = self.detail(fused, detail)  # [B, D, H_f, W_f]
        logits = self.classifier(fused)  # [B, K, H, W]
        if out_size is not None:
            logits = F.interpolate(logits, size=out_size, mode="bilinear", align_corners=False)
        return logits

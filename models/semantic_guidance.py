"""EarthVL / SOBA semantic guidance: land-cover mask one-hot -> conv embedding, fused into visual features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.config import VLMConfig


def mask_to_fractions(mask: torch.Tensor, num_classes: int, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Class mask -> per-cell class fractions at ``size`` (an area-averaged one-hot).

    Args:
        mask: logits / scores ``[B, K, H, W]`` (float; argmax taken) or class ids ``[B, H, W]`` (int).
            Ids outside ``[0, K)`` (e.g. an ignore value 255) give an all-zero one-hot.
        num_classes: K.
        size: (h, w) of the visual map.

    Returns:
        ``[B, K, h, w]`` float, each cell sums to 1 (less where ignored pixels fall).
    """
    if mask.is_floating_point():
        if mask.ndim != 4 or mask.shape[1] != num_classes:
            raise ValueError(f"seg logits must be [B, {num_classes}, H, W], got {tuple(mask.shape)}")
        mask = mask.argmax(dim=1)  # [B, H, W]
    if mask.ndim != 3:
        raise ValueError(f"class mask must be [B, H, W], got {tuple(mask.shape)}")
    classes = torch.arange(num_classes, device=mask.device).view(1, num_classes, 1, 1)
    one_hot = (mask.unsqueeze(1) == classes).float()  # [B, K, H, W]
    return F.adaptive_avg_pool2d(one_hot, size)  # [B, K, h, w]


class SemanticGuidance(nn.Module):
    """Fuse the predicted land-cover mask into a visual feature map; output has the visual map's shape.

    fractions [B, K, h, w] -> 3x3 conv + BN + ReLU -> E [B, G, h, w]; concat with V [B, C, h, w] ->
    squeeze-excitation channel attention over the C + G channels -> 1x1 projection to C -> V + that.
    The projection starts at zero, so an untrained guidance block is the identity and switching it on
    does not disturb a trained visual pathway (a residual on top of the SOBA design, our choice).
    With ``cfg.guide_enabled`` False the block has no parameters and returns V unchanged (ablation).

    Args:
        cfg: ``guide_enabled``, ``guide_dim`` (G) and ``seg_classes`` (K).
        channels: C of the visual map it guides.
        reduction: squeeze ratio of the channel attention.
    """

    def __init__(self, cfg: VLMConfig, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.enabled = cfg.guide_enabled
        self.num_classes = len(cfg.seg_classes)
        if not self.enabled:
            return
        dim = cfg.guide_dim
        both = channels + dim
        self.embed = nn.Sequential(
            nn.Conv2d(self.num_classes, dim, 3, padding=1, bias=False),
            nn.BatchNorm2d(dim),
            nn.ReLU(inplace=True),
        )
        self.attention = nn.Sequential(
            nn.Linear(both, max(both // reduction, 8)),
            nn.ReLU(inplace=True),
            nn.Linear(max(both // reduction, 8), both),
            nn.Sigmoid(),
        )
        self.proj = nn.Conv2d(both, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, visual: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """visual [B, C, h, w]; mask: seg logits [B, K, H, W] or class ids [B, H, W] -> [B, C, h, w]."""
        if not self.enabled:
            return visual
        fractions = mask_to_fractions(mask, self.num_classes, visual.shape[-2:])  # [B, K, h, w]
        both = torch.cat([visual, self.embed(fractions.to(visual.dtype))], dim=1)  # [B, C+G, h, w]
        weights = self.attention(both.mean(dim=(2, 3)))  # [B, C+G]
        return visual + self.proj(both * weights[:, :, None, None])  # [B, C, h, w]

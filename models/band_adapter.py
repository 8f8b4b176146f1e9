"""Learned 1x1 band adapter: C input bands (0..1) -> 3 RGB-like bands for an RGB-pretrained encoder."""

from __future__ import annotations

import torch
from torch import nn

from models.config import VLMConfig


def rgb_band_indices(bands: int, rgb_bands: list[int]) -> list[int] | None:
    """Which input band starts as red, green, blue; None means "start from the band mean".

    Args:
        bands: number of input bands C.
        rgb_bands: ``cfg.vision_rgb_bands``; empty picks the first three bands when C >= 3.
    """
    if rgb_bands:
        if len(rgb_bands) != 3 or not all(0 <= int(b) < bands for b in rgb_bands):
            raise ValueError(f"vision_rgb_bands must be 3 indices in [0, {bands}), got {rgb_bands}")
        return [int(b) for b in rgb_bands]
    return [0, 1, 2] if bands >= 3 else None


class BandAdapter(nn.Module):
    """1x1 conv C -> 3 with bias, initialised as a band selection (or the band mean), then learned.

    At init the output equals the chosen input bands exactly, so an RGB-pretrained encoder sees an
    ordinary image; training may then mix in the other bands (NIR, SWIR...).
    """

    def __init__(self, cfg: VLMConfig) -> None:
        super().__init__()
        if cfg.vision_bands < 1:
            raise ValueError(f"vision_bands must be >= 1, got {cfg.vision_bands}")
        self.bands = cfg.vision_bands
        self.proj = nn.Conv2d(self.bands, 3, kernel_size=1, bias=True)
        with torch.no_grad():
            self.proj.weight.zero_()  # [3, C, 1, 1]
            self.proj.bias.zero_()
            picks = rgb_band_indices(self.bands, list(cfg.vision_rgb_bands))
            if picks is None:
                self.proj.weight.fill_(1.0 / self.bands)
            else:
                for out_band, in_band in enumerate(picks):
                    self.proj.weight[out_band, in_band] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, C, H, W] in 0..1 -> [B, 3, H, W] (about 0..1 at init)."""
        return self.proj(x)

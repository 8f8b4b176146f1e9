"""Multispectral refiner: corrects the RGB segmenter's class scores with reflectance bands and spectral indices.

Input per pixel: the RGB segmenter's log-probabilities, six reflectance bands (blue, green, red, NIR, SWIR 1.6,
SWIR 2.2; 0 where absent), a has-NIR and a has-SWIR plane, and four indices computed here (NDVI, NDWI, MNDWI,
NDBI; 0 where a band they need is absent). Two 3x3 convolutions and a 1x1 output add a correction to the
log-probabilities. The output layer starts at zero, so an untrained refiner changes nothing; the RGB segmenter
itself is never changed, and rasters without NIR never reach the refiner.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import nn

REFLECTANCE = 6  # blue, green, red, nir, swir16, swir22
CHANNELS = REFLECTANCE + 2  # + has-NIR, has-SWIR planes (core.raster.read_reflectance)
INDICES = ("ndvi", "ndwi", "mndwi", "ndbi")
LOGP_FLOOR = -12.0
CONFIG = "config.json"
WEIGHTS = "model.safetensors"


@dataclass
class SpectralConfig:
    """The refiner's shape and what it was trained on (written beside the weights)."""

    classes: list[str]
    hidden: int = 32
    trained_on: dict[str, Any] = field(default_factory=dict)  # data, steps, seed, held-out scores

    def validate(self) -> None:
        if not self.classes:
            raise ValueError("a spectral refiner needs its classes")
        if self.hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {self.hidden}")


def spectral_features(logp: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
    """``[B, K + 8 + 4, H, W]``: clamped log-probabilities, the eight band planes and four indices."""
    blue, green, red, nir, s16, s22, has_nir, has_swir = bands.unbind(1)
    del blue, s22

    def nd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b) / (a + b).clamp(min=1e-3)

    indices = torch.stack([nd(nir, red) * has_nir, nd(green, nir) * has_nir, nd(green, s16) * has_swir,
                           nd(s16, nir) * has_swir * has_nir], dim=1).clamp(-1.0, 1.0)
    return torch.cat([logp.clamp(min=LOGP_FLOOR), bands, indices], dim=1)


class SpectralRefiner(nn.Module):
    """``forward(logp [B, K, H, W], bands [B, 8, H, W]) -> refined logits [B, K, H, W]``."""

    def __init__(self, cfg: SpectralConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        k = len(cfg.classes)
        self.net = nn.Sequential(
            nn.Conv2d(k + CHANNELS + len(INDICES), cfg.hidden, 3, padding=1), nn.GELU(),
            nn.Conv2d(cfg.hidden, cfg.hidden, 3, padding=1), nn.GELU(),
            nn.Conv2d(cfg.hidden, k, 1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, logp: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
        return logp + self.net(spectral_features(logp, bands))

    @torch.inference_mode()
    def refine(self, probs: np.ndarray, bands: np.ndarray) -> np.ndarray:
        """Class probabilities ``[B, K, h, w]`` and band planes ``[B, 8, h, w]`` -> refined probabilities."""
        device = next(self.parameters()).device
        logp = torch.from_numpy(np.log(np.clip(probs, 1e-6, 1.0)).astype(np.float32)).to(device)
        logits = self(logp, torch.from_numpy(np.ascontiguousarray(bands, dtype=np.float32)).to(device))
        return torch.softmax(logits, dim=1).cpu().numpy()

    def save_pretrained(self, directory: Union[str, Path]) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory``."""
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG).write_text(json.dumps(asdict(self.cfg), indent=2) + "\n")
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(out / WEIGHTS))
        return out

    @classmethod
    def from_pretrained(cls, directory: Union[str, Path]) -> SpectralRefiner:
        """Load a refiner written by :meth:`save_pretrained` (safetensors only; strict key match)."""
        from safetensors.torch import load_file

        folder = Path(directory)
        cfg = SpectralConfig(**json.loads((folder / CONFIG).read_text()))
        model = cls(cfg)
        model.load_state_dict(load_file(str(folder / WEIGHTS)), strict=True)
        return model.eval()

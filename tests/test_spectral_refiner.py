"""The multispectral refiner (models/spectral.py): starts as the identity, sees indices, round-trips safetensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.spectral import SpectralConfig, SpectralRefiner, spectral_features

CLASSES = ["background", "water", "forest"]


def _planes(nir: float, swir: float, has_swir: bool = True) -> torch.Tensor:
    b = torch.zeros(1, 8, 4, 4)
    b[:, 0], b[:, 1], b[:, 2], b[:, 3] = 0.05, 0.08, 0.06, nir
    if has_swir:
        b[:, 4], b[:, 5], b[:, 7] = swir, swir, 1.0
    b[:, 6] = 1.0
    return b


def test_an_untrained_refiner_changes_nothing() -> None:
    refiner = SpectralRefiner(SpectralConfig(CLASSES))
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=(2, 5, 5)).transpose(0, 3, 1, 2).astype(np.float32)
    planes = np.random.default_rng(1).uniform(0, 0.5, (2, 8, 5, 5)).astype(np.float32)
    assert np.allclose(refiner.refine(probs, planes), probs, atol=1e-5)


def test_indices_follow_the_bands_and_vanish_when_a_band_is_absent() -> None:
    logp = torch.log(torch.full((1, 3, 4, 4), 1 / 3))
    vegetation = spectral_features(logp, _planes(nir=0.4, swir=0.15))
    water = spectral_features(logp, _planes(nir=0.02, swir=0.01))
    ndvi, mndwi = 3 + 8, 3 + 8 + 2
    assert vegetation[0, ndvi].mean() > 0.7 and water[0, ndvi].mean() < 0
    assert water[0, mndwi].mean() > 0.7
    no_swir = spectral_features(logp, _planes(nir=0.02, swir=0.01, has_swir=False))
    assert torch.all(no_swir[0, mndwi] == 0) and torch.all(no_swir[0, mndwi + 1] == 0)


def test_save_and_load_round_trip_exactly(tmp_path: Path) -> None:
    refiner = SpectralRefiner(SpectralConfig(CLASSES, hidden=8, trained_on={"steps": 3}))
    with torch.no_grad():
        for p in refiner.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    refiner.save_pretrained(tmp_path / "spectral")
    assert sorted(p.name for p in (tmp_path / "spectral").iterdir()) == ["config.json", "model.safetensors"]
    again = SpectralRefiner.from_pretrained(tmp_path / "spectral")
    assert again.cfg.trained_on == {"steps": 3} and again.cfg.hidden == 8
    logp, planes = torch.log_softmax(torch.randn(1, 3, 6, 6), 1), _planes(0.3, 0.2).repeat(1, 1, 2, 2)[..., :6, :6]
    assert torch.equal(refiner.eval()(logp, planes), again(logp, planes))


def test_a_config_without_classes_is_refused() -> None:
    with pytest.raises(ValueError, match="classes"):
        SpectralRefiner(SpectralConfig([]))

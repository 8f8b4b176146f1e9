"""Training and scoring the multispectral refiner on tiny synthetic chips (core.train.spectral, core.eval.spectral)."""

from __future__ import annotations

import numpy as np
import pytest

from core.eval.spectral import score, table
from core.train.spectral import Chip, parse_scales, resample, train, withhold

CLASSES = ["background", "water", "forest"]


def _chip(seed: int, size: int = 48) -> Chip:
    """Bands with water (dark NIR) and forest (high NDVI) patches; the RGB scores know nothing (uniform)."""
    rng = np.random.default_rng(seed)
    planes = np.zeros((8, size, size), np.float32)
    planes[:3] = rng.uniform(0.04, 0.12, (3, size, size))
    planes[3] = 0.2
    mask = np.zeros((size, size), np.uint8)
    for cls, nir in ((1, 0.02), (2, 0.45)):
        for _ in range(3):
            r, c = rng.integers(0, size - 12, 2)
            planes[3, r:r + 12, c:c + 12] = nir
            mask[r:r + 12, c:c + 12] = cls
    planes[4:6] = planes[3] * 0.5
    planes[6:8] = 1.0
    mask[:2, :2] = 255  # ignored
    logp = np.log(np.full((3, size, size), 1 / 3, np.float32))
    return Chip(f"c{seed}", [logp], planes, mask)


def test_withholding_bands_zeroes_them_and_their_flags() -> None:
    planes = np.ones((8, 4, 4), np.float32)
    nir_only, rgb = withhold(planes, "nir"), withhold(planes, "rgb")
    assert nir_only[:4].all() and nir_only[6].all() and not nir_only[4:6].any() and not nir_only[7].any()
    assert rgb[:3].all() and not rgb[3:].any()
    assert np.array_equal(withhold(planes, "full"), planes) and planes.all()  # the input is not changed


def test_a_refiner_learns_classes_the_rgb_scores_cannot_tell() -> None:
    chips = [_chip(s) for s in range(6)]
    held_out = [_chip(s) for s in (10, 11)]
    model = train(chips, CLASSES, "all", steps=150, batch=4, crop=32, lr=1e-2, log=lambda m: None)
    import torch

    def refined(mode: str):
        def predict(chip: Chip) -> np.ndarray:
            with torch.no_grad():
                bands = torch.from_numpy(withhold(chip.bands, mode))[None]
                return model(torch.from_numpy(chip.logp[0])[None], bands)[0].argmax(0).numpy()
        return predict

    result = score(held_out, CLASSES, {"rgb": lambda c: c.logp[0].argmax(0), "nir": refined("nir"),
                                       "full": refined("full")})
    assert result["rgb"]["classes"]["water"] == 0.0  # uniform scores: everything is background
    assert result["full"]["classes"]["water"] > 0.8 and result["nir"]["classes"]["forest"] > 0.8
    assert result["full"]["miou"] > result["rgb"]["miou"] + 0.4
    assert "| full |" in table(result) and "labelled share" in table(result)


def test_scores_match_hand_computed_iou() -> None:
    mask = np.array([[0, 0, 1, 1], [0, 0, 1, 255]], np.uint8)
    chip = Chip("h", [np.zeros((3, 2, 4), np.float32)], np.zeros((8, 2, 4), np.float32), mask)
    pred = np.array([[0, 1, 1, 1], [0, 0, 0, 2]])
    result = score([chip], CLASSES, {"p": lambda c: pred})
    # background: TP 3, FP 1 (a water pixel), FN 1 -> 3/5; water: TP 2, FP 1, FN 1 -> 2/4; forest unlabelled
    assert result["p"]["classes"] == {"background": pytest.approx(0.6), "water": pytest.approx(0.5)}
    assert result["p"]["miou"] == pytest.approx(0.55) and result["_pixels"] == {"background": 4, "water": 3}
    assert result["p"]["pixel_acc"] == pytest.approx(5 / 7)


def test_resampling_to_coarser_pixels_averages_values_and_keeps_label_shares() -> None:
    image = np.zeros((2, 8, 8), np.float32)
    image[0, :, :4] = 1.0  # left half bright in band 0
    image[1] = np.arange(64, dtype=np.float32).reshape(8, 8)
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 4:] = 1
    coarse, labels = resample(image, mask, 0.5)
    assert coarse.shape == (2, 4, 4) and labels.shape == (4, 4) and labels.dtype == np.uint8
    assert np.allclose(coarse[0, :, :2], 1.0) and np.allclose(coarse[0, :, 2:], 0.0)
    assert coarse[1].mean() == pytest.approx(image[1].mean())  # area averaging keeps the mean
    assert (labels == 1).mean() == pytest.approx(0.5)
    fine, fine_labels = resample(image, mask, 1.5)
    assert fine.shape == (2, 12, 12) and set(np.unique(fine_labels)) == {0, 1}
    same, same_labels = resample(image, mask, 1.0)
    assert same is image and same_labels is mask


def test_scale_factors_are_parsed_and_bad_ones_refused() -> None:
    assert parse_scales("0.5, 1,1.5") == (0.5, 1.0, 1.5)
    for bad in ("", "0", "-1,1", "x", "5"):
        with pytest.raises(ValueError, match="--scales"):
            parse_scales(bad)

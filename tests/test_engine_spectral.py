"""The multispectral path end to end: a checkpoint with a spectral refiner uses NIR/SWIR when a raster has them,
and only then; ``spectral=False`` (``--rgb-only``) turns it off; a refiner for other classes is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from core.config import EngineConfig
from core.engine import Engine
from core.errors import InputError
from models.config import VLMConfig
from models.spectral import SpectralConfig, SpectralRefiner
from models.vlm import EarthVLM
from tests.rasters import make_raster

MS_DESCRIPTIONS = ["blue", "green", "red", "nir", "swir16", "swir22"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny checkpoint without a refiner, and a copy whose refiner turns every pixel into water."""
    root = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    model = EarthVLM(VLMConfig.tiny()).eval()
    plain = root / "plain"
    model.save_pretrained(plain)
    with_refiner = root / "spectral"
    shutil.copytree(plain, with_refiner)
    refiner = SpectralRefiner(SpectralConfig(list(model.cfg.seg_classes), hidden=4))
    with torch.no_grad():
        refiner.net[-1].bias[model.cfg.seg_classes.index("water")] = 50.0
    refiner.save_pretrained(with_refiner / "spectral")
    return {"plain": plain, "spectral": with_refiner}


def _mask(model: Path, raster: str, out: Path, **config) -> tuple[np.ndarray, object]:
    with Engine(EngineConfig(model=str(model), device="cpu", backend="torch", tile=64, overlap=16, **config)) as eng:
        result = eng.segment(raster, out=str(out))
    with rasterio.open(out) as src:
        return src.read(1), result


def test_a_multispectral_raster_goes_through_the_refiner(checkpoints: dict, tmp_path: Path) -> None:
    raster = make_raster(tmp_path / "ms.tif", width=90, height=70, count=6, dtype="uint16",
                         descriptions=MS_DESCRIPTIONS, seed=4)
    mask, result = _mask(checkpoints["spectral"], raster, tmp_path / "a.tif")
    water = result.classes.index("water")
    assert np.all(mask == water)
    prov = result.provenance
    assert prov.band_profile["spectral"]["bands"] == [1, 2, 3, 4, 5, 6]
    assert any(n.startswith("multispectral: NIR 4, SWIR 5 and 6 (from descriptions)") for n in prov.notes)


def test_rgb_rasters_and_rgb_only_are_exactly_the_plain_model(checkpoints: dict, tmp_path: Path) -> None:
    ms = make_raster(tmp_path / "ms.tif", width=90, height=70, count=6, dtype="uint16",
                     descriptions=MS_DESCRIPTIONS, seed=4)
    rgb = make_raster(tmp_path / "rgb.tif", width=90, height=70, count=3, dtype="uint8", seed=5)
    plain_ms, _ = _mask(checkpoints["plain"], ms, tmp_path / "p1.tif")
    off, result = _mask(checkpoints["spectral"], ms, tmp_path / "p2.tif", spectral=False)
    assert np.array_equal(plain_ms, off) and result.provenance.band_profile["spectral"] is None
    plain_rgb, _ = _mask(checkpoints["plain"], rgb, tmp_path / "p3.tif")
    refined_rgb, result = _mask(checkpoints["spectral"], rgb, tmp_path / "p4.tif")
    assert np.array_equal(plain_rgb, refined_rgb)
    assert not any(n.startswith("multispectral") for n in result.provenance.notes)


def test_a_refiner_for_other_classes_is_one_sentence(checkpoints: dict, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    shutil.copytree(checkpoints["plain"], wrong)
    SpectralRefiner(SpectralConfig(["a", "b"])).save_pretrained(wrong / "spectral")
    raster = make_raster(tmp_path / "ms.tif", width=70, height=60, count=6, dtype="uint16",
                         descriptions=MS_DESCRIPTIONS, seed=6)
    with pytest.raises(InputError, match="spectral refiner .* has classes") as info:
        _mask(wrong, raster, tmp_path / "w.tif")
    assert "\n" not in str(info.value)

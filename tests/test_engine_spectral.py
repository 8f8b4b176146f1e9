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
    config = {"device": "cpu", "backend": "torch", "tile": 64, "overlap": 16, **config}
    with Engine(EngineConfig(model=str(model), **config)) as eng:
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


def _random_refiner_checkpoint(checkpoints: dict, root: Path) -> Path:
    """A copy of the plain checkpoint whose refiner has random weights everywhere (it changes many pixels)."""
    folder = root / "random"
    shutil.copytree(checkpoints["plain"], folder)
    classes = list(VLMConfig.load(folder).seg_classes)
    torch.manual_seed(3)
    refiner = SpectralRefiner(SpectralConfig(classes, hidden=4))
    with torch.no_grad():
        for p in refiner.net[-1].parameters():
            p.normal_(0.0, 2.0)
    refiner.save_pretrained(folder / "spectral")
    return folder


def test_the_onnx_backend_refines_as_torch_does_from_a_cached_export(checkpoints: dict, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EARTHASK_CACHE", str(tmp_path / "cache"))
    model = _random_refiner_checkpoint(checkpoints, tmp_path)
    raster = make_raster(tmp_path / "ms.tif", width=90, height=70, count=6, dtype="uint16",
                         descriptions=MS_DESCRIPTIONS, seed=8)
    by_torch, _ = _mask(model, raster, tmp_path / "t.tif")
    plain, _ = _mask(checkpoints["plain"], raster, tmp_path / "p.tif")
    by_onnx, result = _mask(model, raster, tmp_path / "o.tif", backend="onnx")
    assert result.provenance.backend.startswith("onnx")
    assert (by_torch != plain).mean() > 0.2  # the refiner matters on this raster...
    assert (by_onnx == by_torch).mean() > 0.999  # ...and onnxruntime gives torch's classes
    exports = list((tmp_path / "cache" / "onnx").glob("refiner-*/refiner.onnx"))
    assert len(exports) == 1
    stamp = exports[0].stat().st_mtime_ns
    again, _ = _mask(model, raster, tmp_path / "o2.tif", backend="onnx")
    assert np.array_equal(again, by_onnx) and exports[0].stat().st_mtime_ns == stamp  # found, not made again


def test_a_retrained_refiner_is_exported_afresh(checkpoints: dict, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from core.imagery.refiner import refiner_export

    monkeypatch.setenv("EARTHASK_CACHE", str(tmp_path / "cache"))
    model = _random_refiner_checkpoint(checkpoints, tmp_path)
    classes = list(VLMConfig.load(model).seg_classes)
    first = refiner_export(model / "spectral", classes)
    refiner = SpectralRefiner.from_pretrained(model / "spectral")
    with torch.no_grad():
        refiner.net[0].bias.add_(1.0)
    refiner.save_pretrained(model / "spectral")
    second = refiner_export(model / "spectral", classes)
    assert first != second and first.is_file() and second.is_file()


def test_a_multispectral_segmentation_on_onnx_never_imports_torch_once_exported(checkpoints: dict,
                                                                               tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    raster = make_raster(tmp_path / "ms.tif", width=90, height=70, count=6, dtype="uint16",
                         descriptions=MS_DESCRIPTIONS, seed=9)
    code = ("import json, sys\nfrom core.config import EngineConfig\nfrom core.engine import Engine\n"
            f"cfg = EngineConfig(model={str(checkpoints['spectral'])!r}, device='cpu', backend='onnx', tile=64, "
            "overlap=16)\n"
            f"with Engine(cfg) as eng:\n    r = eng.segment({raster!r}, out=sys.argv[1])\n"
            "print(json.dumps({'torch': 'torch' in sys.modules, 'spectral': r.provenance.band_profile['spectral']}))")
    env = {**os.environ, "EARTHASK_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(root)}
    runs = []
    for name in ("first.tif", "second.tif"):
        proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert runs[0]["torch"] is True  # the first run exports the segmenter and the refiner with torch
    assert runs[1] == {"torch": False, "spectral": runs[0]["spectral"]} and runs[1]["spectral"] is not None
    with rasterio.open(tmp_path / "first.tif") as a, rasterio.open(tmp_path / "second.tif") as b:
        assert np.array_equal(a.read(1), b.read(1))

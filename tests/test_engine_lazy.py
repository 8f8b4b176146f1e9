"""The engine loads only what a task needs: the segmenter for segmentation and measured answers, the language
model only for the model's answers (in the background while segmenting), ONNX exports found without torch."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from core import model_parts
from core.config import EngineConfig
from core.engine import Engine
from core.errors import InputError
from models.config import VLMConfig
from models.vlm import EarthVLM
from tests.rasters import make_raster

MEASURED = "How much of the scene is water?"  # the query layer answers it from the land-cover map
OPEN = "What could this area be used for?"  # nothing to measure: the language model answers


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ckpt")
    model = EarthVLM(VLMConfig.tiny())
    with torch.no_grad():  # "trained": the head differs from a fresh build
        for p in model.segmenter.head.parameters():
            p.add_(0.05)
    model.eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_raster(tmp_path_factory.mktemp("scene") / "s.tif", width=120, height=90, count=3, seed=5)


@pytest.fixture()
def loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Every full-model load, with the name of the thread that made it; caches kept under tmp_path."""
    monkeypatch.setenv("EARTHASK_CACHE", str(tmp_path / "cache"))
    seen: list[str] = []
    real = model_parts.load_model

    def spy(*args: object, **kw: object) -> object:
        seen.append(threading.current_thread().name)
        return real(*args, **kw)

    monkeypatch.setattr(model_parts, "load_model", spy)
    return seen


def _engine(checkpoint: Path, backend: str = "torch") -> Engine:
    return Engine(EngineConfig(model=str(checkpoint), device="cpu", backend=backend, tile=64, overlap=16))


def test_segmentation_and_measured_answers_never_build_the_language_model(checkpoint: Path, scene: str,
                                                                          loads: list[str], tmp_path: Path) -> None:
    with _engine(checkpoint) as engine:
        segmented = engine.segment(scene, out=str(tmp_path / "lc.tif"))
        answer = engine.ask(scene, MEASURED)
        assert answer.source == "measured" and not engine.parts.full_loaded and loads == []
        assert segmented.provenance.model_id == answer.provenance.model_id == checkpoint.name
    with rasterio.open(tmp_path / "lc.tif") as ds:
        mask = ds.read(1)
    with _engine(checkpoint) as engine:  # the full model's segmenter gives the same map
        _ = engine.loaded
        engine.segment(scene, out=str(tmp_path / "full.tif"))
    with rasterio.open(tmp_path / "full.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), mask)


def test_a_model_question_loads_the_model_in_the_background_while_segmenting(checkpoint: Path, scene: str,
                                                                            loads: list[str]) -> None:
    with _engine(checkpoint) as engine:
        answer = engine.ask(scene, OPEN)
        assert answer.source in ("model", "checked") and engine.parts.full_loaded
        assert loads == ["earthask-load-model"]  # once, in the background thread
        engine.ask(scene, OPEN)  # the same engine: loaded once
        assert len(loads) == 1


def test_a_background_load_error_reaches_the_caller(checkpoint: Path, scene: str,
                                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EARTHASK_CACHE", str(tmp_path / "cache"))

    def broken(*args: object, **kw: object) -> object:
        raise InputError("Could not load the model in the test: broken on purpose")

    monkeypatch.setattr(model_parts, "load_model", broken)
    with _engine(checkpoint) as engine:
        with pytest.raises(InputError, match="broken on purpose"):
            engine.ask(scene, OPEN)
        assert engine.ask(scene, MEASURED).source == "measured"  # measured answers still work


def test_a_cached_onnx_export_is_found_without_loading_the_segmenter(checkpoint: Path, scene: str, loads: list[str],
                                                                      tmp_path: Path) -> None:
    with _engine(checkpoint, "onnx") as first:
        first.segment(scene, out=str(tmp_path / "a.tif"))
        assert first.segmenter.segmenter_loaded  # the first time: loaded, hashed and exported
    with _engine(checkpoint, "onnx") as second:
        second.segment(scene, out=str(tmp_path / "b.tif"))
        assert not second.segmenter.segmenter_loaded and second._backend == "onnx"
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
    assert loads == []

"""ONNX export: ORT == torch within tolerance at several batch/tile sizes; metadata; providers; tower."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import InputError
from core.onnx_backend import OnnxSegmenter, choose_providers
from models.config import VLMConfig
from models.onnx_export import ONNX_OPSET, export_image_tower, export_segmenter, read_onnx_metadata
from models.segmenter import Segmenter

ATOL = 1e-4  # max abs difference on logits, ORT vs torch (fp32; seen: about 1e-7 tiny, 2e-6 Lite0)


def _check_equal(seg: Segmenter, runner: OnnxSegmenter, shapes: list[tuple[int, int, int]], bands: int = 3) -> None:
    torch.manual_seed(1)
    for b, h, w in shapes:
        x = torch.rand(b, bands, h, w)
        with torch.no_grad():
            ref = seg(x).numpy()
        out = runner(x.numpy())
        assert out.shape == ref.shape == (b, len(seg.classes), h, w) and out.dtype == np.float32
        assert np.abs(out - ref).max() < ATOL


def test_tiny_segmenter_dynamic_axes(tmp_path: Path) -> None:
    cfg = VLMConfig.tiny(seg_classes=["a", "b", "c"])
    seg = Segmenter(cfg).eval()
    path = export_segmenter(seg, tmp_path / "seg.onnx", tile_size=256, model_id="tiny-test")
    runner = OnnxSegmenter(path, device="cpu")
    assert runner.providers == ["CPUExecutionProvider"]
    _check_equal(seg, runner, [(1, 64, 64), (3, 96, 80), (2, 75, 50)])  # traced at 2 x 64 x 64


def test_lite0_architecture_dynamic_axes(tmp_path: Path) -> None:
    """Lite0's TF SAME pads depend on the input size: they must stay dynamic in the graph."""
    seg = Segmenter(VLMConfig(), pretrained=False).eval()
    runner = OnnxSegmenter(export_segmenter(seg, tmp_path / "lite0.onnx"), device="cpu")
    _check_equal(seg, runner, [(1, 64, 64), (2, 97, 130)])


def test_hf_vit_segmenter_dynamic_axes(tmp_path: Path) -> None:
    import transformers as tf

    vit = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2, patch_size=8)
    tf.CLIPVisionModel(tf.CLIPVisionConfig(image_size=32, **vit)).save_pretrained(tmp_path / "clip")
    seg = Segmenter(VLMConfig.tiny(vision_name=str(tmp_path / "clip"))).eval()
    runner = OnnxSegmenter(export_segmenter(seg, tmp_path / "clip.onnx"), device="cpu")
    _check_equal(seg, runner, [(1, 64, 64), (2, 96, 80), (1, 50, 37)])  # 50 x 37 is resized to 48 x 40


def test_metadata_round_trip(tmp_path: Path) -> None:
    cfg = VLMConfig.tiny(vision_bands=4)
    seg = Segmenter(cfg).eval()
    path = export_segmenter(seg, tmp_path / "seg4.onnx", tile_size=384, model_id="m1")
    meta = read_onnx_metadata(path)
    assert meta["classes"] == cfg.seg_classes and meta["tile_size"] == 384 and meta["bands"] == 4
    assert meta["normalisation"]["mean"] == cfg.vision_mean and meta["normalisation"]["std"] == cfg.vision_std
    assert meta["model_id"] == "m1" and meta["opset"] == ONNX_OPSET and meta["input_range"] == "0..1"
    assert meta["class_names"]["0"] == cfg.seg_classes[0] and meta["model_type"] == "Segmentor"
    import onnx

    assert onnx.load(str(path)).opset_import[0].version == ONNX_OPSET
    runner = OnnxSegmenter(path, device="cpu")
    assert runner.metadata == meta and runner.classes == cfg.seg_classes and runner.tile_size == 384
    _check_equal(seg, runner, [(2, 64, 64)], bands=4)
    with pytest.raises(ValueError):
        runner(np.zeros((1, 3, 64, 64), np.float32))


def test_choose_providers() -> None:
    cuda, cpu = "CUDAExecutionProvider", "CPUExecutionProvider"
    assert choose_providers("auto", [cuda, cpu]) == [cuda, cpu]
    assert choose_providers("auto", [cpu]) == [cpu]
    assert choose_providers("cpu", [cuda, cpu]) == [cpu]
    with pytest.raises(InputError):
        choose_providers("cuda", [cpu])
    with pytest.raises(InputError):
        choose_providers("tpu", [cpu])
    with pytest.raises(InputError):
        OnnxSegmenter("/nonexistent/model.onnx")


class _Tower(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 3, stride=2)

    def embed_image(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.conv(x).mean(dim=(2, 3)), dim=-1)  # [B, 6]


def test_image_tower(tmp_path: Path) -> None:
    import onnxruntime as ort

    tower = _Tower().eval()
    path = export_image_tower(tower, tmp_path / "tower.onnx", image_size=32, model_id="t")
    meta = read_onnx_metadata(path)
    assert meta["tile_size"] == 32 and meta["model_type"] == "ImageEmbedder" and meta["model_id"] == "t"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(5, 3, 32, 32)
    (out,) = session.run(None, {"image": x.numpy()})
    assert np.abs(out - tower.embed_image(x).detach().numpy()).max() < ATOL


def test_core_import_stays_light() -> None:
    code = "import sys, core.onnx_backend; assert not {'torch', 'onnxruntime', 'onnx'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])

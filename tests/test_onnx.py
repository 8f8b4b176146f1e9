"""ONNX export: ORT == torch within tolerance at several batch/tile sizes; probabilities with K static; metadata
as Deepness reads it; fixed-size and old logits exports; providers; tower."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import InputError
from core.onnx_backend import OnnxSegmenter, choose_providers, import_onnxruntime
from models.config import VLMConfig
from models.onnx_export import (
    ONNX_OPSET,
    SEGMENTER_FORMAT,
    _export,
    export_image_tower,
    export_segmenter,
    read_onnx_metadata,
)
from models.segmenter import Segmenter

ATOL = 1e-4  # max abs difference on probabilities, ORT vs torch (fp32; seen: about 1e-7 tiny, 2e-6 Lite0)


def _check_equal(seg: Segmenter, runner: OnnxSegmenter, shapes: list[tuple[int, int, int]], bands: int = 3) -> None:
    """ORT's output is torch's softmax over the classes, for every shape."""
    torch.manual_seed(1)
    for b, h, w in shapes:
        x = torch.rand(b, bands, h, w)
        with torch.no_grad():
            ref = torch.softmax(seg(x), dim=1).numpy()
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


@pytest.mark.parametrize("detail", [False, True])
def test_lite0_architecture_dynamic_axes(tmp_path: Path, detail: bool) -> None:
    """Lite0's TF SAME pads depend on the input size: they must stay dynamic in the graph (with the stride-4
    detail decoder too)."""
    seg = Segmenter(VLMConfig(seg_detail=detail), pretrained=False).eval()
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
    assert meta["format"] == SEGMENTER_FORMAT and meta["output"].startswith("probabilities")
    assert meta["class_names"]["0"] == cfg.seg_classes[0] and meta["model_type"] == "Segmentor"
    import onnx

    assert onnx.load(str(path)).opset_import[0].version == ONNX_OPSET
    runner = OnnxSegmenter(path, device="cpu")
    assert runner.metadata == meta and runner.classes == cfg.seg_classes and runner.tile_size == 384
    _check_equal(seg, runner, [(2, 64, 64)], bands=4)
    with pytest.raises(ValueError):
        runner(np.zeros((1, 3, 64, 64), np.float32))


def test_output_is_probabilities_with_static_classes(tmp_path: Path) -> None:
    import onnx

    ort = import_onnxruntime()

    cfg = VLMConfig.tiny(seg_classes=["a", "b", "c", "d", "e"])
    path = export_segmenter(Segmenter(cfg).eval(), tmp_path / "seg.onnx", tile_size=64)
    (out_info,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_outputs()
    assert out_info.shape[1] == 5 and isinstance(out_info.shape[2], str)  # K static, H and W dynamic
    assert onnx.load(str(path)).graph.output[0].type.tensor_type.shape.dim[1].dim_value == 5
    probs = OnnxSegmenter(path, device="cpu")(np.random.default_rng(0).random((2, 3, 40, 56), np.float32))
    assert not OnnxSegmenter(path, device="cpu").logits
    assert (probs >= 0).all() and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_deepness_reads_the_metadata(tmp_path: Path) -> None:
    """Each key parsed the way Deepness's ModelBase does (json.loads of the raw string); input shape static."""
    ort = import_onnxruntime()

    cfg = VLMConfig.tiny(seg_classes=["water", "forest", "town"], trained_gsd_m=[0.5])
    path = export_segmenter(Segmenter(cfg).eval(), tmp_path / "seg.onnx", tile_size=96, overlap=24, fixed_size=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    raw = session.get_modelmeta().custom_metadata_map
    assert str(json.loads(raw["model_type"])).capitalize() == "Segmentor"
    names = json.loads(raw["class_names"])
    assert [names[k] for k in sorted(names, key=int)] == ["water", "forest", "town"]
    assert int(json.loads(raw["tile_size"])) == 96 and int(json.loads(raw["tiles_overlap"])) == 25
    assert float(json.loads(raw["resolution"])) == 50.0  # cm/px, one training GSD
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert inp.shape[1:] == [3, 96, 96] and out.shape[1:] == [3, 96, 96]  # Deepness checks H == W in the shape
    mixed = export_segmenter(Segmenter(VLMConfig.tiny(trained_gsd_m=[0.3, 10.0])).eval(), tmp_path / "m.onnx")
    assert "resolution" not in read_onnx_metadata(mixed)  # Deepness would resample to it: none for mixed GSDs


def test_fixed_size_export_pads_smaller_tiles(tmp_path: Path) -> None:
    seg = Segmenter(VLMConfig.tiny(seg_classes=["a", "b", "c"])).eval()
    runner = OnnxSegmenter(export_segmenter(seg, tmp_path / "f.onnx", tile_size=64, fixed_size=True), device="cpu")
    assert runner.fixed_size == 64 and runner.metadata["format"] == SEGMENTER_FORMAT
    _check_equal(seg, runner, [(2, 64, 64)])
    x = np.random.default_rng(1).random((1, 3, 40, 64), np.float32)
    padded = np.zeros((1, 3, 64, 64), np.float32)
    padded[:, :, :40] = x
    np.testing.assert_allclose(runner(x), runner(padded)[:, :, :40], atol=1e-6)
    with pytest.raises(ValueError, match="at most 64"):
        runner(np.zeros((1, 3, 65, 64), np.float32))


def test_old_logits_export_still_reads_as_probabilities(tmp_path: Path) -> None:
    """A format-1 export (logits out, metadata says so) gets its softmax in the reader."""
    seg = Segmenter(VLMConfig.tiny(seg_classes=["a", "b", "c"])).eval()
    meta = {"classes": json.dumps(seg.classes), "bands": "3", "output": "logits [B, K, H, W]"}
    path = _export(seg, tmp_path / "old.onnx", 3, 64, "logits", meta, dynamic_hw=True)
    runner = OnnxSegmenter(path, device="cpu")
    assert runner.logits
    _check_equal(seg, runner, [(2, 64, 64), (1, 48, 80)])


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
    ort = import_onnxruntime()

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


def test_a_session_leaves_nothing_in_tmpdir(tmp_path: Path) -> None:
    """onnxruntime's telemetry client writes ``$TMPDIR/.ses`` on import unless turned off (import_onnxruntime)."""
    path = export_segmenter(Segmenter(VLMConfig.tiny()).eval(), tmp_path / "seg.onnx", tile_size=32)
    scratch, home = tmp_path / "tmp", tmp_path / "home"
    scratch.mkdir()
    home.mkdir()
    code = ("import numpy as np; from core.onnx_backend import OnnxSegmenter; "
            f"OnnxSegmenter({str(path)!r}, device='cpu')(np.zeros((1, 3, 32, 32), np.float32))")
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(TMPDIR=str(scratch), HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path)
    assert sorted(p.name for p in scratch.iterdir()) == []
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []

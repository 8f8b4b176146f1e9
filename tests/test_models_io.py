"""Loading models for the engine: checkpoint folders refused in one sentence, ONNX exports keyed by weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import InputError
from core.models_io import check_checkpoint, load_model, onnx_segmenter


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({}, "no config.json"),
        ({"config.json": "{not json"}, "not valid JSON"),
        ({"config.json": "[1, 2]"}, "JSON object"),
        ({"config.json": "{}"}, "no model.safetensors"),
        ({"config.json": "{}", "pytorch_model.bin": "pickle bytes"}, "pickle file, which EarthAsk never loads"),
    ],
)
def test_a_folder_that_is_not_a_checkpoint_is_one_sentence(tmp_path: Path, files: dict, words: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(InputError, match=words) as info:
        check_checkpoint(tmp_path)
    assert "\n" not in str(info.value)


def test_a_checkpoint_that_does_not_load_is_one_sentence_naming_it(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"vision_name": "tiny", "no_such_key": 1}))
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match=f"Could not load the model in {tmp_path}.*no_such_key") as info:
        load_model(str(tmp_path), "cpu")
    assert "\n" not in str(info.value)


def test_onnx_exports_are_kept_by_the_weights_not_the_folder_name(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from models.onnx_export import export_segmenter, read_onnx_metadata

    monkeypatch.setenv("EARTHASK_CACHE", str(tmp_path / "cache"))
    import torch

    first, other = load_model("tiny", "cpu"), load_model("tiny", "cpu")
    with torch.no_grad():  # "retrained": the same name, other weights
        next(other.model.segmenter.parameters()).add_(0.5)
    path, note = onnx_segmenter(first, tile=64)
    stamp = path.stat().st_mtime_ns
    again, _ = onnx_segmenter(load_model("tiny", "cpu"), tile=64)
    other_path, _ = onnx_segmenter(other, tile=64)
    assert note == "" and again == path and path.stat().st_mtime_ns == stamp  # same weights: one export
    assert other_path != path and other.model_id == first.model_id  # same name, other weights: its own export
    assert read_onnx_metadata(path)["weights_sha256"] != read_onnx_metadata(other_path)["weights_sha256"]
    assert [p.name for p in path.parent.iterdir()] == ["segmenter.onnx"]  # no partial file left

    # a stale export beside a checkpoint (made from other weights) is passed over, and the user is told
    stale = tmp_path / "instruct" / "onnx"
    stale.mkdir(parents=True)
    export_segmenter(other.model.segmenter, stale / "segmenter.onnx", tile_size=64)
    first.directory = tmp_path / "instruct"
    chosen, note = onnx_segmenter(first, tile=64)
    assert chosen == path and "not exported from these weights" in note
    other.directory = tmp_path / "instruct"
    assert onnx_segmenter(other, tile=64) == (stale / "segmenter.onnx", "")  # the matching one is used


def test_onnx_cache_is_keyed_by_format_and_fixed_size_exports_fit_their_tile(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An export of an older format (logits out) is never reused from the cache; a Deepness-style fixed-size
    export beside the checkpoint serves only its own tile size."""
    from models.onnx_export import SEGMENTER_FORMAT, export_segmenter, read_onnx_metadata

    monkeypatch.setenv("EARTHASK_CACHE", str(tmp_path / "cache"))
    loaded = load_model("tiny", "cpu")
    path, _ = onnx_segmenter(loaded, tile=64)
    assert path.parent.name.endswith(f"-v{SEGMENTER_FORMAT}") and read_onnx_metadata(path)["format"] == SEGMENTER_FORMAT
    beside = tmp_path / "ckpt" / "onnx" / "segmenter.onnx"
    export_segmenter(loaded.model.segmenter, beside, tile_size=64, fixed_size=True)
    loaded.directory = tmp_path / "ckpt"
    assert onnx_segmenter(loaded, tile=64) == (beside, "")
    assert onnx_segmenter(loaded, tile=128) == (path, "")  # another tile size: the dynamic export


def test_the_refiner_runs_tile_by_tile_with_the_batched_result(tmp_path: Path) -> None:
    import numpy as np
    import torch

    from core.imagery.refiner import check_refiner, spectral_predictor
    from models.spectral import SpectralConfig, SpectralRefiner

    classes = ["water", "forest", "town"]
    torch.manual_seed(0)
    refiner = SpectralRefiner(SpectralConfig(classes, hidden=4)).eval()
    with torch.no_grad():
        for p in refiner.net[-1].parameters():
            p.normal_(0.0, 1.0)  # a refiner that changes the probabilities
    rng = np.random.default_rng(0)
    probs = rng.random((3, 3, 24, 20), dtype=np.float32)
    probs /= probs.sum(axis=1, keepdims=True)
    batch = np.concatenate([rng.random((3, 3, 24, 20), dtype=np.float32),
                            rng.random((3, 8, 24, 20), dtype=np.float32)], axis=1)  # [B, 3 + 8, h, w]
    run = spectral_predictor(lambda x: probs.copy(), lambda: refiner)
    expected = refiner.refine(probs, batch[:, 3:])
    assert not np.allclose(expected, probs, atol=1e-3)
    np.testing.assert_allclose(run(batch), expected, rtol=0, atol=1e-6)
    assert np.array_equal(run(batch[:, :3]), probs)  # RGB only: no refiner
    refiner.save_pretrained(tmp_path / "spectral")
    check_refiner(tmp_path / "spectral", classes)
    with pytest.raises(InputError, match="has classes"):
        check_refiner(tmp_path / "spectral", ["water", "forest"])

"""Loading only the segmenter of a checkpoint (models.segmenter.load_segmenter): the full model's weights, no LLM."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.checkpoint import FORMAT, CheckpointError
from models.config import VLMConfig
from models.digest import module_sha256
from models.segmenter import load_segmenter
from models.vlm import EarthVLM


def test_the_segmenter_alone_equals_the_full_models(tmp_path: Path) -> None:
    model = EarthVLM(VLMConfig.tiny())
    with torch.no_grad():  # "trained": the head differs from a fresh build
        for p in model.segmenter.head.parameters():
            p.add_(0.01)
    model.eval().save_pretrained(tmp_path)
    seg = load_segmenter(tmp_path)
    full = EarthVLM.from_pretrained(tmp_path)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(seg(x), full.segment(x))
    assert module_sha256(seg) == module_sha256(full.segmenter)
    assert not any(n.startswith("llm") for n, _ in seg.named_parameters())


def test_a_checkpoint_missing_its_head_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    EarthVLM(VLMConfig.tiny()).save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    tensors = {k: v for k, v in load_file(str(path)).items() if not k.startswith("segmenter.head.classifier")}
    save_file(tensors, str(path), metadata={"format": FORMAT})
    with pytest.raises(CheckpointError, match="missing 2: segmenter.head.classifier"):
        load_segmenter(tmp_path)

"""FPN segmentation head and Segmenter: output shapes, K from the config, one encoder pass."""

from __future__ import annotations

import pytest
import torch

from models.config import VLMConfig
from models.seg_head import SegHead
from models.segmenter import Segmenter


def test_head_shapes_and_classes() -> None:
    cfg = VLMConfig.tiny(seg_classes=["a", "b", "c", "d", "e"], seg_dim=16)
    head = SegHead(cfg, [8, 16, 32])
    levels = [torch.rand(2, 8, 12, 10), torch.rand(2, 16, 6, 5), torch.rand(2, 32, 3, 3)]  # odd: 5 -> 3
    assert tuple(head(levels, out_size=(96, 80)).shape) == (2, 5, 96, 80)
    assert tuple(head(levels).shape) == (2, 5, 12, 10)  # finest level when no out_size
    same_res = [torch.rand(1, 32, 4, 4) for _ in range(3)]  # ViT: all levels at the patch stride
    assert tuple(SegHead(cfg, [32, 32, 32])(same_res, (64, 64)).shape) == (1, 5, 64, 64)
    with pytest.raises(ValueError):
        SegHead(VLMConfig.tiny(seg_classes=[]), [8])


@pytest.mark.parametrize("bands,size", [(3, (64, 64)), (3, (70, 45)), (4, (64, 96))])
def test_segmenter_forward_and_features(bands: int, size: tuple[int, int]) -> None:
    cfg = VLMConfig.tiny(vision_bands=bands)
    seg = Segmenter(cfg).eval()
    x = torch.rand(2, bands, *size)
    with torch.no_grad():
        logits = seg(x)
        levels, logits2 = seg.features(x)
    assert tuple(logits.shape) == (2, len(cfg.seg_classes), *size)
    assert torch.equal(logits, logits2)
    assert [f.shape[1] for f in levels] == seg.encoder.level_channels


def test_segmenter_trains() -> None:
    seg = Segmenter(VLMConfig.tiny())
    x, target = torch.rand(2, 3, 64, 64), torch.randint(0, 8, (2, 64, 64))
    loss = torch.nn.functional.cross_entropy(seg(x), target)
    loss.backward()
    assert all(p.grad is not None for p in seg.parameters())


def test_shared_encoder() -> None:
    cfg = VLMConfig.tiny()
    first = Segmenter(cfg)
    second = Segmenter(cfg, encoder=first.encoder)
    assert second.encoder is first.encoder

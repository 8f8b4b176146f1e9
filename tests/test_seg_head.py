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


def test_detail_decoder_gives_logits_at_the_finer_map_and_reads_it() -> None:
    cfg = VLMConfig.tiny(seg_classes=["a", "b", "c"], seg_dim=16, seg_detail=True)
    head = SegHead(cfg, [8, 16, 32], detail_channels=4).eval()
    levels = [torch.rand(1, 8, 8, 8), torch.rand(1, 16, 4, 4), torch.rand(1, 32, 2, 2)]
    fine = torch.rand(1, 4, 16, 16)
    with torch.no_grad():
        logits = head(levels, detail=fine)
        assert tuple(logits.shape) == (1, 3, 16, 16)  # the finer map's size, not the finest level's
        changed = fine.clone()
        changed[..., :4, :4] += 5.0
        other = head(levels, detail=changed)
    diff = (other - logits).abs().sum(dim=1)[0]
    assert diff[:4, :4].max() > 0 and diff[12:, 12:].max() == 0  # local: only cells near the change move
    with pytest.raises(ValueError, match="finer map"):
        head(levels)
    with pytest.raises(ValueError, match="seg_detail needs"):
        SegHead(cfg, [8, 16, 32], detail_channels=0)


def test_segmenter_with_detail_encodes_once_and_matches_features() -> None:
    plain = Segmenter(VLMConfig.tiny())
    assert plain.encode(torch.rand(1, 3, 64, 64))[1] is None and plain.head.detail is None
    seg = Segmenter(VLMConfig.tiny(seg_detail=True)).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        levels, detail = seg.encode(x)
        assert tuple(detail.shape[-2:]) == (16, 16)  # the tiny stem: stride 4; levels start at 8
        assert [f.shape[-1] for f in levels] == [8, 4, 2]
        assert torch.equal(seg(x), seg.features(x)[1])
    assert tuple(seg(x).shape) == (2, len(seg.classes), 64, 64)

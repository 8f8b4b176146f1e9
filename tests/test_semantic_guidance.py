"""EarthVL semantic guidance: keeps shapes, identity when off (and at init), depends on the mask."""

from __future__ import annotations

import pytest
import torch

from models.config import VLMConfig
from models.semantic_guidance import SemanticGuidance, mask_to_fractions


def _perturbed(guide: SemanticGuidance) -> SemanticGuidance:
    torch.manual_seed(0)
    torch.nn.init.normal_(guide.proj.weight, std=0.1)  # leave the identity start
    return guide.eval()


def test_shapes_with_logits_and_ids() -> None:
    cfg = VLMConfig.tiny()
    guide = _perturbed(SemanticGuidance(cfg, channels=32))
    visual = torch.rand(2, 32, 8, 6)
    logits = torch.randn(2, len(cfg.seg_classes), 64, 48)
    ids = torch.randint(0, len(cfg.seg_classes), (2, 30, 20))  # a different size from the visual map
    assert guide(visual, logits).shape == visual.shape
    assert guide(visual, ids).shape == visual.shape
    assert torch.equal(guide(visual, logits), guide(visual, logits.argmax(1)))


def test_identity_when_disabled_and_at_init() -> None:
    visual = torch.rand(2, 16, 4, 4)
    logits = torch.randn(2, 8, 32, 32)
    off = SemanticGuidance(VLMConfig.tiny(guide_enabled=False), channels=16)
    assert off(visual, logits) is visual and not list(off.parameters())
    fresh = SemanticGuidance(VLMConfig.tiny(), channels=16).eval()
    assert torch.equal(fresh(visual, logits), visual)


def test_output_depends_on_mask() -> None:
    guide = _perturbed(SemanticGuidance(VLMConfig.tiny(), channels=16))
    visual = torch.rand(1, 16, 4, 4)
    water, forest = torch.full((1, 32, 32), 3), torch.full((1, 32, 32), 5)
    assert (guide(visual, water) - guide(visual, forest)).abs().max() > 1e-4


def test_mask_fractions() -> None:
    ids = torch.randint(0, 8, (2, 32, 32))
    frac = mask_to_fractions(ids, 8, (4, 4))
    assert frac.shape == (2, 8, 4, 4) and torch.allclose(frac.sum(1), torch.ones(2, 4, 4))
    ids[:, :16] = 255  # ignored pixels count for no class
    assert torch.allclose(mask_to_fractions(ids, 8, (2, 1)).sum(1)[:, 0], torch.zeros(2, 1))
    with pytest.raises(ValueError):
        mask_to_fractions(torch.randn(1, 5, 8, 8), 8, (2, 2))


def test_gradients_reach_the_embedding() -> None:
    guide = SemanticGuidance(VLMConfig.tiny(), channels=16)
    visual = torch.rand(2, 16, 4, 4, requires_grad=True)
    for _ in range(2):  # the zero projection learns first, then the rest gets gradients
        guide.zero_grad()
        guide(visual, torch.randint(0, 8, (2, 16, 16))).pow(2).sum().backward()
        with torch.no_grad():
            guide.proj.weight -= 0.1 * guide.proj.weight.grad
    assert guide.embed[0].weight.grad.abs().sum() > 0

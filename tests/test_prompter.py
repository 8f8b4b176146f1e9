"""Multi-level visual prompter: output shape, empty retrieval, padding invariance, every part trains."""

import pytest
import torch

from models.config import VLMConfig
from models.prompter import MultiLevelPrompter, sincos_2d

CHANNELS = [8, 16, 32]
LLM_DIM = 24


@pytest.fixture(scope="module")
def prompter() -> MultiLevelPrompter:
    torch.manual_seed(0)
    return MultiLevelPrompter(VLMConfig.tiny(), CHANNELS, LLM_DIM).eval()


def inputs(b: int = 2, q: int = 5, s: int = 7):
    levels = [torch.randn(b, c, 16 // 2**i, 16 // 2**i) for i, c in enumerate(CHANNELS)]
    return levels, torch.randn(b, q, LLM_DIM), torch.randn(b, s, LLM_DIM)


def test_output_is_levels_times_tokens(prompter):
    levels, query, semantic = inputs()
    out = prompter(levels, query, semantic)
    cfg = VLMConfig.tiny()
    assert out.shape == (2, len(CHANNELS) * cfg.prompter_tokens, LLM_DIM)
    assert torch.isfinite(out).all()


def test_empty_retrieval_equals_fully_padded_retrieval(prompter):
    levels, query, semantic = inputs()
    empty = prompter(levels, query, semantic[:, :0])
    padded = prompter(levels, query, semantic, semantic_valid=torch.zeros(2, 7, dtype=torch.bool))
    torch.testing.assert_close(empty, padded)
    assert not torch.allclose(empty, prompter(levels, query, semantic))  # real semantics do matter


def test_padding_does_not_change_the_output(prompter):
    levels, query, semantic = inputs(b=1)
    ref = prompter(levels, query, semantic)
    q_pad = torch.cat([query, torch.randn(1, 3, LLM_DIM)], 1)
    q_valid = torch.tensor([[True] * 5 + [False] * 3])
    s_pad = torch.cat([semantic, torch.randn(1, 4, LLM_DIM)], 1)
    s_valid = torch.tensor([[True] * 7 + [False] * 4])
    torch.testing.assert_close(prompter(levels, q_pad, s_pad, q_valid, s_valid), ref)
    assert prompter(levels, query[:, :0], semantic).shape == ref.shape  # empty query (captioning)


def test_each_level_block_reads_its_own_level(prompter):
    levels, query, semantic = inputs(b=1)
    ref = prompter(levels, query, semantic)
    n = VLMConfig.tiny().prompter_tokens
    changed = prompter([levels[0], torch.randn_like(levels[1]), levels[2]], query, semantic)
    torch.testing.assert_close(changed[:, :n], ref[:, :n])
    torch.testing.assert_close(changed[:, 2 * n:], ref[:, 2 * n:])
    assert not torch.allclose(changed[:, n:2 * n], ref[:, n:2 * n])


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    prompter = MultiLevelPrompter(VLMConfig.tiny(), CHANNELS, LLM_DIM)
    prompter(*inputs()).square().mean().backward()
    assert [n for n, p in prompter.named_parameters() if p.grad is None or not p.grad.any()] == []


def test_position_code_needs_width_divisible_by_four():
    assert sincos_2d(3, 5, 8, torch.device("cpu"), torch.float32).shape == (15, 8)
    with pytest.raises(ValueError, match="multiple of 4"):
        sincos_2d(3, 5, 6, torch.device("cpu"), torch.float32)

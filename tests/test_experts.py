"""Semantic experts: each expert sees only its level, gates sum to one, zero init keeps the base LLM."""

import pytest
import torch

from models.config import VLMConfig
from models.experts import (
    ROLE_TEXT,
    ExpertRouter,
    SemanticExperts,
    attach_experts,
    expert_parameter_count,
    moe_ffn_parameter_count,
)
from models.llm import load_llm

ROLES = torch.tensor([[-1, -1, 0, 0, 1, 1, 2, 2, -1], [2, -1, 1, -1, 0, 0, -1, 2, 1]])  # [B=2, T=9]


def trained_experts(levels: int = 3, hidden: int = 16, rank: int = 4) -> SemanticExperts:
    torch.manual_seed(0)
    experts = SemanticExperts(hidden, rank, levels)
    torch.nn.init.normal_(experts.up, std=0.5)  # as if trained: zero init would hide everything
    return experts


def test_expert_k_ignores_other_levels_and_reads_its_own():
    experts = trained_experts()
    x = torch.randn(2, 9, 16)
    before = experts.expert_outputs(x, ROLES)  # [B,T,K,d]
    for k in range(3):
        others = ((ROLES >= 0) & (ROLES != k))[..., None]
        changed = experts.expert_outputs(torch.where(others, torch.randn_like(x), x), ROLES)
        assert torch.equal(changed[:, :, k], before[:, :, k])
        own = (ROLES == k)[..., None]
        changed = experts.expert_outputs(torch.where(own, torch.randn_like(x), x), ROLES)
        assert not torch.allclose(changed[:, :, k], before[:, :, k])


def test_gates_sum_to_one_and_level_tokens_take_their_expert():
    experts = trained_experts()
    x = torch.randn(2, 9, 16)
    coef = experts.coefficients(x, ROLES)  # [B,T,K]
    torch.testing.assert_close(coef.sum(-1), torch.ones(2, 9))
    level = ROLES >= 0
    assert torch.equal(coef[level], torch.nn.functional.one_hot(ROLES[level], 3).float())
    assert (coef[~level] > 0).all()  # softmax gates on image/query/text tokens
    merged = (coef[..., None] * experts.expert_outputs(x, ROLES)).sum(2)
    torch.testing.assert_close(experts(x, ROLES), merged)


def test_zero_up_projection_leaves_llm_unchanged():
    cfg = VLMConfig.tiny(lora_enabled=False)
    llm, _ = load_llm(cfg)
    embeds = torch.randn(2, 9, llm.config.hidden_size)
    with torch.no_grad():
        before = llm(inputs_embeds=embeds).logits
        router = attach_experts(llm, cfg)
        with router.route(ROLES):
            after = llm(inputs_embeds=embeds).logits
    assert len(router.experts) == llm.config.num_hidden_layers  # tiny: experts_every=1
    assert torch.equal(before, after)


def test_experts_every_nth_layer():
    llm, _ = load_llm(VLMConfig.tiny(lora_enabled=False))
    router = attach_experts(llm, VLMConfig.tiny(experts_every=2))
    assert router.layer_ids == [1]  # the 2nd layer of 2


def test_router_needs_roles_of_the_right_shape():
    experts = trained_experts()
    router = ExpertRouter(levels=3)
    x = torch.randn(2, 9, 16)
    with pytest.raises(RuntimeError, match="without token roles"):
        router.roles_for(x)
    with router.route(ROLES[:, :4]), pytest.raises(ValueError, match="do not match"):
        router.roles_for(x)
    with pytest.raises(ValueError, match="-1..2"), router.route(torch.full((2, 9), 3)):
        pass
    with router.route(None):  # cached decoding: new tokens are text
        roles = router.roles_for(x)
    assert (roles == ROLE_TEXT).all()
    torch.testing.assert_close(experts(x, roles), experts(x, torch.full((2, 9), ROLE_TEXT)))


def test_parameter_counts_match_the_modules():
    experts = SemanticExperts(hidden=64, rank=8, levels=3)
    assert sum(p.numel() for p in experts.parameters()) == expert_parameter_count(64, 8, 3)
    # one low-rank expert vs one standard MoE FFN expert, Qwen2.5-7B sizes
    assert expert_parameter_count(3584, 16, 1) < moe_ffn_parameter_count(3584, 18944, 1) / 1000

"""Semantic-aware experts (paper III-B): low-rank experts per visual level beside the FFN, routed by role.

Every token carries a role: ``ROLE_TEXT`` (-1) for image patch tokens, the user query and any other text, or
``k`` (0..K-1) for the semantic-augmented tokens of visual level ``k``. Expert ``k`` sees the role -1 tokens
and the level-``k`` tokens; the router masks the other levels' tokens out of its input. Role -1 tokens merge
the K expert outputs with softmax gates (gating projection d -> K); a level-``k`` token takes expert ``k``
with coefficient 1 and the others with 0. The merged output is added to the FFN output.

Roles reach the wrapped FFNs through :class:`ExpertRouter`, a context object shared by the FFN wrappers of
one LLM: ``with router.route(roles): llm(...)``. Outside ``route`` the wrappers raise, so nothing runs with
stale roles. Tokens appended during cached generation are text: ``route(None)``. A training forward uses
``route(roles, keep=True)``: activation checkpointing recomputes layers during backward, after the block.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from models.config import VLMConfig

ROLE_TEXT = -1  # image patch tokens, user query and other text: merged by the gates


class SemanticExperts(nn.Module):
    """K low-rank experts (d -> r -> d, SiLU between) and the gating projection of one decoder layer."""

    def __init__(self, hidden: int, rank: int, levels: int):
        super().__init__()
        self.levels = levels
        self.gate = nn.Linear(hidden, levels)  # W_g: d -> K
        self.down = nn.Parameter(torch.empty(levels, hidden, rank))  # rank reduction per expert
        self.up = nn.Parameter(torch.zeros(levels, rank, hidden))  # rank expansion, zero: output = base LLM
        for k in range(levels):  # as nn.Linear(d, r) would: fan_in = d
            nn.init.kaiming_uniform_(self.down.data[k].T, a=math.sqrt(5))

    def coefficients(self, x: torch.Tensor, roles: torch.Tensor) -> torch.Tensor:
        """Merge weights [B,T,K]: softmax gates on role -1 tokens, one-hot on level tokens."""
        gates = self.gate(x.to(self.gate.weight.dtype)).softmax(-1)  # [B,T,K]
        level = F.one_hot(roles.clamp(min=0), self.levels).to(gates.dtype)  # [B,T,K]
        return torch.where((roles == ROLE_TEXT)[..., None], gates, level)

    def expert_inputs(self, x: torch.Tensor, roles: torch.Tensor) -> torch.Tensor:
        """The router's masked inputs [B,T,K,d]: expert k keeps role -1 and level-k tokens, zeros the rest."""
        k = torch.arange(self.levels, device=roles.device)
        keep = (roles[..., None] == ROLE_TEXT) | (roles[..., None] == k)  # [B,T,K]
        return x[:, :, None, :] * keep[..., None].to(x.dtype)

    def expert_outputs(self, x: torch.Tensor, roles: torch.Tensor) -> torch.Tensor:
        """Each expert's output on its masked input, [B,T,K,d] (before the merge)."""
        xk = self.expert_inputs(x.to(self.down.dtype), roles)  # [B,T,K,d]
        h = F.silu(torch.einsum("btkd,kdr->btkr", xk, self.down))  # [B,T,K,r]
        return torch.einsum("btkr,krd->btkd", h, self.up)

    def forward(self, x: torch.Tensor, roles: torch.Tensor) -> torch.Tensor:
        """x [B,T,d] (FFN input), roles [B,T] -> merged expert output [B,T,d] to add to the FFN output."""
        coef = self.coefficients(x, roles)  # [B,T,K]
        # a token's coefficient is 0 for every expert that does not see it, so the masked input never matters
        # here: h_k = silu(x W_down^k), out = sum_k coef_k h_k W_up^k
        h = F.silu(torch.einsum("btd,kdr->btkr", x.to(self.down.dtype), self.down))  # [B,T,K,r]
        out = torch.einsum("btkr,krd->btd", h * coef[..., None], self.up)  # [B,T,d]
        return out.to(x.dtype)


class ExpertRouter:
    """Token roles for one LLM's expert-wrapped FFNs, set for the duration of a forward call."""

    def __init__(self, levels: int):
        self.levels = levels
        self.experts: list[SemanticExperts] = []  # in layer order (also reachable inside the LLM)
        self.layer_ids: list[int] = []
        self._roles: torch.Tensor | None = None
        self._active = False
        self._kept = False

    @contextmanager
    def route(self, roles: torch.Tensor | None, keep: bool = False) -> Iterator[None]:
        """Run LLM calls with ``roles`` [B,T] (long, -1 or 0..K-1); ``None`` means every token is text.

        ``keep=True`` leaves the roles readable after the block, until the next ``route`` or ``release``,
        so that activation checkpointing can recompute the layers during backward.
        """
        if self._active:
            raise RuntimeError("ExpertRouter.route is not re-entrant")
        if roles is not None and roles.numel() and (roles.min() < ROLE_TEXT or roles.max() >= self.levels):
            raise ValueError(f"token roles must lie in -1..{self.levels - 1}")
        self._roles, self._active, self._kept = roles, True, False
        try:
            yield
        finally:
            self._active, self._kept = False, keep
            if not keep:
                self._roles = None

    def release(self) -> None:
        """Forget roles kept by ``route(..., keep=True)``."""
        self._roles, self._kept = None, False

    def roles_for(self, x: torch.Tensor) -> torch.Tensor:
        """The roles [B,T] for the FFN input x [B,T,d]."""
        if not (self._active or self._kept):
            raise RuntimeError(
                "semantic experts called without token roles: call the LLM inside router.route(roles)")
        if self._roles is None:
            return torch.full(x.shape[:2], ROLE_TEXT, dtype=torch.long, device=x.device)
        if self._roles.shape != x.shape[:2]:
            shape = tuple(self._roles.shape)
            raise ValueError(f"token roles {shape} do not match the tokens {tuple(x.shape[:2])}")
        return self._roles.to(x.device)


class ExpertFFN(nn.Module):
    """A decoder layer's FFN with the semantic experts beside it: ``mlp(x) + experts(x, roles)``."""

    def __init__(self, base: nn.Module, experts: SemanticExperts, router: ExpertRouter):
        super().__init__()
        self.base = base
        self.experts = experts
        self._router = router  # plain attribute: not a submodule, holds no tensors between calls

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.experts(x, self._router.roles_for(x))  # [B,T,d]


def decoder_layers(llm: nn.Module) -> nn.ModuleList:
    """The decoder layers of a HF causal LM (Llama/Qwen2 layout: ``llm.model.layers``)."""
    base = llm.get_decoder() if hasattr(llm, "get_decoder") else getattr(llm, "model", llm)
    if not hasattr(base, "layers"):
        raise ValueError(f"cannot find decoder layers in {type(llm).__name__}")
    return base.layers


def attach_experts(llm: nn.Module, cfg: VLMConfig) -> ExpertRouter:
    """Wrap the ``.mlp`` of every ``cfg.experts_every``-th decoder layer (4th, 8th, ...) with K = levels
    experts of rank ``cfg.experts_rank``, in place; return the router that feeds them token roles."""
    router = ExpertRouter(cfg.vision_levels)
    hidden = llm.config.hidden_size
    for i, layer in enumerate(decoder_layers(llm)):
        if (i + 1) % cfg.experts_every:
            continue
        device = next(layer.mlp.parameters()).device
        experts = SemanticExperts(hidden, cfg.experts_rank, cfg.vision_levels).to(device)
        layer.mlp = ExpertFFN(layer.mlp, experts, router)
        router.experts.append(experts)
        router.layer_ids.append(i)
    return router


def expert_parameter_count(hidden: int, rank: int, levels: int) -> int:
    """Parameters of one layer's experts: K * (d*r + r*d) plus the gating projection d*K + K."""
    return levels * 2 * hidden * rank + hidden * levels + levels


def moe_ffn_parameter_count(hidden: int, ffn: int, experts: int) -> int:
    """Parameters of ``experts`` standard MoE FFN experts (gate, up, down: d x d_ff each), one layer."""
    return experts * 3 * hidden * ffn

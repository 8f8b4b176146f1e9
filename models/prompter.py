"""Multi-level visual prompter (paper III-A2): aggregation tokens read the query, the retrieved semantics, then
each visual level, giving L*N semantic-augmented tokens for the LLM."""

from __future__ import annotations

import math

import torch
from torch import nn

from models.config import VLMConfig


def sincos_2d(h: int, w: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Fixed 2-D sine-cosine position code [h*w, dim] (row-major): dim/2 channels for y, dim/2 for x."""
    if dim % 4:
        raise ValueError(f"prompter_dim must be a multiple of 4, got {dim}")
    freq = 1.0 / 10000 ** (torch.arange(dim // 4, device=device, dtype=torch.float32) / (dim // 4))  # [D/4]
    y, x = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                          torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    ang_y, ang_x = y.reshape(-1, 1) * freq, x.reshape(-1, 1) * freq  # [h*w, D/4]
    return torch.cat([ang_y.sin(), ang_y.cos(), ang_x.sin(), ang_x.cos()], dim=1).to(dtype)  # [h*w, D]


class AttentionBlock(nn.Module):
    """Pre-norm residual block: ``x + attn(norm(x), norm_kv(kv))`` then ``x + mlp(norm(x))``.

    ``cross=False`` makes it self-attention over x (kv not given). ``kv_valid`` [B,S] marks real (True) vs
    padded keys (the keys are x itself for self-attention).
    """

    def __init__(self, dim: int, heads: int, cross: bool = True, mlp_ratio: int = 4):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim) if cross else None
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None,
                kv_valid: torch.Tensor | None = None) -> torch.Tensor:
        q = self.norm_q(x)  # [B,N,D]
        k = q if self.norm_kv is None else self.norm_kv(kv)  # [B,S,D]
        pad = None if kv_valid is None else ~kv_valid
        x = x + self.attn(q, k, k, key_padding_mask=pad, need_weights=False)[0]
        return x + self.mlp(self.norm_mlp(x))  # [B,N,D]


class MultiLevelPrompter(nn.Module):
    """Aggregation tokens -> self-attn with the query -> cross-attn to semantic tokens -> L parallel
    cross-attns, one per visual level -> concatenated ``[B, L*N, d_llm]``.

    Args:
        cfg: ``prompter_tokens`` (N), ``prompter_dim`` (width D), ``prompter_heads``.
        level_channels: C_l of each visual level (shallow to deep), L = len(level_channels).
        llm_dim: the LLM hidden size d_llm: width of the query / semantic token embeddings and of the output.

    Empty retrieval is handled by a learned null key that the semantic cross-attention can always attend to.
    """

    def __init__(self, cfg: VLMConfig, level_channels: list[int], llm_dim: int):
        super().__init__()
        n, d, heads = cfg.prompter_tokens, cfg.prompter_dim, cfg.prompter_heads
        self.levels = len(level_channels)
        self.tokens = nn.Parameter(torch.randn(1, n, d) / math.sqrt(d))  # [1,N,D] aggregation tokens
        self.query_in = nn.Sequential(nn.LayerNorm(llm_dim), nn.Linear(llm_dim, d))
        self.semantic_in = nn.Sequential(nn.LayerNorm(llm_dim), nn.Linear(llm_dim, d))
        self.null_semantic = nn.Parameter(torch.zeros(1, 1, d))  # a key that is always there
        self.visual_in = nn.ModuleList(nn.Sequential(nn.LayerNorm(c), nn.Linear(c, d)) for c in level_channels)
        self.query_block = AttentionBlock(d, heads, cross=False)  # eq. 1-2
        self.semantic_block = AttentionBlock(d, heads)  # eq. 3
        self.level_blocks = nn.ModuleList(AttentionBlock(d, heads) for _ in level_channels)  # eq. 4
        self.out = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, llm_dim))

    def forward(self, levels: list[torch.Tensor], query: torch.Tensor, semantic: torch.Tensor,
                query_valid: torch.Tensor | None = None,
                semantic_valid: torch.Tensor | None = None) -> torch.Tensor:
        """Semantic-augmented tokens.

        Args:
            levels: L visual maps [B, C_l, H_l, W_l].
            query: user-query token embeddings [B, Q, d_llm] (Q may be 0).
            semantic: retrieved semantic token embeddings [B, S, d_llm] (S may be 0).
            query_valid, semantic_valid: [B, Q] / [B, S] bool, False on padding; None: all valid.

        Returns:
            [B, L*N, d_llm], level 0's N tokens first.
        """
        if len(levels) != self.levels:
            raise ValueError(f"prompter built for {self.levels} levels, got {len(levels)}")
        b, n = levels[0].shape[0], self.tokens.shape[1]
        agg = self.tokens.expand(b, -1, -1)  # [B,N,D]
        q = self.query_in(query.to(agg.dtype))  # [B,Q,D]
        qv = query_valid if query_valid is not None else torch.ones(q.shape[:2], dtype=torch.bool, device=q.device)
        own = torch.ones(b, n, dtype=torch.bool, device=agg.device)
        z1 = self.query_block(torch.cat([agg, q], 1), kv_valid=torch.cat([own, qv], 1))[:, :n]  # [B,N,D]

        s = torch.cat([self.null_semantic.expand(b, -1, -1), self.semantic_in(semantic.to(agg.dtype))], 1)
        sv = semantic_valid if semantic_valid is not None else torch.ones(semantic.shape[:2], dtype=torch.bool,
                                                                         device=s.device)
        sv = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=s.device), sv], 1)  # [B,1+S]
        z2 = self.semantic_block(z1, s, sv)  # [B,N,D]

        outs = []
        for feats, proj, block in zip(levels, self.visual_in, self.level_blocks):
            _, _, h, w = feats.shape
            v = proj(feats.flatten(2).transpose(1, 2).to(agg.dtype))  # [B,H_l*W_l,D]
            v = v + sincos_2d(h, w, v.shape[-1], v.device, v.dtype)
            outs.append(block(z2, v))  # [B,N,D]
        return self.out(torch.cat(outs, 1))  # [B,L*N,d_llm]

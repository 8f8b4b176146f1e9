"""CLIP-style dual encoder that finds descriptions of an image in a semantic database (paper 001, III-A1)."""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.config import VLMConfig
from models.text_encoder import TextEncoder, build_text_encoder

MAX_LOGIT_SCALE = 100.0  # CLIP's clamp on exp(logit_scale), i.e. temperature >= 0.01


class SearchableDB(Protocol):
    """What ``Retriever.retrieve`` needs of a database (core.semantic_db.SemanticDB has it)."""

    def search(self, query_embeddings: np.ndarray, k: int, level: str | None = None) -> list[list[Any]]: ...


class ImageTower(nn.Module):
    """Vision encoder -> deepest level -> global average pool -> linear -> L2-normalised ``[B, D]``."""

    def __init__(self, encoder: nn.Module, dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.proj = nn.Linear(int(encoder.level_channels[-1]), dim, bias=False)
        self.tune_encoder = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, 3, H, W] in 0..1
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.tune_encoder):
            deep = self.encoder(x)[-1]  # [B, C, h, w]
            pooled = deep.mean(dim=(2, 3))  # [B, C]
        return F.normalize(self.proj(pooled), dim=-1)  # [B, D]


class TextTower(nn.Module):
    """Text encoder (mean-pooled sentence embedding) -> linear -> L2-normalised ``[N, D]``."""

    def __init__(self, encoder: TextEncoder, dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.proj = nn.Linear(encoder.dim, dim, bias=False)
        self.tune_encoder = True

    def forward(self, texts: list[str]) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.tune_encoder):
            feats = self.encoder(texts)  # [N, D_text]
        return F.normalize(self.proj(feats), dim=-1)  # [N, D]


class Retriever(nn.Module):
    """Image tower + text tower with a learnable logit scale; trained with symmetric InfoNCE.

    Args:
        cfg: ``vision_*`` builds the image encoder, ``text_*`` the text encoder, ``retriever_*`` the rest.
        vision_encoder: an existing encoder (e.g. the VLM's) to share instead of building one. A shared
            encoder is registered here too, so its tensors appear under ``image_tower.encoder.*`` as well as
            under the owner; its train/eval mode and ``requires_grad`` are left to the owner unless
            ``set_trainable`` is called explicitly.
        text_encoder: an existing text encoder to use instead of building ``cfg.text_name``.
        pretrained: load the towers' base weights (False: random, for a checkpoint to fill in).
        tune_image, tune_text: train the encoders too (core.train's RetrieverConfig.train_*_encoder).

    The projections and the logit scale always train; the encoders when ``tune_image`` / ``tune_text``
    (or ``set_trainable``) say so. A frozen encoder runs without autograd and, when this module built it,
    stays in eval mode (BatchNorm statistics and dropout off).
    """

    def __init__(self, cfg: VLMConfig, vision_encoder: nn.Module | None = None,
                 text_encoder: TextEncoder | None = None, pretrained: bool = True, tune_image: bool = False,
                 tune_text: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.owns_vision = vision_encoder is None
        self.owns_text = text_encoder is None
        if vision_encoder is None:
            from models.vision_encoder import build_vision_encoder

            vision_encoder = build_vision_encoder(cfg, pretrained=pretrained)
        if text_encoder is None:
            text_encoder = build_text_encoder(cfg, pretrained=pretrained)
        self.image_tower = ImageTower(vision_encoder, cfg.retriever_dim)
        self.text_tower = TextTower(text_encoder, cfg.retriever_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.retriever_temperature)))
        self.image_tower.tune_encoder = tune_image
        self.text_tower.tune_encoder = tune_text
        if self.owns_vision:
            self.image_tower.encoder.requires_grad_(tune_image)
        if self.owns_text:
            self.text_tower.encoder.requires_grad_(tune_text)
        self.train(self.training)

    def set_trainable(self, image_tower: bool, text_tower: bool) -> None:
        """Choose which encoders train (sets ``requires_grad``, shared ones too); projections always do."""
        self.image_tower.tune_encoder = image_tower
        self.text_tower.tune_encoder = text_tower
        self.image_tower.encoder.requires_grad_(image_tower)
        self.text_tower.encoder.requires_grad_(text_tower)
        self.train(self.training)

    def train(self, mode: bool = True) -> Retriever:
        super().train(mode)
        if self.owns_vision and not self.image_tower.tune_encoder:
            self.image_tower.encoder.eval()
        if self.owns_text and not self.text_tower.tune_encoder:
            self.text_tower.encoder.eval()
        return self

    def embed_image(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, 3, H, W]`` in 0..1 -> L2-normalised ``[B, retriever_dim]``."""
        return self.image_tower(x)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """``texts`` (N strings) -> L2-normalised ``[N, retriever_dim]``."""
        return self.text_tower(texts)

    def forward(self, x: torch.Tensor, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Both embeddings of a paired batch: ``([B, D], [B, D])``."""
        return self.embed_image(x), self.embed_text(texts)

    def temperature(self) -> float:
        """The current softmax temperature, ``1 / exp(logit_scale)`` (after the clamp)."""
        return 1.0 / float(self.logit_scale.detach().exp().clamp(max=MAX_LOGIT_SCALE))

    def info_nce(self, img_emb: torch.Tensor, txt_emb: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE over a paired batch (row i of each is a positive pair, the rest negatives).

        ``logits = exp(logit_scale) * img_emb @ txt_emb.T`` (``[B, B]``);
        ``loss = (CE(logits, arange(B)) + CE(logits.T, arange(B))) / 2``.
        Identical texts in one batch count as negatives of each other: deduplicate before batching.
        """
        return info_nce(img_emb, txt_emb, self.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE))

    @torch.no_grad()
    def retrieve(self, img_emb: torch.Tensor, db: SearchableDB, k: int | None = None,
                 level: str | None = None) -> list[list[Any]]:
        """Top-``k`` (default ``cfg.retriever_top_k``) database entries per image embedding ``[B, D]``."""
        query = np.ascontiguousarray(img_emb.detach().float().cpu().numpy(), dtype=np.float32)  # [B, D]
        return db.search(query, k or self.cfg.retriever_top_k, level=level)


def info_nce(img_emb: torch.Tensor, txt_emb: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE for L2-normalised ``img_emb [B, D]`` and ``txt_emb [B, D]`` at logit ``scale``."""
    if img_emb.shape != txt_emb.shape:
        raise ValueError(f"paired embeddings differ: {tuple(img_emb.shape)} vs {tuple(txt_emb.shape)}")
    logits = scale * img_emb @ txt_emb.t()  # [B, B]: image i vs text j
    target = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2

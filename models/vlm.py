"""EarthVLM, the composite: segmentation-guided vision, retriever, multi-level prompter and an LLM with experts."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from models import checkpoint
from models.config import INIT_SEED, VLMConfig
from models.decoding import greedy_decode
from models.experts import ROLE_TEXT, attach_experts
from models.llm import llm_sha256, load_llm
from models.ndl_loss import IGNORE_INDEX, ndl_token_loss
from models.prompter import MultiLevelPrompter
from models.prompts import build_prompt
from models.retriever import Retriever
from models.segmenter import Segmenter
from models.semantic_guidance import SemanticGuidance

SENTINEL = "\x00EARTHASK_VISUAL\x00"  # where the visual block goes inside the chat template's user turn


@dataclass
class GenerationOutput:
    text: str  # the answer, special tokens removed
    token_logprobs: list[float]  # log p of each generated token (greedy), stop token excluded
    prompt: str  # the exact text the LLM saw, visual blocks shown as <image:n> <semantic:LxN>
    token_texts: list[str] = field(default_factory=list)  # each generated token decoded alone (box scores)


class ForwardOutput(NamedTuple):
    loss: torch.Tensor  # scalar
    logits: torch.Tensor  # [B,T,V] over the text positions; logits[:, t] predicts input_ids[:, t+1]


class EarthVLM(nn.Module):
    """The vision-language model behind core's ``ask/ground/caption/classify``.

    LLM input: ``[chat prefix][image tokens][semantic-augmented tokens, L levels x N][prompt text + chat
    suffix]`` then the answer. Image tokens: deepest level, guided by the predicted land-cover mask (EarthVL),
    pooled to ``cfg.image_tokens`` and projected. Semantic-augmented tokens: the prompter over all levels, the
    query's and the retrieved descriptions' LLM token embeddings. Experts route by level (experts.py).

    Frozen base (never saved): the vision backbone, the retriever's text encoder and the LLM's own weights.
    Trained (saved): seg head, guidance, band adapter, image projection, prompter, retriever projections,
    experts, LoRA. ``cfg.guide_enabled / retrieval_enabled / experts_enabled`` switch parts off (ablations).
    """

    def __init__(self, cfg: VLMConfig, device: str | torch.device | None = None):
        super().__init__()
        self.cfg = cfg
        self._tuned_base: set[str] = set()  # base tensors to save (see tuned_base_names)
        self._base_reference: dict[str, tuple[float, float]] | None = None
        self.grid = math.isqrt(cfg.image_tokens)
        if self.grid**2 != cfg.image_tokens:
            raise ValueError(f"image_tokens must be a square number, got {cfg.image_tokens}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(INIT_SEED)
            self.segmenter = Segmenter(cfg)
            encoder = self.segmenter.encoder
            encoder.backbone.requires_grad_(False)
            deep = encoder.level_channels[-1]
            self.guidance = SemanticGuidance(cfg, deep)  # parameter-free identity when guide_enabled is off
            llm, self.tokenizer = load_llm(cfg, device=device)
            d = llm.config.hidden_size
            self.image_proj = nn.Sequential(nn.Linear(deep, d), nn.GELU(), nn.Linear(d, d))
            self.prompter = MultiLevelPrompter(cfg, encoder.level_channels, d)
            self.retriever = Retriever(cfg, vision_encoder=encoder) if cfg.retrieval_enabled else None
            self.router = attach_experts(llm, cfg) if cfg.experts_enabled else None
            self.llm = llm
        self._prefix_text, self._suffix_text = self._chat_frame()
        self._prefix_ids = self.tokenizer(self._prefix_text, add_special_tokens=False).input_ids
        if device is not None:
            self.to(device)
        self.eval()

    # ----- parts -----
    def _chat_frame(self) -> tuple[str, str]:
        """Text before and after the visual block + prompt: a user turn, or plain text.

        ChatML tokenizers (SmolLM2, Qwen2.5) get a fixed ChatML user turn without a system message, written
        here rather than rendered by jinja (apply_chat_template needs jinja2>=3.1.6, which Debian's
        system site packages lack), so training and inference see the same frame on every machine.
        """
        tok = self.tokenizer
        vocab = tok.get_vocab()
        if "<|im_start|>" in vocab and "<|im_end|>" in vocab:
            return "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template([{"role": "user", "content": SENTINEL}], add_generation_prompt=True,
                                           tokenize=False)
            before, after = text.split(SENTINEL)
            return before, after
        return tok.bos_token or "", "\n"

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.llm.get_input_embeddings()(ids.to(self.llm.device))  # [B,T,d]

    def _ids(self, texts: Sequence[str], limit: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded token ids [B,T] and validity [B,T] of ``texts``, each cut to ``limit`` tokens."""
        rows = [self.tokenizer(t, add_special_tokens=False).input_ids[:limit] if t else [] for t in texts]
        return _pad(rows, self.tokenizer.pad_token_id or 0, self.llm.device)

    def visual(self, image: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """image [B,C,S,S] 0..1 -> (levels with the guided deepest level, image tokens [B, image_tokens, d])."""
        levels, seg_logits = self.segmenter.features(image)
        deep = self.guidance(levels[-1], seg_logits)  # [B,C,h,w]
        levels = [*levels[:-1], deep]
        pooled = F.adaptive_avg_pool2d(deep, self.grid).flatten(2).transpose(1, 2)  # [B,g*g,C]
        return levels, self.image_proj(pooled)

    def prefix(self, image: torch.Tensor, query_ids: torch.Tensor, query_valid: torch.Tensor,
               semantic_ids: torch.Tensor, semantic_valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The visual part of the LLM input: ([B,P,d] embeddings, [B,P] token roles), P = prefix + I + L*N."""
        levels, image_tokens = self.visual(image)  # [B,I,d]
        b = image_tokens.shape[0]
        if not self.cfg.retrieval_enabled:
            semantic_ids, semantic_valid = semantic_ids[:, :0], semantic_valid[:, :0]
        sem = self.prompter(levels, self._embed(query_ids), self._embed(semantic_ids), query_valid,
                            semantic_valid)  # [B,L*N,d]
        dtype = self.llm.get_input_embeddings().weight.dtype
        pre = self._embed(torch.tensor([self._prefix_ids], dtype=torch.long)).expand(b, -1, -1)
        embeds = torch.cat([pre, image_tokens.to(dtype), sem.to(dtype)], 1)  # [B,P,d]
        n, levels_n = self.cfg.prompter_tokens, len(levels)
        roles = torch.cat([torch.full((pre.shape[1] + image_tokens.shape[1],), ROLE_TEXT),
                           torch.arange(levels_n).repeat_interleave(n)]).to(embeds.device)
        return embeds, roles.expand(b, -1)

    def _route(self, roles: torch.Tensor | None, keep: bool = False):
        return self.router.route(roles, keep) if self.router is not None else contextlib.nullcontext()

    # ----- the API core calls -----
    def segment(self, x: torch.Tensor) -> torch.Tensor:
        """x [B,C,H,W] 0..1 -> land-cover logits [B,K,H,W]."""
        return self.segmenter(x)

    def embed_image(self, x: torch.Tensor) -> torch.Tensor:
        """Retriever image tower: x [B,C,H,W] 0..1 -> L2-normalised [B, retriever_dim]."""
        return self._retriever().embed_image(x)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """Retriever text tower: N strings -> L2-normalised [N, retriever_dim]."""
        return self._retriever().embed_text(texts)

    def _retriever(self) -> Retriever:
        if self.retriever is None:
            raise RuntimeError("this model was built with retrieval_enabled=False: it has no retriever")
        return self.retriever

    @torch.no_grad()
    def generate(self, image: torch.Tensor, task: str, query: str, objects_text: str, retrieved: list[str],
                 choices: list[str] | None = None, max_new_tokens: int = 64,
                 on_text: Callable[[str], None] | None = None) -> GenerationOutput:
        """Greedy answer for one image [1,C,S,S] (see docs/DESIGN.md); text pieces stream to ``on_text``."""
        if image.ndim != 4 or image.shape[0] != 1:
            raise ValueError(f"generate takes one image [1,C,S,S], got {tuple(image.shape)}")
        prompt = build_prompt(task, query, objects_text, retrieved, choices)
        embeds, roles = self.prompt_inputs(image, prompt, query, retrieved)
        ids, logprobs = self.greedy(embeds, roles, max_new_tokens, on_text=on_text)
        n = self.cfg.prompter_tokens
        shown = (f"{self._prefix_text}<image:{self.cfg.image_tokens}><semantic:{self.cfg.vision_levels}x{n}>"
                 f"{prompt}{self._suffix_text}")
        pieces = [self.tokenizer.decode([i], skip_special_tokens=True) for i in ids]
        return GenerationOutput(self.tokenizer.decode(ids, skip_special_tokens=True), logprobs, shown, pieces)

    def prompt_inputs(self, image: torch.Tensor, prompt: str, query: str,
                      retrieved: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """One sample's LLM input before the answer: ([1,T,d] embeddings, [1,T] roles)."""
        limit = self.cfg.prompter_max_text_tokens
        q_ids, q_valid = self._ids([query], limit)
        s_ids, s_valid = self._semantic_ids([list(retrieved)])
        embeds, roles = self.prefix(image.to(self.device_of_vision()), q_ids, q_valid, s_ids, s_valid)
        text = torch.tensor([self.tokenizer(prompt + self._suffix_text, add_special_tokens=False).input_ids])
        text_roles = torch.full(text.shape, ROLE_TEXT, device=roles.device)
        return torch.cat([embeds, self._embed(text)], 1), torch.cat([roles, text_roles], 1)

    def greedy(self, embeds: torch.Tensor, roles: torch.Tensor, max_new_tokens: int, use_cache: bool = True,
               on_text: Callable[[str], None] | None = None) -> tuple[list[int], list[float]]:
        """Greedy decoding from input embeddings [1,T,d] with roles [1,T] -> (token ids, their log-probs);
        see models.decoding.greedy_decode."""
        return greedy_decode(self.llm, self.tokenizer, self._embed, self._route, embeds, roles, max_new_tokens,
                             use_cache, on_text)

    def device_of_vision(self) -> torch.device:
        return next(self.segmenter.parameters()).device

    # ----- training -----
    def build_batch(self, images: torch.Tensor, prompts: Sequence[str], answers: Sequence[str],
                    queries: Sequence[str], retrieved: Sequence[Sequence[str]],
                    answer_numbers: Sequence[float | None] | None = None) -> dict:
        """Tokenise a training batch for :meth:`forward` (prompts from ``prompts.build_prompt``, answers from
        ``prompts.build_answer``); labels are -100 on the prompt and padding, the answer ends with EOS."""
        tok, rows, labels = self.tokenizer, [], []
        for prompt, answer in zip(prompts, answers):
            p = tok(prompt + self._suffix_text, add_special_tokens=False).input_ids
            a = tok(answer, add_special_tokens=False).input_ids + [tok.eos_token_id]
            rows.append(p + a)
            labels.append([IGNORE_INDEX] * len(p) + a)
        input_ids, valid = _pad(rows, tok.pad_token_id or 0, images.device)
        label_ids, _ = _pad(labels, IGNORE_INDEX, images.device)
        q_ids, q_valid = self._ids(queries, self.cfg.prompter_max_text_tokens)
        s_ids, s_valid = self._semantic_ids(retrieved)
        batch = dict(image=images, input_ids=input_ids, attention_mask=valid.long(), labels=label_ids,
                     query_ids=q_ids, query_mask=q_valid.long(), semantic_ids=s_ids, semantic_mask=s_valid.long())
        if answer_numbers is not None:
            batch["answer_numbers"] = list(answer_numbers)
        return batch

    def _semantic_ids(self, retrieved: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Each sample's retrieved descriptions, each cut to prompter_max_text_tokens, concatenated [B,S]."""
        limit = self.cfg.prompter_max_text_tokens
        rows = [sum((self.tokenizer(t, add_special_tokens=False).input_ids[:limit] for t in texts), [])
                if self.cfg.retrieval_enabled else [] for texts in retrieved]
        return _pad(rows, self.tokenizer.pad_token_id or 0, self.llm.device)

    def forward(self, batch: dict) -> ForwardOutput:
        """Teacher-forced loss on the answer tokens.

        Args:
            batch: made by :meth:`build_batch`, or by hand with the same keys (B samples, tensors):
                ``image`` [B,C,S,S] float 0..1; ``input_ids`` [B,T] prompt text + chat suffix + answer + EOS,
                right-padded; ``attention_mask`` [B,T] 1 on real tokens; ``labels`` [B,T] = input_ids on the
                answer and EOS, -100 elsewhere; ``query_ids``/``query_mask`` [B,Q] the user query's tokens
                (prompter input); ``semantic_ids``/``semantic_mask`` [B,S] the retrieved descriptions'
                tokens, concatenated; optional ``answer_numbers``: B floats or None (list, or tensor with nan)
                - the true number of numeric answers, for the numerical difference loss.

        Returns:
            (loss, logits [B,T,V] over the text). Loss: with ``answer_numbers`` and ``cfg.ndl_enabled``, the
            EarthVL numerical difference loss (per-sample mean token CE, numeric samples weighted by
            1 + alpha |y_hat - y|^gamma, averaged over samples); otherwise the mean token cross-entropy.
        """
        dev = self.llm.device
        embeds, roles = self.prefix(batch["image"].to(self.device_of_vision()), batch["query_ids"],
                                    batch["query_mask"].bool(), batch["semantic_ids"],
                                    batch["semantic_mask"].bool())
        ids, mask, labels = (batch[k].to(dev) for k in ("input_ids", "attention_mask", "labels"))
        t = ids.shape[1]
        embeds = torch.cat([embeds, self._embed(ids)], 1)  # [B,P+T,d]
        roles = torch.cat([roles, torch.full_like(ids, ROLE_TEXT).to(roles.device)], 1)
        attention = torch.cat([torch.ones(embeds.shape[0], embeds.shape[1] - t, dtype=mask.dtype, device=dev),
                               mask], 1)
        with self._route(roles, keep=torch.is_grad_enabled()):  # kept for checkpointed recomputation
            logits = self.llm(inputs_embeds=embeds, attention_mask=attention, use_cache=False,
                              logits_to_keep=t).logits  # [B,T,V]
        numbers = batch.get("answer_numbers")
        if numbers is not None and self.cfg.ndl_enabled:
            values = [None if v is None or math.isnan(float(v)) else float(v) for v in list(numbers)]
            loss = ndl_token_loss(logits, labels, values, self._decode_answer, self.cfg.ndl_alpha,
                                  self.cfg.ndl_gamma, shift=True)
        else:
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                   ignore_index=IGNORE_INDEX)
        return ForwardOutput(loss, logits)

    def _decode_answer(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def train(self, mode: bool = True) -> EarthVLM:
        """Train mode, except frozen bases stay in eval (their BatchNorm statistics are not updated).

        The first switch to train mode fingerprints the base tensors, so a base part that a stage tunes
        (e.g. the backbone in the seg stage) is saved even after a later stage froze it again.
        """
        if mode and self._base_reference is None:
            self._base_reference = checkpoint.base_fingerprint(self, self.is_base)
        super().train(mode)
        backbone = self.segmenter.encoder.backbone
        if not any(p.requires_grad for p in backbone.parameters()):
            backbone.eval()
        return self

    # ----- checkpoints -----
    def is_base(self, name: str) -> bool:
        """Whether a state-dict name belongs to a frozen base component (rebuilt from cfg, never saved)."""
        if name.startswith("llm."):
            return "lora_" not in name and ".experts." not in name
        return name.startswith(("segmenter.encoder.backbone.", "retriever.image_tower.encoder.backbone.",
                                "retriever.text_tower.encoder."))

    def mark_tuned_base(self, names: set[str]) -> None:
        """Base tensors to save from now on (from_pretrained marks those a checkpoint carried)."""
        self._tuned_base |= names

    def tuned_base_names(self) -> set[str]:
        """Base tensors that differ from the base as built: loaded from a checkpoint or changed by training."""
        changed = set()
        if self._base_reference is not None:
            changed = checkpoint.changed_base(self, self.is_base, self._base_reference)
        return self._tuned_base | changed

    def base_digests(self) -> dict[str, str]:
        """sha256 of each base component's weights ("" for random tiny bases), as config fields."""
        text = self.retriever.text_tower.encoder.sha256 if self.retriever is not None else self.cfg.text_sha256
        return dict(vision_sha256=self.segmenter.encoder.weights_sha256, text_sha256=text,
                    llm_sha256=llm_sha256(self.cfg))

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` (bases by name + sha256) and ``model.safetensors`` (trained tensors only)."""
        return checkpoint.save_pretrained(self, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device | None = "cpu",
                        switch_off: tuple[str, ...] = (), grow: tuple[str, ...] = ()) -> EarthVLM:
        """Rebuild the bases from ``config.json``, then load the trained tensors strictly; ``switch_off``
        parts (checkpoint.SWITCHABLE fields) are left out of the model and their tensors not loaded; ``grow``
        parts (checkpoint.GROWABLE) are added at their initialisation where the checkpoint lacks them."""
        return checkpoint.from_pretrained(cls, directory, device, tuple(switch_off), tuple(grow))


def _pad(rows: list[list[int]], pad: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists -> (ids [B,T] long, valid [B,T] bool)."""
    t = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), t), pad, dtype=torch.long)
    valid = torch.zeros((len(rows), t), dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        valid[i, : len(r)] = True
    return ids.to(device), valid.to(device)


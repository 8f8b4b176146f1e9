"""Greedy decoding from input embeddings, with the experts' token roles and streamed text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from models.experts import ROLE_TEXT


class TextStream:
    """Sends the decoded answer to ``on_text`` piece by piece, whole characters only."""

    def __init__(self, tokenizer: Any, on_text: Callable[[str], None] | None) -> None:
        self.tokenizer, self.on_text, self.shown = tokenizer, on_text, ""

    def update(self, ids: list[int], final: bool = False) -> None:
        if self.on_text is None:
            return
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        whole = final or not text.endswith("\ufffd")  # a multi-byte character not yet complete waits
        if whole and text.startswith(self.shown) and len(text) > len(self.shown):
            self.on_text(text[len(self.shown):])
            self.shown = text


def stop_ids(tokenizer: Any, llm: nn.Module) -> set[int]:
    """EOS of the tokenizer and of the model's generation config (Qwen lists two)."""
    stop = {tokenizer.eos_token_id}
    eos = getattr(getattr(llm, "generation_config", None), "eos_token_id", None)
    stop.update(eos if isinstance(eos, list) else [eos])
    return {s for s in stop if s is not None}


def greedy_decode(llm: nn.Module, tokenizer: Any, embed: Callable[[torch.Tensor], torch.Tensor],
                  route: Callable[[torch.Tensor], Any], embeds: torch.Tensor, roles: torch.Tensor,
                  max_new_tokens: int, use_cache: bool = True,
                  on_text: Callable[[str], None] | None = None) -> tuple[list[int], list[float]]:
    """Greedy decoding from input embeddings [1,T,d] with roles [1,T] -> (token ids, their log-probs).

    ``embed`` maps token ids [1,1] to embeddings; ``route(roles)`` is the experts' routing context. With
    ``use_cache`` each step feeds only the new token and reuses the KV cache (its role is text); without,
    every step reruns the whole sequence (the reference the tests compare against).
    """
    stop = stop_ids(tokenizer, llm)
    stream = TextStream(tokenizer, on_text)
    ids: list[int] = []
    logprobs: list[float] = []
    past, step_embeds, step_roles = None, embeds, roles
    for _ in range(max_new_tokens):
        with route(step_roles):
            out = llm(inputs_embeds=step_embeds, past_key_values=past, use_cache=use_cache, logits_to_keep=1)
        logp = out.logits[0, -1].float().log_softmax(-1)  # [V]
        token = int(logp.argmax())
        if token in stop:
            break
        ids.append(token)
        logprobs.append(float(logp[token]))
        stream.update(ids)
        new = embed(torch.tensor([[token]]))  # [1,1,d]
        new_role = torch.full((1, 1), ROLE_TEXT, device=roles.device)
        if use_cache:
            past, step_embeds, step_roles = out.past_key_values, new, new_role
        else:
            step_embeds = torch.cat([step_embeds, new], 1)
            step_roles = torch.cat([step_roles, new_role], 1)
    stream.update(ids, final=True)
    return ids, logprobs

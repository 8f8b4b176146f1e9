"""Likelihood of candidate answers under teacher forcing (scene classification, choice scores)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from models.ndl_loss import IGNORE_INDEX
from models.prompts import build_answer, build_prompt


@torch.no_grad()
def score_choices(model, image: torch.Tensor, task: str, query: str, objects_text: str, retrieved: list[str],
                  choices: Sequence[str]) -> list[float]:
    """Sum of the log-probabilities of each choice's answer tokens (and EOS) after the prompt.

    Args:
        model: an ``EarthVLM``.
        image: one image [1,C,S,S] in 0..1.
        choices: candidate answers; each is scored as the answer text ``build_answer(task, choice)``.

    Returns:
        One log-likelihood per choice (higher is likelier), in the order given.
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"score_choices takes one image [1,C,S,S], got {tuple(image.shape)}")
    prompt = build_prompt(task, query, objects_text, retrieved, list(choices) if task != "caption" else None)
    n = len(choices)
    batch = model.build_batch(image.expand(n, -1, -1, -1), [prompt] * n, [build_answer(task, c) for c in choices],
                              [query] * n, [list(retrieved)] * n)
    logits = model(batch).logits.float()  # [N,T,V]; logits[:, t] predicts input_ids[:, t+1]
    labels = batch["labels"].to(logits.device)[:, 1:]  # [N,T-1]
    logp = logits[:, :-1].log_softmax(-1)
    keep = labels != IGNORE_INDEX
    picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # [N,T-1]
    return (picked * keep).sum(1).tolist()

"""EarthVL numerical difference loss: cross-entropy weighted by how far a predicted number is from the truth.

For a sample whose answer is a number ``y`` the loss is ``(1 + alpha * |y_hat - y| ** gamma) * CE``, with
``y_hat`` the model's own (non-differentiated) prediction; other samples keep plain ``CE``. The batch loss
is the sum over samples divided by the number of samples, i.e. ``(sum L_cls + sum L_num) / (N_cls + N_num)``
(EarthVQA's released code; alpha = 1, gamma = 0.5 there).

Two forms:
- ``ndl_class_loss``: a classifier over a closed answer vocabulary; ``CE = -log p_y`` and
  ``y_hat = value(argmax p)``. Give counts their count and area bins their bin index as values (the released
  code compares class indices, whose order puts counts 0-6 first and the ten area bins next).
- ``ndl_token_loss``: a language model under teacher forcing; ``CE`` is the mean over the answer tokens,
  ``y_hat`` is read from the greedy (argmax) tokens at the answer positions, decoded and parsed.

Fallback: a prediction that is not a number (text that does not parse, or a class whose value is nan) gets
difference ``fallback_diff``, 0 by default, so the sample falls back to plain CE. A fixed large penalty would
dominate early training, when nothing the model says parses yet; CE already pushes towards the right tokens.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
_WORDS = {"none": 0, **{w: i for i, w in enumerate(  # "none" answers a count
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}}
_NUM = r"-?\d+(?:\.\d+)?"
_RANGE = re.compile(rf"({_NUM})\s*%?\s*(?:-|–|to)\s*({_NUM})")
_FIRST = re.compile(_NUM)


def parse_number(text: str) -> float | None:
    """The number a short answer states, or None.

    ``"3" -> 3``, ``"2.5 ha" -> 2.5``, ``"1,200" -> 1200``, ``"two" -> 2``, a range ``"10%-20%" -> 15``
    (its midpoint; so make the true value of a range answer with this same function).
    """
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.strip().lower())
    m = _RANGE.search(text)
    if m:
        return (float(m.group(1)) + float(m.group(2))) / 2
    m = _FIRST.search(text)
    if m:
        return float(m.group())
    for word in re.findall(r"[a-z]+", text):
        if word in _WORDS:
            return float(_WORDS[word])
    return None


def ndl_weight(pred: float | None, target: float, alpha: float, gamma: float,
               fallback_diff: float = 0.0) -> float:
    """``1 + alpha * |pred - target| ** gamma``; ``pred`` None (not a number) uses ``fallback_diff``."""
    diff = fallback_diff if pred is None or math.isnan(pred) else abs(pred - target)
    return 1.0 + alpha * diff**gamma


def ndl_token_loss(logits: torch.Tensor, labels: torch.Tensor, answer_values: Sequence[float | None],
                   decode_fn: Callable[[list[int]], str], alpha: float = 1.0, gamma: float = 0.5, *,
                   fallback_diff: float = 0.0, parse_fn: Callable[[str], float | None] = parse_number,
                   shift: bool = False) -> torch.Tensor:
    """Numerical difference loss for a language model's answer tokens.

    Args:
        logits: ``[B, T, V]``, any float dtype (target rows are cast to float32); ``logits[b, t]`` predicts
            ``labels[b, t]`` (``shift=True`` drops the last logit and the first label, for raw causal-LM
            outputs and input ids).
        labels: ``[B, T]`` token ids, ``-100`` where there is no target (prompt, padding).
        answer_values: per sample, the true number, or None when the answer is not a number (plain CE).
            ``[parse_number(a) for a in answers]`` is consistent with how predictions are read.
        decode_fn: token ids -> text, for the argmax tokens at the answer positions (skip special tokens).
        alpha, gamma: the penalty ``1 + alpha * |y_hat - y| ** gamma``.
        fallback_diff: the difference used when the prediction does not parse as a number.
        parse_fn: text -> number or None.
        shift: align causal-LM logits with next-token labels first.

    Returns:
        Scalar: sum over samples of ``weight * mean token CE``, divided by the number of samples that have
        at least one target token (0 with a graph when none has).
    """
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    b = logits.shape[0]
    if len(answer_values) != b:
        raise ValueError(f"{len(answer_values)} answer values for a batch of {b}")
    mask = labels != IGNORE_INDEX  # [B, T]
    n_tokens = mask.sum(1)  # [B]
    chosen = logits[mask].float()  # [N, V]: only the target positions (the vocabulary is large)
    token_ce = F.cross_entropy(chosen, labels[mask], reduction="none")  # [N]
    sample_of = mask.nonzero()[:, 0]  # [N]
    per_sample = torch.zeros(b, device=logits.device).index_add(0, sample_of, token_ce)
    per_sample = per_sample / n_tokens.clamp(min=1)  # [B] mean token CE
    weights = torch.ones(b, device=logits.device)
    pred_ids = chosen.detach().argmax(-1).split(n_tokens.tolist())  # greedy tokens, per sample
    for i, y in enumerate(answer_values):
        if y is None or math.isnan(y) or n_tokens[i] == 0:
            continue
        y_hat = parse_fn(decode_fn(pred_ids[i].tolist()))
        weights[i] = ndl_weight(y_hat, float(y), alpha, gamma, fallback_diff)
    has = n_tokens > 0
    if not bool(has.any()):
        return logits.sum() * 0.0
    return (weights * per_sample)[has].sum() / has.sum()


def ndl_class_loss(logits: torch.Tensor, target: torch.Tensor, class_values: torch.Tensor, alpha: float = 1.0,
                   gamma: float = 0.5, *, fallback_diff: float = 0.0) -> torch.Tensor:
    """Numerical difference loss over a closed answer vocabulary (the released EarthVQA form).

    Args:
        logits: ``[B, C]`` answer-class scores.
        target: ``[B]`` true class indices.
        class_values: ``[C]`` the number each class stands for, nan for non-numeric answers.
        alpha, gamma: the penalty ``1 + alpha * |value(argmax) - value(target)| ** gamma``.
        fallback_diff: the difference used when the argmax class is not a number.

    Returns:
        Scalar: ``mean_b(weight_b * -log p[b, target_b])``; weight 1 when the true answer is not a number.
    """
    nll = F.cross_entropy(logits.float(), target, reduction="none")  # [B]
    values = class_values.to(device=logits.device, dtype=torch.float32)  # [C]
    y = values[target]  # [B]
    y_hat = values[logits.detach().argmax(-1)]  # [B]
    diff = torch.where(torch.isnan(y_hat), torch.full_like(y_hat, fallback_diff), (y_hat - y).abs())
    weight = torch.where(torch.isnan(y), torch.ones_like(y), 1.0 + alpha * diff.pow(gamma))  # [B]
    return (weight * nll).mean()

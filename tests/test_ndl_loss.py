"""Numerical difference loss against hand-computed values: token form and class form."""

import math

import pytest
import torch
import torch.nn.functional as F

from models.ndl_loss import ndl_class_loss, ndl_token_loss, parse_number

VOCAB = ["0", "1", "2", "<eos>", "yes"]  # a five-token toy vocabulary
EOS = 3


def decode(ids: list[int]) -> str:
    return "".join(VOCAB[i] for i in ids if i != EOS)


def ce(logits: list[float], target: int) -> float:
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


# [B=4, T=3, V=5]; position 0 is prompt (label -100) everywhere
LOGITS = [
    [[0.3, 0.1, 0.0, 0.2, 0.5], [2.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.5, 0.0]],  # says "0", truth 2
    [[0.0] * 5, [0.0, 0.5, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 2.0, 0.0]],  # "yes", not a number
    [[0.0] * 5, [0.0, 0.2, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.7]],  # says "yes" to a count: no number
    [[1.0] * 5, [1.0] * 5, [1.0] * 5],  # no target tokens at all
]
LABELS = [[-100, 2, EOS], [-100, 4, EOS], [-100, 1, EOS], [-100, -100, -100]]
VALUES = [2.0, None, 1.0, 3.0]


def test_token_loss_matches_hand_computation() -> None:
    logits, labels = torch.tensor(LOGITS), torch.tensor(LABELS)
    ce0 = (ce(LOGITS[0][1], 2) + ce(LOGITS[0][2], EOS)) / 2
    ce1 = (ce(LOGITS[1][1], 4) + ce(LOGITS[1][2], EOS)) / 2
    ce2 = (ce(LOGITS[2][1], 1) + ce(LOGITS[2][2], EOS)) / 2
    w0 = 1 + 1.0 * abs(0 - 2) ** 0.5
    expected = (w0 * ce0 + ce1 + ce2) / 3  # sample 3 has no targets: not counted
    got = ndl_token_loss(logits, labels, VALUES, decode, alpha=1.0, gamma=0.5)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    fallback = ndl_token_loss(logits, labels, VALUES, decode, 1.0, 0.5, fallback_diff=4.0)
    assert fallback.item() == pytest.approx((w0 * ce0 + ce1 + 3.0 * ce2) / 3, rel=1e-5)
    plain = ndl_token_loss(logits, labels, VALUES, decode, alpha=0.0, gamma=0.5)
    assert plain.item() == pytest.approx((ce0 + ce1 + ce2) / 3, rel=1e-5)


def test_token_loss_reads_multi_token_numbers_and_shift() -> None:
    digits = [str(i) for i in range(10)]
    logits = torch.full((1, 4, 10), -5.0)
    logits[0, 1, 1] = logits[0, 2, 0] = 5.0  # greedy answer "10"; the truth is "12"
    labels = torch.tensor([[-100, 1, 2, -100]])
    dec = lambda ids: "".join(digits[i] for i in ids)  # noqa: E731
    got = ndl_token_loss(logits, labels, [12.0], dec, 2.0, 1.0)
    ce_mean = (F.cross_entropy(logits[0, 1:3], labels[0, 1:3])).item()
    assert got.item() == pytest.approx((1 + 2.0 * 2) * ce_mean, rel=1e-5)
    raw_logits = torch.cat([logits, torch.zeros(1, 1, 10)], 1)  # a causal LM: position t predicts input t + 1
    raw_labels = torch.tensor([[-100, -100, 1, 2, -100]])  # the input ids themselves
    again = ndl_token_loss(raw_logits, raw_labels, [12.0], dec, 2.0, 1.0, shift=True)
    assert again.item() == pytest.approx(got.item(), rel=1e-6)


def test_token_loss_without_targets_is_zero_with_a_graph() -> None:
    logits = torch.zeros(2, 3, 5, requires_grad=True)
    loss = ndl_token_loss(logits, torch.full((2, 3), -100), [1.0, None], decode)
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def test_class_loss_matches_hand_computation_and_weights_are_constants() -> None:
    values = torch.tensor([0.0, 1.0, 2.0, 3.0, float("nan")])  # counts 0-3, then "yes"
    rows = [[0.1, 2.0, 0.3, 0.2, 0.0], [0.0, 0.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0, 3.0]]
    target = torch.tensor([3, 4, 2])  # 3 (predicted 1), "yes", 2 (predicted "yes": not a number)
    weights = [1 + 2**0.5, 1.0, 1.0]
    expected = sum(w * ce(r, t) for w, r, t in zip(weights, rows, target.tolist())) / 3
    logits = torch.tensor(rows, requires_grad=True)
    loss = ndl_class_loss(logits, target, values, alpha=1.0, gamma=0.5)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    onehot = F.one_hot(target, 5).float()
    grad = torch.tensor(weights)[:, None] * (torch.softmax(logits.detach(), -1) - onehot) / 3
    torch.testing.assert_close(logits.grad, grad)  # argmax is not differentiated
    penalised = ndl_class_loss(logits, target, values, 1.0, 0.5, fallback_diff=9.0)
    expected_fb = (weights[0] * ce(rows[0], 3) + ce(rows[1], 4) + 4.0 * ce(rows[2], 2)) / 3
    assert penalised.item() == pytest.approx(expected_fb, rel=1e-5)
    assert ndl_class_loss(logits, target, values, alpha=0.0).item() == pytest.approx(
        F.cross_entropy(logits, target).item(), rel=1e-6)


@pytest.mark.parametrize(
    "text, value",
    [("3", 3.0), (" 12<eos>", 12.0), ("2.5 ha", 2.5), ("1,200", 1200.0), ("two", 2.0), ("10%-20%", 15.0),
     ("0% to 10%", 5.0), ("-4", -4.0), ("yes", None), ("", None)],
)
def test_parse_number(text, value) -> None:
    assert parse_number(text) == value

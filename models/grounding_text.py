"""Grounding text: ``<box>x1,y1,x2,y2</box>`` in 0-999 image coordinates, a tolerant parser, box scores.

Convention: coordinates are integers 0..999 of the model's input image, ``n = round(p / size * 999)`` for
a pixel-edge coordinate ``p`` in ``[0, size]`` (x over the width, y over the height), origin top-left,
``x1 <= x2`` and ``y1 <= y2``. Several boxes are written back to back: ``<box>..</box><box>..</box>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

BoxInt = tuple[int, int, int, int]
COORD_MAX = 999

_OPEN = re.compile(r"<\s*box\s*>", re.IGNORECASE)
_CLOSE = re.compile(r"<\s*/\s*box\s*>", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\d.])-?\d+(?:\.\d+)?")
_RUN_GAP = re.compile(r"^[\s,;()\[\]]*$")  # what may separate numbers of one untagged box


@dataclass
class ParseResult:
    """Boxes read from generated text, with one warning per thing that had to be repaired or skipped."""

    boxes: list[BoxInt] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # character range of each box's numbers


def to_0_999(box_px: Sequence[float], width: float, height: float) -> BoxInt:
    """Pixel-edge box ``(x1, y1, x2, y2)`` in an image of ``width x height`` -> 0-999 integers."""
    sizes = (width, height, width, height)
    return tuple(min(COORD_MAX, max(0, round(v / s * COORD_MAX))) for v, s in zip(box_px, sizes))  # type: ignore


def from_0_999(box: Sequence[float], width: float, height: float) -> tuple[float, float, float, float]:
    """0-999 box -> pixel-edge coordinates in an image of ``width x height``."""
    sizes = (width, height, width, height)
    return tuple(v / COORD_MAX * s for v, s in zip(box, sizes))  # type: ignore


def format_boxes(boxes_0_999: Sequence[Sequence[float]], label: str = "") -> str:
    """Training-target text: ``"<box>x1,y1,x2,y2</box>..."``, prefixed by ``label + " "`` when given.

    Raises:
        ValueError: a coordinate outside 0..999 or corners out of order (bad data, caught at build time).
    """
    parts = []
    for box in boxes_0_999:
        x1, y1, x2, y2 = (round(v) for v in box)
        if min(x1, y1, x2, y2) < 0 or max(x1, y1, x2, y2) > COORD_MAX or x1 > x2 or y1 > y2:
            raise ValueError(f"box {tuple(box)} is not an ordered 0..{COORD_MAX} box")
        parts.append(f"<box>{x1},{y1},{x2},{y2}</box>")
    text = "".join(parts)
    return f"{label} {text}" if label else text


def _segments(text: str, warnings: list[str]) -> list[tuple[int, str, bool]]:
    """(offset, content, tagged) pieces that should hold box numbers."""
    opens = list(_OPEN.finditer(text))
    if not opens:
        return [(0, text, False)]
    out = []
    for i, m in enumerate(opens):
        limit = opens[i + 1].start() if i + 1 < len(opens) else len(text)
        close = _CLOSE.search(text, m.end(), limit)
        if close is None:
            warnings.append(f"box {i + 1}: missing </box>")
        out.append((m.end(), text[m.end():close.start() if close else limit], True))
    return out


def _groups(content: str, tagged: bool, warnings: list[str]) -> list[list[re.Match]]:
    """Numbers of one tagged segment, or runs of adjacent numbers in untagged text."""
    nums = list(_NUMBER.finditer(content))
    if tagged:
        if len(nums) == 4 and re.sub(r"\s", "", _NUMBER.sub("N", content)) != "N,N,N,N":
            warnings.append(f"non-standard separators in {content.strip()!r}")
        return [nums]
    runs: list[list[re.Match]] = []
    for m in nums:
        if runs and _RUN_GAP.match(content[runs[-1][-1].end():m.start()]):
            runs[-1].append(m)
        else:
            runs.append([m])
    if any(len(r) >= 4 for r in runs):
        warnings.append("no <box> tags: read runs of 4 numbers as boxes")
    elif runs:
        warnings.append(f"no <box> tags and no run of 4 numbers: {[m.group() for m in nums]} ignored")
    return [r for r in runs if len(r) >= 4]


def _repair(values: list[float], warnings: list[str]) -> BoxInt:
    """Fractions -> 0-999, round, clip, order corners; say what was changed."""
    if any(v != int(v) for v in values):
        if all(0.0 <= v <= 1.0 for v in values):
            warnings.append(f"box {values}: fractions of the image, scaled to 0..{COORD_MAX}")
            values = [v * COORD_MAX for v in values]
        else:
            warnings.append(f"box {values}: non-integer coordinates rounded")
    ints = [round(v) for v in values]
    clipped = [min(COORD_MAX, max(0, v)) for v in ints]
    if clipped != ints:
        warnings.append(f"box {ints}: coordinates outside 0..{COORD_MAX} clipped")
    x1, y1, x2, y2 = clipped
    if x1 > x2 or y1 > y2:
        warnings.append(f"box {clipped}: corners swapped")
        x1, x2, y1, y2 = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
    if x1 == x2 or y1 == y2:
        warnings.append(f"box {[x1, y1, x2, y2]}: zero area")
    return x1, y1, x2, y2


def parse_boxes(text: str) -> ParseResult:
    """Read every box in ``text``, repairing what can be repaired and saying so in ``warnings``.

    Tolerated: a missing ``</box>`` (the box ends at the next ``<box>`` or the end), separators other than
    commas, floats (rounded; four fractions in 0..1 are scaled by 999), values outside 0..999 (clipped),
    swapped corners (reordered), more than four numbers in one tag (read as several boxes; a remainder is
    dropped), four numbers without any tags (accepted). Skipped: fewer than four numbers, duplicates.
    """
    result = ParseResult()
    warnings = result.warnings
    for offset, content, tagged in _segments(text, warnings):
        for nums in _groups(content, tagged, warnings):
            if len(nums) < 4:
                warnings.append(f"box {content.strip()!r} has {len(nums)} number(s), needs 4: skipped")
                continue
            if len(nums) % 4:
                warnings.append(f"{len(nums)} numbers in one box: the last {len(nums) % 4} ignored")
            elif len(nums) > 4:
                warnings.append(f"{len(nums)} numbers in one box: read as {len(nums) // 4} boxes")
            for i in range(0, len(nums) - 3, 4):
                chunk = nums[i:i + 4]
                box = _repair([float(m.group()) for m in chunk], warnings)
                if box in result.boxes:
                    warnings.append(f"duplicate box {list(box)} dropped")
                    continue
                result.boxes.append(box)
                result.spans.append((offset + chunk[0].start(), offset + chunk[-1].end()))
    if not result.boxes:
        warnings.append("no box found")
    return result


def box_scores(token_logprobs: Sequence[float], token_spans: Sequence[tuple[int, int]]) -> list[float]:
    """Score per box: geometric-mean token probability ``exp(mean(logprob))`` over tokens ``[start, end)``.

    0.0 for an empty range (the box could not be aligned to any generated token).
    """
    scores = []
    for start, end in token_spans:
        chosen = list(token_logprobs[start:end])
        scores.append(math.exp(sum(chosen) / len(chosen)) if chosen else 0.0)
    return scores


def align_tokens(text: str, token_texts: Sequence[str]) -> list[tuple[int, int]]:
    """Character range of each generated token in ``text``; ``(p, p)`` for a token not found there.

    Tokens are matched left to right, skipping only whitespace, so a stripped ``text`` and special tokens
    (end of turn) that the decoded text leaves out still align.
    """
    pos, out = 0, []
    for tok in token_texts:
        start = -1
        for piece in (tok, tok.strip()):
            j = text.find(piece, pos) if piece else -1
            if j >= 0 and not text[pos:j].strip():
                start, tok = j, piece
                break
        if start < 0:
            out.append((pos, pos))
            continue
        out.append((start, start + len(tok)))
        pos = start + len(tok)
    return out


def score_boxes_from_generation(text: str, token_texts: Sequence[str],
                                token_logprobs: Sequence[float]) -> list[float]:
    """One score per box of ``parse_boxes(text).boxes``, from the tokens overlapping each box's numbers."""
    if len(token_texts) != len(token_logprobs):
        raise ValueError(f"{len(token_texts)} token texts but {len(token_logprobs)} log-probabilities")
    offsets = align_tokens(text, token_texts)
    spans = []
    for c_start, c_end in parse_boxes(text).spans:
        hit = [i for i, (s, e) in enumerate(offsets) if s < c_end and e > c_start]
        spans.append((hit[0], hit[-1] + 1) if hit else (0, 0))
    return box_scores(token_logprobs, spans)

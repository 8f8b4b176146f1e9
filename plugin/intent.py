"""Plain-words commands -> which engine call to make ("find all playgrounds" grounds, "describe this" captions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from core.errors import InputError

ASK = "ask"
GROUND = "ground"
CAPTION = "caption"
SEGMENT = "segment"
CLASSIFY = "classify"
KINDS = (ASK, GROUND, CAPTION, SEGMENT, CLASSIFY)


@dataclass(frozen=True)
class Intent:
    """What the user asked for.

    Attributes:
        kind: one of ``ask``, ``ground``, ``caption``, ``segment``, ``classify``.
        query: the question (ask), the referring expression (ground), or ``""``.
        choices: answer options for a multiple-choice question, or scene labels for classify.
    """

    kind: str
    query: str = ""
    choices: Optional[tuple[str, ...]] = None


# Trailing words that only restate the target ("in this area", "here", "in the box").
_WHERE = r"(?:\s+(?:in|on|of|for|within|inside|across|over)\s+(?:this|the|that|my)\s+" \
         r"(?:area|region|view|box|image|map|scene|extent|selection|feature|polygon))?(?:\s+here)?"
_GROUND = re.compile(
    r"^(?:please\s+)?(?:find|locate|detect|highlight|mark|show\s+me|point\s+out|where\s+(?:is|are)|ground)"
    r"\s+(?:(?:all|every|each|any|the|a|an)\s+)*(?P<what>.+?)" + _WHERE + r"\s*[?.!]*$",
    re.IGNORECASE,
)
_CAPTION = re.compile(
    r"^(?:please\s+)?(?:describe|caption|summari[sz]e|tell\s+me\s+about|what(?:'s|\s+is)\s+(?:in\s+)?(?:this|here))"
    r"(?:\s+(?:this|that|the|it|here|what\s+you\s+see))?"
    r"(?:\s+(?:area|region|view|box|image|map|scene|extent|selection|feature|place))?" + _WHERE + r"\s*[?.!]*$",
    re.IGNORECASE,
)
_SEGMENT = re.compile(
    r"^(?:please\s+)?(?:segment(?:\s+(?:this|the|it))?|(?:map|show|classify)\s+(?:the\s+)?land[\s-]?(?:cover|use)"
    r"|land[\s-]?(?:cover|use)(?:\s+map)?)(?:\s+(?:area|region|view|box|image|map|scene))?" + _WHERE + r"\s*[?.!]*$",
    re.IGNORECASE,
)
_CLASSIFY = re.compile(
    r"^(?:please\s+)?(?:classify(?:\s+(?:this|the|it))?(?:\s+(?:scene|image|area|region|view|box))?"
    r"|what\s+(?:kind|type|sort)\s+of\s+(?:scene|place|area|landscape|region)\s+is\s+(?:this|it|here|that)"
    r"|scene\s+classification)(?:\s+as\s+(?P<labels>.+?))?" + _WHERE + r"\s*[?.!]*$",
    re.IGNORECASE,
)
CHOICE_SEPARATOR = "|"  # between the choices of a multiple-choice question everywhere: chat, Processing, CLI
# "Is it mostly urban or rural? (urban|rural)" -> multiple choice.
_CHOICES = re.compile(r"^(?P<question>.+?)\s*\((?P<choices>[^()]*\|[^()]*)\)\s*$")


def split_choices(text: str | None) -> list[str] | None:
    """``"yes | no"`` -> ``["yes", "no"]``: the choices of a multiple-choice question, separated by ``|``.

    Empty text -> None (an open question). The engine checks the list (at least two, none empty, none twice).

    Raises:
        InputError: one choice that holds a comma or a slash: most likely the wrong separator.
    """
    if text is None or not text.strip():
        return None
    choices = [c.strip() for c in text.split(CHOICE_SEPARATOR)]
    if len(choices) == 1 and re.search(r"[,/]", choices[0]):
        raise InputError(f"Separate the choices with '{CHOICE_SEPARATOR}', e.g. 'yes|no' (got '{text.strip()}').")
    return choices


def _split_labels(text: str) -> tuple[str, ...]:
    """Scene labels in words: ``"urban|rural"``, or ``"urban, rural or coastal"``."""
    if CHOICE_SEPARATOR in text:
        parts = text.strip(" ?.!").split(CHOICE_SEPARATOR)
    else:
        parts = re.split(r"\s*(?:,|\bor\b|\band\b)\s*", text.strip(" ?.!"))
    return tuple(p.strip() for p in parts if p.strip())


def parse_intent(text: str) -> Intent:
    """Turn what the user typed into an :class:`Intent`.

    Commands are recognised by their first words; anything else is a question for ``ask``.

    Args:
        text: the user's words, e.g. ``"find all playgrounds"`` or ``"How much of this is forest?"``.

    Returns:
        The intent; ``ground`` keeps the object phrase (``"playgrounds"``) as its query.

    Raises:
        InputError: when ``text`` is empty.
    """
    words = " ".join((text or "").split())
    if not words.strip(" ?.!"):
        raise InputError("Type a question or a command first (for example: describe this).")
    m = _CLASSIFY.match(words)
    if m:
        labels = _split_labels(m.group("labels")) if m.group("labels") else None
        return Intent(CLASSIFY, "", labels or None)
    if _SEGMENT.match(words):
        return Intent(SEGMENT)
    if _CAPTION.match(words):
        return Intent(CAPTION)
    m = _GROUND.match(words)
    if m and m.group("what").strip(" ?.!"):
        return Intent(GROUND, m.group("what").strip(" ?.!"))
    m = _CHOICES.match(words)
    if m:
        choices = tuple(c.strip() for c in m.group("choices").split(CHOICE_SEPARATOR) if c.strip())
        if len(choices) >= 2:
            return Intent(ASK, m.group("question").strip(), choices)
    return Intent(ASK, words)

"""The one place for prompt formats (text after the image and semantic tokens) and training targets.

The language model sees ``[image tokens][semantic-augmented tokens]`` and then the text built here, as
the user turn of its chat template. Retrieved descriptions go to the visual prompter as semantic tokens
(paper 001, III-A1), not into this text: SmolLM2 has 2,048 tokens of context and three descriptions cost
several hundred. ``include_retrieved=True`` puts them in the text too (an ablation; record it in reports).
Land-cover statistics (core.stats.describe_stats) come first, clipped to ``MAX_OBJECTS_CHARS``.

Formats (``PROMPT_VERSION = "earthask-prompts-1"``), ``objects_text`` given, ``include_retrieved`` off:

vqa, multiple choice (``choices`` given; the answer is the choice text exactly, e.g. ``"no"``)::

    Land cover: water: 31.2% (31.8 ha), 2 objects, centroid east; building: 5.0% (5.1 ha), ...
    Question: Are there any ponds in the east?
    Choices:
    A. yes
    B. no
    Answer with the text of one choice.

vqa, open ended (``choices`` None; answer free, numbers written plainly, e.g. ``"3"``)::

    Land cover: ...
    Question: How many buildings are there?
    Answer the question concisely.

ground (answer ``<box>x1,y1,x2,y2</box>`` per object, 0-999 of the input image, see grounding_text)::

    Land cover: ...
    Locate: the storage tanks next to the road
    Answer with <box>x1,y1,x2,y2</box> for each object, coordinates 0-999 of the image.

caption (``query`` replaces the instruction when given)::

    Land cover: ...
    Describe the image in one or two sentences.

classify (paper 001, IV-B2 wording; the answer is one category's text)::

    Choose the best category describe the image from: airport, bare land, beach, forest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from models.grounding_text import format_boxes

PROMPT_VERSION = "earthask-prompts-1"
TASKS = ("vqa", "ground", "caption", "classify")
MAX_OBJECTS_CHARS = 600  # about 150 tokens
MAX_RETRIEVED_CHARS = 200  # per description, only with include_retrieved

OBJECTS_PREFIX = "Land cover: "
RETRIEVED_PREFIX = "Related descriptions: "
QUESTION_PREFIX = "Question: "
CHOICES_HEADER = "Choices:"
MC_INSTRUCTION = "Answer with the text of one choice."
OPEN_INSTRUCTION = "Answer the question concisely."
GROUND_PREFIX = "Locate: "
GROUND_INSTRUCTION = "Answer with <box>x1,y1,x2,y2</box> for each object, coordinates 0-999 of the image."
CAPTION_INSTRUCTION = "Describe the image in one or two sentences."
CLASSIFY_PREFIX = "Choose the best category describe the image from: "
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters (at a ``;`` or space when possible), marked ``...``."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 4]
    at = max(cut.rfind(";"), cut.rfind(" "))
    return (cut[:at] if at > limit // 2 else cut).rstrip(" ;,") + " ..."


def format_number(value: float) -> str:
    """A number as an answer: ``3.0 -> "3"``, ``2.50 -> "2.5"``."""
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def build_prompt(task: str, query: str, objects_text: str = "", retrieved: Sequence[str] = (),
                 choices: Sequence[str] | None = None, include_retrieved: bool = False) -> str:
    """The text part of the prompt for ``task`` (see the module docstring for each format).

    Raises:
        ValueError: unknown task, an empty query for vqa/ground, no categories for classify, or over 26
            multiple-choice options.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {TASKS}")
    query = " ".join(query.split())
    lines = []
    if objects_text.strip():
        lines.append(OBJECTS_PREFIX + _clip(objects_text, MAX_OBJECTS_CHARS))
    if include_retrieved and retrieved:
        lines.append(RETRIEVED_PREFIX + " ".join(
            f"({i}) {_clip(r, MAX_RETRIEVED_CHARS)}" for i, r in enumerate(retrieved, 1)))
    if task in ("vqa", "ground") and not query:
        raise ValueError(f"task {task!r} needs a query")
    if task == "vqa":
        lines.append(QUESTION_PREFIX + query)
        if choices:
            if len(choices) > len(LETTERS):
                raise ValueError(f"{len(choices)} choices: at most {len(LETTERS)}")
            lines.append(CHOICES_HEADER)
            lines += [f"{LETTERS[i]}. {c.strip()}" for i, c in enumerate(choices)]
            lines.append(MC_INSTRUCTION)
        else:
            lines.append(OPEN_INSTRUCTION)
    elif task == "ground":
        lines += [GROUND_PREFIX + query, GROUND_INSTRUCTION]
    elif task == "caption":
        lines.append(query or CAPTION_INSTRUCTION)
    else:
        if not choices:
            raise ValueError("task 'classify' needs the categories as choices")
        lines.append(CLASSIFY_PREFIX + ", ".join(c.strip() for c in choices) + ".")
    return "\n".join(lines)


def build_answer(task: str, answer: str | float | Sequence[Sequence[float]]) -> str:
    """The training target for ``task``: plain text; numbers plainly (``3``); ground: boxes in 0-999.

    ``ground`` takes a list of 0-999 boxes (or text already in the box format).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {TASKS}")
    if task == "ground" and not isinstance(answer, str):
        return format_boxes(answer)  # type: ignore[arg-type]
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        return format_number(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError(f"empty or non-text answer {answer!r} for task {task!r}")
    return " ".join(answer.split())


def _norm(text: str) -> str:
    return re.sub(r"[^\w%.\-]+", " ", text.lower()).strip(" .")


def match_choice(text: str, choices: Sequence[str]) -> int | None:
    """Index of the choice a generated answer names, or None.

    Tried in order: the choice text exactly (case and punctuation ignored), a bare letter (``B``,
    ``(B)``, ``B.``, ``B. no``), then the one longest choice contained in the text.
    """
    said = _norm(text)
    normed = [_norm(c) for c in choices]
    if said in normed:
        return normed.index(said)
    letter = re.fullmatch(r"\(?([A-Z])[).:]?(?:\s+(.*))?", text.strip())
    if letter and LETTERS.index(letter.group(1)) < len(choices):
        index, rest = LETTERS.index(letter.group(1)), letter.group(2)
        if rest is None or re.search(rf"(?<!\w){re.escape(normed[index])}(?!\w)", _norm(rest)):
            return index
        return None  # "A. no": the letter and the text disagree
    found = [i for i, c in enumerate(normed) if c and re.search(rf"(?<!\w){re.escape(c)}(?!\w)", said)]
    # a choice inside another named choice ("10%" in "0%-10%") does not count on its own
    best = [i for i in found if not any(j != i and normed[i] in normed[j] for j in found)]
    return best[0] if len(best) == 1 else None

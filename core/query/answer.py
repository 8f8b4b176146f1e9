"""The answer a user gets: measured when the question parses, else the model's words checked where they can be."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from core.query.check import corrected, find_claims, summary
from core.query.execute import execute
from core.query.facts import AreaFacts
from core.query.parse import parse_question


@dataclass
class Answer:
    """What :func:`answer_question` decided; the engine turns it into an ``AnswerResult``."""

    answer: str
    source: str  # measured | model | checked
    explanation: str = ""
    query: Optional[dict[str, Any]] = None
    figures: list[dict[str, Any]] = field(default_factory=list)
    model_answer: Optional[str] = None
    overruled: bool = False
    generated: Any = None  # the model's generation, when the model answered


NO_ANSWER = "The language model gave no answer."


def answer_question(question: str, facts: AreaFacts, choices: Optional[Sequence[str]],
                    ask_model: Callable[[], Any], match_choice: Callable[[str, list[str]], Optional[int]],
                    rank_choices: Optional[Callable[[], int]] = None) -> Answer:
    """Measured answer for a question the query layer parses; else the model's, checked against ``facts``.

    Args:
        ask_model: runs the language model on the question; returns an object with ``.text``.
        match_choice: maps a model's text to a choice index (multiple choice), or None.
        rank_choices: the index of the choice the model scores likeliest, for when its words name none
            (multiple choice then always answers with a choice, and says how it was picked).
    """
    query = parse_question(question, facts.classes)
    if query is not None:
        m = execute(query, facts, choices)
        return Answer(m.answer, "measured", m.sentence, query.to_dict(), [asdict(f) for f in m.figures])
    gen = ask_model()
    text = gen.text.strip()
    if choices:
        picked = match_choice(text, list(choices))
        if picked is None and rank_choices is not None:
            said = f"'{text}'" if text else "nothing"
            chosen = list(choices)[rank_choices()]
            return Answer(chosen, "model", f"the language model wrote {said}, which names no choice; "
                          f"'{chosen}' is the choice it scores likeliest", model_answer=text, generated=gen)
        text = list(choices)[picked] if picked is not None else text
    return check_text(text, facts, gen)


def check_text(text: str, facts: AreaFacts, gen: Any = None) -> Answer:
    """The model's text as an answer: ``model`` when it states no measurable figure, else ``checked``."""
    if not text:
        return Answer(NO_ANSWER, "model", "the language model wrote nothing", model_answer="", generated=gen)
    claims = find_claims(text, facts)
    if not claims:
        return Answer(text, "model", "written by the language model; it states no figure the land-cover map "
                      "measures", generated=gen)
    figures = [{"name": c.label, "value": None if c.measured != c.measured else c.measured, "unit": c.unit,
                "text": f"{c.word} ({c.evidence})" if c.word else (f"{c.measured:.1f}%" if c.unit == "%" else
                                    "not countable at this pixel size" if c.measured != c.measured else
                                    f"{int(c.measured)} objects")}
               for c in claims]
    bad = any(not c.agrees for c in claims)
    return Answer(corrected(text, claims) if bad else text, "checked", summary(claims), None, figures,
                  model_answer=text, overruled=bad, generated=gen)

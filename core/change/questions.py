"""Questions about change ("how much forest was lost?") -> a typed query, answered from the from-to matrix."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

from core.errors import InputError
from core.landcover.words import find_classes, normalise
from core.query.execute import area_text, mass
from core.query.types import Figure, MeasuredAnswer

CHANGE_KINDS = (
    "lost",  # how much of a class went to other classes (gross loss), and its net change
    "gained",  # how much of a class came from other classes (gross gain), and its net change
    "grew",  # yes/no: did the class's area grow (or shrink), beyond the noise floor
    "where",  # where a class appeared (gain) or disappeared (loss)
    "became",  # what a class turned into (its row of the matrix)
    "replaced",  # what a class replaced (its column of the matrix)
)
EXAMPLES = ("how much forest was lost?", "where did new buildings appear?", "did the water area grow?",
            "what did the farmland become?")
_BECAME = re.compile(r"\b(become|became|turned into|turn into|turned to|converted (in)?to|changed (in)?to|"
                     r"replaced by|what happened to)\b")
_REPLACED = re.compile(r"\b(what did .* replace|replaced what|what was there before|used to be|was before)\b")
_LOSS = re.compile(r"\b(lost|lose|loses|losing|loss|disappear|disappeared|disappears|cleared|removed|destroyed|"
                   r"decrease|decreased|decreases|shrink|shrank|shrunk|shrunken|gone|cut down|felled|drained|"
                   r"reduced|less|fewer|demolished|vanished)\b")
_GAIN = re.compile(r"\b(gain|gained|gains|new|appear|appeared|appears|added|built|grow|grew|grown|increase|"
                   r"increased|increases|expand|expanded|expands|more|created|spread|emerged)\b")
_WHERE = re.compile(r"^(where|whereabouts)\b|\b(where|which part|which side|located)\b")
_YES_NO = re.compile(r"^(did|does|do|has|have|was|were|is|are)\b")
_CHANGE = re.compile(r"\b(change|changed|changes|changing)\b")


@dataclass
class ChangeQuery:
    """What a change question asks: ``kind`` (see :data:`CHANGE_KINDS`) about one class."""

    kind: str
    cls: str
    direction: str = ""  # where/grew: 'gain' or 'loss'

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v}


def parse_change_question(question: str, classes: Optional[Sequence[str]] = None) -> ChangeQuery:
    """The change query a question asks.

    Raises:
        InputError: the question names no class, several, or no change the matrix measures (one sentence,
            with examples).
    """
    t = normalise(question)
    found = list(dict.fromkeys(c for _, c, _ in find_classes(t, classes)))
    if len(found) != 1:
        what = "names no land-cover class" if not found else f"names {len(found)} classes ({', '.join(found)})"
        raise InputError(f"The change question {what}; ask about one class, e.g. "
                         f"{'; '.join(repr(e) for e in EXAMPLES)}.")
    cls = found[0]
    loss, gain = _LOSS.search(t), _GAIN.search(t)
    direction = "loss" if loss and (not gain or loss.start() < gain.start()) else ("gain" if gain else "")
    if _REPLACED.search(t):
        return ChangeQuery("replaced", cls)
    if _BECAME.search(t):
        return ChangeQuery("became", cls)
    if _WHERE.search(t) and (direction or _CHANGE.search(t)):
        return ChangeQuery("where", cls, direction or "gain")
    if _YES_NO.search(t) and direction:
        return ChangeQuery("grew", cls, "gain" if direction == "gain" else "loss")
    if direction == "loss":
        return ChangeQuery("lost", cls)
    if direction == "gain":
        return ChangeQuery("gained", cls)
    if _CHANGE.search(t):
        return ChangeQuery("became", cls)
    raise InputError(f"The question asks no change the maps measure; ask e.g. {'; '.join(repr(e) for e in EXAMPLES)}.")


def answer_change(question: str, result: Any, classes: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """The measured answer of a change question as a dict: question, answer, sentence, figures, query, source."""
    q = parse_change_question(question, classes)
    m = execute_change(q, result)
    return {"question": question.strip(), "answer": m.answer, "sentence": m.sentence, "source": "measured",
            "how": m.how, "query": q.to_dict(), "figures": [asdict(f) for f in m.figures]}


def execute_change(q: ChangeQuery, r: Any) -> MeasuredAnswer:
    """The measured answer of ``q`` over a :class:`core.change.result.ChangeResult`."""
    from core.change.result import HOW

    run = {"lost": _lost, "gained": _gained, "grew": _grew, "where": _where, "became": _became,
           "replaced": _replaced}[q.kind]
    ans = run(q, r)
    ans.how = HOW
    ans.sentence += " " + r.overlap_sentence() + " " + _floor(r)
    return ans


def _floor(r: Any) -> str:
    return (f"Changes below the noise floor are not counted (the segmentation disagrees with itself on "
            f"{100 * r.noise.disagreement:.1f}% of unchanged ground).")


def _moves(r: Any, cls: str, out: bool) -> list[Any]:
    """Reported changes out of (``out``) or into ``cls``, largest first."""
    rows = [t for t in r.reported() if (t.from_class == cls if out else t.to_class == cls)]
    return sorted(rows, key=lambda t: -t.area_m2)


def _list(rows: list[Any], out: bool) -> str:
    return ", ".join(f"{area_text(t.area_m2)} to {mass(t.to_class)}" if out else
                     f"{area_text(t.area_m2)} from {mass(t.from_class)}" for t in rows)


def _net(r: Any, cls: str) -> tuple[float, float, float]:
    return r.before_area(cls), r.after_area(cls), r.after_area(cls) - r.before_area(cls)


def _signed(m2: float) -> str:
    return ("+" if m2 > 0 else "-" if m2 < 0 else "") + area_text(abs(m2))


def _lost(q: ChangeQuery, r: Any) -> MeasuredAnswer:
    rows = _moves(r, q.cls, out=True)
    lost = sum(t.area_m2 for t in rows)
    b, a, net = _net(r, q.cls)
    share = 100 * lost / b if b > 0 else 0.0
    figs = [Figure(f"{q.cls} lost", round(lost, 1), "m2", f"{area_text(lost)} ({share:.1f}% of it)"),
            Figure(f"{q.cls} net change", round(net, 1), "m2", f"{_signed(net)} ({area_text(b)} -> {area_text(a)})")]
    if not rows:
        return MeasuredAnswer("none", f"No {mass(q.cls)} was lost above the noise floor ({area_text(b)} on the first "
                              f"date, {area_text(a)} on the second), {HOW_TEXT}.", figs, 0.0, "m2")
    return MeasuredAnswer(area_text(lost), f"{area_text(lost)} of {mass(q.cls)} was lost ({share:.1f}% of its "
                          f"{area_text(b)}): {_list(rows, True)}; net change {figs[1].text}, {HOW_TEXT}.", figs,
                          round(lost, 1), "m2")


def _gained(q: ChangeQuery, r: Any) -> MeasuredAnswer:
    rows = _moves(r, q.cls, out=False)
    gained = sum(t.area_m2 for t in rows)
    b, a, net = _net(r, q.cls)
    figs = [Figure(f"{q.cls} gained", round(gained, 1), "m2", area_text(gained)),
            Figure(f"{q.cls} net change", round(net, 1), "m2", f"{_signed(net)} ({area_text(b)} -> {area_text(a)})")]
    objs = next((o for o in r.objects if o.cls == q.cls), None)
    new = ""
    if objs is not None and objs.counted and objs.appeared:
        new = f"; {objs.appeared} new {_objects(q.cls, objs.appeared)}"
    elif objs is not None and not objs.counted:
        new = f"; not counted as objects: {objs.why}"
    if not rows:
        return MeasuredAnswer("none", f"No new {mass(q.cls)} above the noise floor ({area_text(b)} on the first "
                              f"date, {area_text(a)} on the second), {HOW_TEXT}.", figs, 0.0, "m2")
    return MeasuredAnswer(area_text(gained), f"{area_text(gained)} of new {mass(q.cls)}: {_list(rows, False)}{new}; "
                          f"net change {figs[1].text}, {HOW_TEXT}.", figs, round(gained, 1), "m2")


def _objects(cls: str, n: int) -> str:
    from core.query.execute import noun

    return noun(cls, n)


def _grew(q: ChangeQuery, r: Any) -> MeasuredAnswer:
    gain = sum(t.area_m2 for t in _moves(r, q.cls, out=False))
    loss = sum(t.area_m2 for t in _moves(r, q.cls, out=True))
    b, a, net = _net(r, q.cls)
    change = gain - loss  # what the reported changes add up to; below the floor, nothing changed
    fig = Figure(f"{q.cls} net change", round(change, 1), "m2",
                 f"{_signed(change)} ({area_text(gain)} gained, {area_text(loss)} lost)")
    figs = [fig, Figure(f"{q.cls} area", round(a, 1), "m2", f"{area_text(b)} -> {area_text(a)}")]
    asked_gain = q.direction == "gain"
    if change == 0:
        return MeasuredAnswer("no", f"No: {mass(q.cls)} shows no change above the noise floor ({area_text(b)} on the "
                              f"first date, {area_text(a)} on the second), {HOW_TEXT}.", figs, 0.0, "m2")
    holds = change > 0 if asked_gain else change < 0
    word = "grew" if change > 0 else "shrank"
    return MeasuredAnswer("yes" if holds else "no", f"{'Yes' if holds else 'No'}: {mass(q.cls)} {word} by "
                          f"{area_text(abs(change))} ({fig.text}; {figs[1].text}), {HOW_TEXT}.", figs,
                          round(change, 1), "m2")


def _where(q: ChangeQuery, r: Any) -> MeasuredAnswer:
    gain = q.direction != "loss"
    patches = [p for p in r.patches if (p.to_class if gain else p.from_class) == q.cls]
    what = f"new {mass(q.cls)}" if gain else f"{mass(q.cls)} lost"
    if not patches:
        return MeasuredAnswer("nowhere", f"Nowhere: no {what} above the noise floor, {HOW_TEXT}.")
    by_pos: dict[str, float] = {}
    for p in patches:
        by_pos[p.position] = by_pos.get(p.position, 0.0) + p.area_m2
    ranked = sorted(by_pos.items(), key=lambda kv: -kv[1])
    total = sum(by_pos.values())
    figs = [Figure(f"{q.cls} {'gain' if gain else 'loss'} in the {pos}", round(m2, 1), "m2",
                   f"{area_text(m2)} in the {pos}") for pos, m2 in ranked[:3]]
    top = patches[0]
    return MeasuredAnswer(ranked[0][0], f"Mostly in the {ranked[0][0]}: {', '.join(f.text for f in figs)} of "
                          f"{area_text(total)} of {what} in {len(patches)} patches; the largest "
                          f"({area_text(top.area_m2)}, {top.from_class} -> {top.to_class}) is in the "
                          f"{top.position}, {HOW_TEXT}.", figs)


def _became(q: ChangeQuery, r: Any) -> MeasuredAnswer:
    rows = _moves(r, q.cls, out=True)
    b = r.before_area(q.cls)
    kept = r.area(q.cls, q.cls)
    figs = [Figure(f"{q.cls} -> {t.to_class}", round(t.area_m2, 1), "m2",
                   f"{area_text(t.area_m2)} ({100 * t.area_m2 / b:.1f}%) {mass(t.to_class)}") for t in rows if b > 0]
    if b <= 0:
        return MeasuredAnswer("none", f"There is no {mass(q.cls)} on the first date, {HOW_TEXT}.")
    stay = f"{100 * kept / b:.1f}% of the {area_text(b)} of {mass(q.cls)} stayed {mass(q.cls)}"
    if not rows:
        return MeasuredAnswer(f"it stayed {mass(q.cls)}", f"It stayed {mass(q.cls)}: {stay}, and no change above the "
                              f"noise floor, {HOW_TEXT}.", figs)
    names = ", ".join(mass(t.to_class) for t in rows)
    return MeasuredAnswer(names, f"{mass(q.cls).capitalize()} became {', '.join(f.text for f in figs)}; {stay}, "
                          f"{HOW_TEXT}.", figs)


def _replaced(q: ChangeQuery, r: Any) -> MeasuredAnswer:
    rows = _moves(r, q.cls, out=False)
    if not rows:
        return MeasuredAnswer("nothing", f"No new {mass(q.cls)} above the noise floor, {HOW_TEXT}.")
    figs = [Figure(f"{t.from_class} -> {q.cls}", round(t.area_m2, 1), "m2",
                   f"{area_text(t.area_m2)} of {mass(t.from_class)}") for t in rows]
    names = ", ".join(mass(t.from_class) for t in rows)
    return MeasuredAnswer(names, f"New {mass(q.cls)} replaced {', '.join(f.text for f in figs)}, {HOW_TEXT}.", figs)


HOW_TEXT = "measured from the land-cover maps of the two dates"

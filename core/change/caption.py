"""The change caption: the language model's short narrative around the measured from-to figures, checked where it
states an area or a share, and replaced by the measurement where it disagrees."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Optional

from core.change.result import area_text
from core.landcover.words import find_classes, normalise

PROMPT = "Describe in two sentences what changed between the two dates."
AREA_TOLERANCE = 0.1  # a stated area within 10% of a measured one (or within its own rounding) agrees
SHARE_TOLERANCE = 2.0  # percentage points
_UNITS = {"m2": 1.0, "m²": 1.0, "square metres": 1.0, "square meters": 1.0, "ha": 1e4, "hectares": 1e4,
          "hectare": 1e4, "km2": 1e6, "km²": 1e6, "square kilometres": 1e6, "square kilometers": 1e6}
_AREA = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(" + "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True))
                   + r")(?![a-z])")
_SHARE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|percent\b|per cent\b)")
_WHOLE = re.compile(r"^\s*(?:of|in|across)\s+(?:the|this)\s+(?:whole\s+|entire\s+|compared\s+)?"
                    r"(?:area|scene|image|region|map|place)\b")  # "30% of the area": the total, whatever class is near
_LOSS = re.compile(r"\b(lost|loss|cleared|drained|removed|disappeared|gone|fewer|less|shrank|decreased|cut)\b")
_GAIN = re.compile(r"\b(new|gained|gain|appeared|built|added|grew|more|increased|expanded|replaced)\b")


_BECAME = re.compile(r"\b(?:became|become|becomes|turned into|turned to|turns into|(?:was|were) converted (?:in)?to|"
                     r"changed (?:in)?to|gave way to|(?:was|were) replaced by)\b")
_CLAUSE = re.compile(r"[^,;.!?]+?(?=\band\b|[,;.!?]|$)")


@dataclass
class ChangeClaim:
    """An area or share the model stated, the measured figure it was compared with, and whether they agree."""

    text: str  # the words that state it ("0.6 ha")
    kind: str  # "area" | "share" | "pair" (a stated from -> to change)
    stated: float  # m2 for an area, percent for a share (0 for a pair)
    measured: float
    what: str  # which measured figure ("forest lost", "changed in all")
    agrees: bool
    span: tuple[int, int]


def facts_text(result: Any, limit: int = 6) -> str:
    """The measured figures the model is given: the total change, the largest from-to pairs and the noise floor."""
    rows = result.reported()
    if not rows:
        return f"Measured: no change above the noise floor over {area_text(result.compared_m2)}."
    share = 100 * result.changed_m2 / result.compared_m2 if result.compared_m2 else 0.0
    pairs = "; ".join(f"{t.from_class} became {t.to_class}: {area_text(t.area_m2)}" for t in rows[:limit])
    total = area_text(result.compared_m2)
    return f"Measured change: {area_text(result.changed_m2)} ({share:.1f}% of {total}). {pairs}."


def _figures(result: Any, cls: Optional[str], loss: bool, gain: bool) -> list[tuple[str, float, float]]:
    """(name, area m2, share %) of the measured figures a statement about ``cls`` may mean, likeliest first."""
    out = []
    if cls is not None:
        lost = sum(t.area_m2 for t in result.reported() if t.from_class == cls)
        new = sum(t.area_m2 for t in result.reported() if t.to_class == cls)
        b = result.before_area(cls)
        base = [(f"{cls} lost", lost, 100 * lost / b if b else 0.0),
                (f"{cls} gained", new, 100 * new / b if b else 0.0)]
        out += base[::-1] if gain and not loss else base
        out += [(f"{t.from_class} -> {t.to_class}", t.area_m2, 100 * t.share) for t in result.reported()
                if cls in (t.from_class, t.to_class)]
    total = 100 * result.changed_m2 / result.compared_m2 if result.compared_m2 else 0.0
    out.append(("changed in all", result.changed_m2, total))
    return out


def _class_near(low: str, start: int, end: int, classes: list[str]) -> Optional[str]:
    """The class named closest to a figure within its sentence, at most six words away."""
    left = max(low.rfind(c, 0, start) for c in ".;!?\n") + 1
    rights = [i for i in (low.find(c, end) for c in ".;!?\n") if i >= 0]
    right = min(rights) if rights else len(low)
    before, after = normalise(low[left:start]).split(), normalise(low[end:right]).split()
    hits = find_classes(" ".join(before + ["#"] + after), classes)
    if not hits:
        return None
    pos = len(before)
    idx, cls, _ = min(hits, key=lambda h: (abs(h[0] - pos), h[0] < pos))
    return cls if abs(idx - pos) <= 6 else None


def _close(stated: float, measured: float, digits: str) -> bool:
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return abs(stated - measured) <= max(AREA_TOLERANCE * abs(measured), 0.5 * 10 ** -decimals)


def find_change_claims(text: str, result: Any) -> list[ChangeClaim]:
    """Areas and shares the text states, each compared with the measured figures it may mean (it agrees when it
    matches any of them)."""
    low = text.lower()
    claims = []
    spans = [(m, "area") for m in _AREA.finditer(low)] + [(m, "share") for m in _SHARE.finditer(low)]
    for m, kind in sorted(spans, key=lambda s: s[0].start()):
        whole = _WHOLE.match(low[m.end():])
        cls = None if whole else _class_near(low, m.start(), m.end(), list(result.classes))
        sentence = low[max(low.rfind(".", 0, m.start()), 0):m.end() + 40]
        options = _figures(result, cls, bool(_LOSS.search(sentence)), bool(_GAIN.search(sentence)))
        digits = m.group(1).replace(",", "")
        if kind == "area":
            unit = _UNITS[m.group(2)]
            stated = float(digits) * unit
            hit = next((o for o in options if _close(float(digits), o[1] / unit, digits)), None)
            best = hit or options[0]
            claims.append(ChangeClaim(m.group(0), kind, stated, best[1], best[0], hit is not None, m.span()))
        else:
            stated = float(digits)
            hit = next((o for o in options if abs(stated - o[2]) <= SHARE_TOLERANCE), None)
            best = hit or options[0]
            claims.append(ChangeClaim(m.group(0), kind, stated, best[2], best[0], hit is not None, m.span()))
    return claims


def find_pair_claims(text: str, result: Any) -> list[ChangeClaim]:
    """"forest became barren land": each from -> to the text states, checked against the reported pairs (the
    measured figure is the pair's area; 0 when it was not reported). ``what`` is the pair, ``text`` the clause."""
    from core.query.execute import mass

    low = text.lower()
    claims = []
    reported = {(t.from_class, t.to_class): t.area_m2 for t in result.reported()}
    for m in _CLAUSE.finditer(low):
        clause = re.sub(r"^\s*(?:and\s+)?", "", m.group(0)).rstrip()
        verb = _BECAME.search(clause)
        if not verb:
            continue
        left = find_classes(normalise(clause[:verb.start()]), list(result.classes))
        right = find_classes(normalise(clause[verb.end():]), list(result.classes))
        if not left or not right or left[-1][1] == right[0][1]:
            continue
        src, dst = left[-1][1], right[0][1]
        start = m.start() + m.group(0).index(clause)
        ok = (src, dst) in reported
        if ok:
            what, measured = f"{src} -> {dst}", reported[(src, dst)]
        else:  # the measured fate of ``src``: its largest reported change, else that it stayed
            out = max(((d, a) for (f, d), a in reported.items() if f == src), key=lambda x: x[1], default=None)
            what = f"{mass(src)} became {mass(out[0])}" if out else f"{mass(src)} did not change above the noise floor"
            measured = out[1] if out else 0.0
        claims.append(ChangeClaim(clause, "pair", 0.0, measured, what, ok, (start, start + len(clause))))
    return claims


def _measured_words(c: ChangeClaim) -> str:
    if c.kind == "pair":
        return c.what
    return area_text(c.measured) if c.kind == "area" else f"{c.measured:.1f}%"


def _verdict(c: ChangeClaim) -> str:
    if c.kind == "pair":
        return f"'{c.text}' {'agrees with the maps' if c.agrees else 'was replaced by what they show: ' + c.what}"
    return f"'{c.text}' ({c.what}) {'agrees with' if c.agrees else 'was replaced by'} the measured {_measured_words(c)}"


def check_change_caption(text: str, result: Any) -> dict[str, Any]:
    """The caption as the user gets it: ``model`` when it states no figure or from-to change, else ``checked`` (a
    figure or a change that disagrees is replaced by the measured one; the model's words are kept as
    ``model_caption``)."""
    text = text.strip()
    if not text:
        return {"caption": " ".join(result.summary()[:1]), "source": "measured", "model_caption": "",
                "overruled": False, "figures": [], "explanation": "the language model wrote nothing: the measured "
                "summary is shown"}
    claims = sorted(find_change_claims(text, result) + find_pair_claims(text, result), key=lambda c: c.span[0])
    claims = [c for c in claims if not any(  # a figure inside an "X became Y" clause that is replaced whole
        o.kind == "pair" and not o.agrees and o is not c and o.span[0] <= c.span[0] and c.span[1] <= o.span[1]
        for o in claims)]
    if not claims:
        return {"caption": text, "source": "model", "model_caption": text, "overruled": False, "figures": [],
                "explanation": "written by the language model; it states no area, share or from-to change the maps "
                "measure"}
    fixed = text
    for c in sorted((c for c in claims if not c.agrees), key=lambda c: -c.span[0]):
        fixed = fixed[:c.span[0]] + _measured_words(c) + fixed[c.span[1]:]
    bad = [c for c in claims if not c.agrees]
    said = "; ".join(_verdict(c) for c in claims)
    return {"caption": fixed, "source": "checked", "model_caption": text, "overruled": bool(bad),
            "figures": [{"name": c.what, "text": _measured_words(c), "stated": c.text, "agrees": c.agrees}
                        for c in claims],
            "explanation": f"checked against the land-cover maps of the two dates: {said}",
            "claims": [asdict(c) for c in claims]}


def write_change_caption(engine: Any, result: Any, image_area: Any, on_text: Any = None,
                         cancelled: Any = None) -> dict[str, Any]:
    """The language model's narrative on the second date's image, given the measured figures; checked."""
    from core.progress import check_cancelled

    def stream(piece: str) -> None:
        check_cancelled(cancelled)
        if on_text is not None:
            on_text(piece)

    image = engine.image(image_area)
    out = engine.loaded.model.generate(image, "vqa", PROMPT, facts_text(result), [],
                                       max_new_tokens=engine.config.max_new_tokens, on_text=stream)
    checked = check_change_caption(out.text, result)
    checked["prompt"] = out.prompt
    return checked

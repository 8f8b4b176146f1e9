"""Check a model's free text where it states something measurable (a share, a count, an urban or rural scene, the
class that dominates it) against the measurement."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

from core.data.questions import URBAN_MIN_BUILT
from core.landcover.words import find_classes, normalise
from core.query.facts import AreaFacts
from core.query.parse import COUNTABLE

SHARE_TOLERANCE = 5.0  # percentage points: a stated share within this of the measured one agrees
_PCT = re.compile(r"(\d+(?:\.\d+)?)\s*%?\s*(?:-|to)\s*(\d+(?:\.\d+)?)\s*%|(\d+(?:\.\d+)?)\s*(?:%|percent\b|per cent\b)")
_COUNT = re.compile(r"\b(\d+)\s+([a-z]+)(?:\s+([a-z]+))?")
_TOTAL = re.compile(r"^\W*(?:in total|in all|altogether|overall|(?:are\s+|is\s+)?(?:in|on|across|within) "
                    r"(?:the|this) (?:image|scene|area|photo|picture|tile|map|view|whole|entire))\b")
# "urban" / "rural" scene words (not negated ones: "not urban", "non-urban" are left alone), measured as urban
# queries are: buildings and roads from URBAN_MIN_BUILT of the area
_SCENE = re.compile(r"(?<![\w-])(?<!not )(?<!not an )(?<!non-)(urban|rural|built-up|countryside)\b")
_URBAN_WORDS = {"urban", "built-up"}
# "dominated by water", "mostly forest": the class named must be the largest (within SHARE_TOLERANCE points of it)
_DOMINANT = re.compile(r"\b(?:dominated by|mostly|mainly|predominantly|largely)\s+(?:covered (?:by|in|with)\s+)?"
                       r"(?:the\s+|a\s+|an\s+)?([a-z-]+(?:\s+[a-z-]+)?)")
# A count followed by one of these counts a subset ("3 buildings near the coast"): only a count above the
# total can contradict it.
_SUBSET = re.compile(r"^\W*(?:are\s+|is\s+|lie\s+|sit\s+|stand\s+)?(near|next|along|beside|by|in|on|at|around|with|"
                     r"close|within|of which|that|which|alongside|adjacent|facing|north|south|east|west)\b")


@dataclass
class Claim:
    """A figure the model stated, what was measured, and whether they agree."""

    text: str  # the words that state it ("10%")
    cls: str
    kind: str  # "share" | "count" | "scene" (urban or rural) | "dominant" (the class said to dominate)
    stated: tuple[float, float]  # (low, high): a number is (v, v), a range its bounds
    measured: float
    agrees: bool
    span: tuple[int, int]  # of the figure in the model's text
    word: str = ""  # scene / dominant: the measured word ("rural", "forest")
    evidence: str = ""  # scene / dominant: the figures behind that word

    @property
    def label(self) -> str:
        """What the claim is about, for the one-line summary ("water share", "urban or rural")."""
        return {"scene": "urban or rural", "dominant": "dominant class"}.get(self.kind, f"{self.cls} {self.kind}")

    @property
    def unit(self) -> str:
        return "objects" if self.kind == "count" else "%"


def _clause(low: str, start: int, end: int) -> tuple[int, int]:
    stops = ".;!?\n"
    left = max(low.rfind(c, 0, start) for c in stops) + 1
    rights = [i for i in (low.find(c, end) for c in stops) if i >= 0]
    return left, (min(rights) if rights else len(low))


def _nearest_class(low: str, start: int, end: int, f: AreaFacts) -> Optional[str]:
    """The class named closest to a figure within its clause, at most six words away."""
    left, right = _clause(low, start, end)
    before, after = normalise(low[left:start]).split(), normalise(low[end:right]).split()
    words = before + ["#"] + after
    hits = find_classes(" ".join(words), f.classes)
    if not hits:
        return None
    pos = len(before)
    idx, cls, _ = min(hits, key=lambda h: (abs(h[0] - pos), h[0] < pos))
    return cls if abs(idx - pos) <= 6 else None


def find_claims(text: str, f: AreaFacts) -> list[Claim]:
    """The shares and counts a model's text states about land-cover classes, each compared with the facts."""
    low = text.lower()
    claims: list[Claim] = []
    for m in _PCT.finditer(low):
        cls = _nearest_class(low, m.start(), m.end(), f)
        if cls is None:
            continue
        lo = float(m.group(1) or m.group(3))
        hi = float(m.group(2)) if m.group(2) else lo
        pct = 100 * f.fraction(cls)
        ok = (lo - SHARE_TOLERANCE <= pct <= hi + SHARE_TOLERANCE) if lo == hi else (lo <= pct <= hi)
        claims.append(Claim(text[m.start():m.end()], cls, "share", (lo, hi), round(pct, 2), ok, m.span()))
    for m in _COUNT.finditer(low):
        if any(c.span[0] <= m.start() < c.span[1] for c in claims):
            continue
        cls, after = None, m.end()
        for k in (2, 3):
            word = m.group(k)
            hits = find_classes(word, f.classes) if word else []
            if hits and hits[0][1] in COUNTABLE:
                cls, after = hits[0][1], m.end(k)
                break
        if cls is None:
            continue
        n, span = float(m.group(1)), (m.start(1), m.end(1))
        if not f.countable(cls):  # too coarse to count single objects: the model's count cannot stand
            claims.append(Claim(text[span[0]:span[1]], cls, "count", (n, n), math.nan, False, span))
            continue
        measured = float(f.count(cls))
        tail = low[after:after + 40]
        subset = _SUBSET.match(tail) is not None and _TOTAL.match(tail) is None
        agrees = n <= measured if subset else n == measured
        claims.append(Claim(text[span[0]:span[1]], cls, "count", (n, n), measured, agrees, span))
    claims += _scene_claims(text, low, f, claims)
    return sorted(claims, key=lambda c: c.span)


def _scene_claims(text: str, low: str, f: AreaFacts, taken: list[Claim]) -> list[Claim]:
    """"urban" / "rural" checked against the built-up share; "dominated by X" against the largest class."""
    out: list[Claim] = []
    built = 100 * (f.fraction("building") + f.fraction("road"))
    label = "urban" if built >= 100 * URBAN_MIN_BUILT else "rural"
    for m in _SCENE.finditer(low):
        said = "urban" if m.group(1) in _URBAN_WORDS else "rural"
        evidence = f"buildings and roads {built:.1f}%, urban from {100 * URBAN_MIN_BUILT:.0f}%"
        out.append(Claim(text[m.start(1):m.end(1)], "built-up", "scene", (float(said == "urban"),) * 2,
                         round(built, 2), said == label, m.span(1), label, evidence))
    ranked = sorted(f.stats.classes, key=lambda c: -c.fraction)
    if not ranked:
        return out
    top = ranked[0]
    for m in _DOMINANT.finditer(low):
        first = m.group(1).split()[0]
        one = find_classes(normalise(first), f.classes)  # "forest with": the class is the first word alone
        hits = one or find_classes(normalise(m.group(1)), f.classes)
        span = (m.start(1), m.start(1) + len(first)) if one else m.span(1)
        if not hits or any(c.span[0] < span[1] and span[0] < c.span[1] for c in taken + out):
            continue
        cls = hits[0][1]
        pct = 100 * f.fraction(cls)
        evidence = f"{top.name} {100 * top.fraction:.1f}%" + (f", {cls} {pct:.1f}%" if cls != top.name else "")
        out.append(Claim(text[span[0]:span[1]], cls, "dominant", (pct, pct), round(pct, 2),
                         pct >= 100 * top.fraction - SHARE_TOLERANCE, span, top.name, evidence))
    return out


def corrected(text: str, claims: list[Claim]) -> str:
    """The model's text with every contradicted figure replaced by the measured one, marked as measured."""
    out, last = [], 0
    for c in (c for c in claims if not c.agrees):
        out.append(text[last:c.span[0]])
        if c.word:  # a word: the measured word, with its figures (and "a"/"an" before it to match)
            out[-1] = _article(out[-1], c.word)
            out.append(f"{c.word} [measured: {c.evidence}; the model said {c.text}]")
        elif math.isnan(c.measured):
            out.append(f"[not countable at this pixel size; the model said {c.text}]")
        else:
            figure = f"{c.measured:.1f}%" if c.kind == "share" else f"{int(c.measured)}"
            out.append(f"{figure} [measured; the model said {c.text}]")
        last = c.span[1]
    out.append(text[last:])
    return "".join(out)


def _article(before: str, word: str) -> str:
    """``before`` with a final "a" / "an" made right for ``word`` ("an urban" -> "a rural")."""
    m = re.search(r"\b([Aa])(n?)\s+$", before)
    if m is None:
        return before
    an = "n" if word[:1].lower() in "aeiou" else ""
    return before[:m.start(2)] + an + before[m.end(2):]


def summary(claims: list[Claim]) -> str:
    """One line on what was checked: '2 statements checked against the land-cover map: 1 contradicted it ...'."""
    bad = [c for c in claims if not c.agrees and not math.isnan(c.measured)]
    uncounted = [c for c in claims if math.isnan(c.measured)]
    what = ", ".join(c.label for c in bad)
    head = f"{len(claims)} statement{'s' if len(claims) != 1 else ''} checked against the land-cover map"
    parts = [f"{len(bad)} contradicted it ({what}) and {'was' if len(bad) == 1 else 'were'} replaced by the "
             "measured value"] if bad else []
    if uncounted:
        parts.append(f"{len(uncounted)} counted {', '.join(dict.fromkeys(c.cls + 's' for c in uncounted))}, which "
                     "cannot be counted at this pixel size, and was struck out")
    return head + (": " + "; ".join(parts) if parts else ": all agree")

"""Question -> :class:`Query`, by rules over the words people type; None when the question is not one the
measurement answers (the language model answers those, and says so). The parser never guesses: a question
it cannot place exactly gets None."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Optional

from core.landcover.regions import find_region
from core.landcover.words import find_classes, find_unit, normalise
from core.query.types import Query

COUNTABLE = ("building", "road", "playground")
# Questions the measurement cannot answer even when they name a class.
_OPEN = re.compile(
    r"\b(why|describe|description|explain|could be|should|recommend|suggest|improve|renovation|history|since|"
    r"changed|change|changes|trend|future|predict|used for|use for|purpose|cause|caused|healthy|health|"
    r"quality|polluted|pollution|flooded|age|how old|built in|owner|owns|worth|price|cost|summary|summarise|"
    r"summarize|caption|tell me about|what is happening|condition|damaged|damage|type of crop|which crop|"
    r"what crop|species|depth|deep|height|tall|when|year|years|season|ago|compared to 20|since 20|between 20|"
    r"population|people|residents|live|lives|elevation|traffic|date)\b")
_CLAUSES = re.compile(r"(?<=[.:;!?])\s+|\s+-\s+")
_HOW_MANY = re.compile(r"\b(how many|number of|count of|count the|count|how much of the .*? objects|tally)\b")
_SHARE = re.compile(r"\b(percentage|percent|per cent|proportion|fraction|share|ratio|coverage|how much of|"
                    r"what part of|how much|cover|covers|covered|covering|occup(y|ies|ied)|taken up|takes up|"
                    r"make up|makes up|made up)\b|%")
_AREA = re.compile(r"\b(how large|how big|what area|total area|area of|area covered|size of|extent of|"
                   r"how much area|surface)\b")
_WHERE = re.compile(r"^(where|whereabouts)\b|\b(where is|where are|where's|which part|what part of the (image|"
                    r"scene|area|map|picture|tile) (is|are|has)|which side|which direction|which corner|"
                    r"which quadrant|which region|located|location of|position of|where do|where does)\b")
_URBAN = re.compile(r"\b(rural|urban|built-up|built up|urbani[sz]ed|countryside|city or|town or|suburban)\b")
_LAND_USE = re.compile(r"\b(land[- ]use|land[- ]cover (types|classes|categories|composition|mix|breakdown)|"
                       r"composition|what (kinds|types|sorts) of land|which (kinds|types|sorts) of land|"
                       r"what (classes|categories)|main (cover )?types|breakdown|mix of)\b")
_WATER_TYPES = re.compile(r"\b((kinds?|types?|sorts?) of (water|water bodies|waterbod(y|ies))|water (body )?types?|"
                          r"what water bodies|which water bodies|what kind of water)\b")
_RANK_MOST = re.compile(r"\b(dominant|dominates|dominate|predominant|predominates|prevailing|most common|"
                        r"most widespread|most prevalent|main land ?cover|main cover|primary land ?cover|"
                        r"(largest|biggest|greatest|most|highest|major) (area|share|class|land ?cover|cover|"
                        r"category|type|proportion|part|fraction|portion|percentage)|covers? the most|"
                        r"most (of the )?(area|land|space|ground|scene|image)|mostly|majority)\b")
_RANK_LEAST = re.compile(r"\b(least common|least|rarest|smallest (area|share|class|land ?cover|cover|category|"
                         r"type|proportion|part|fraction|percentage)|covers? the least|lowest (share|coverage|"
                         r"proportion|percentage)|minority)\b")
_RANK_ASK = re.compile(r"^(what|which)\b|\b(what|which) (is|are) the\b|\b(what|which) (class|land ?cover|cover|"
                       r"type|category)\b")
_MORE = re.compile(r"\b(more|larger|bigger|greater|exceed|exceeds|outnumber|outnumbers|dominate|dominates|"
                   r"wider|higher)\b")
_LESS = re.compile(r"\b(less|fewer|smaller|lower|lesser)\b")
_COUNT_WORDS = re.compile(r"\b(fewer|number|numerous|count|outnumber|outnumbers|how many)\b")
_AREA_WORDS = re.compile(r"\b(cover|covers|area|larger|bigger|land|space|extent|surface|share|percentage)\b")
_NEXT_TO = re.compile(r"\b(next to|adjacent|adjoining|adjoin|adjoins|touching|touch|touches|border|borders|"
                      r"bordering|beside|alongside|along|abut|abuts|abutting|right by|directly by|against|"
                      r"bounded by|share a boundary|shares a boundary|meet|meets)\b")
_NEAR = re.compile(r"\b(near|nearby|close to|close by|in the vicinity|vicinity|around|within reach|not far|"
                   r"neighbouring|neighboring|in proximity|proximity)\b")
_PRESENCE = re.compile(r"^(is|are|was|were|does|do|did|can|could you|can you|any|have|has)\b|\b(is there|are there|"
                       r"any|present|visible|exist|exists|contain|contains|include|includes|see|spot|show)\b")
_YES_NO = re.compile(r"^(is|are|does|do|did|has|have|can|could|was|were|will)\b")
# Words allowed between "how many" and the class ("how many separate buildings").
_COUNT_FILLER = {"separate", "individual", "distinct", "different", "big", "large", "small", "little", "of",
                 "the", "visible", "detected", "total", "residential", "isolated", "single", "large-ish",
                 "water", "sports", "discrete", "in", "all", "number", "patches", "patch", "areas", "pieces",
                 "clusters", "groups", "stands", "blocks", "plots", "parcels", "bits", "separated", "contiguous",
                 "connected", "disconnected", "unconnected", "blobs", "regions", "fragments", "chunks"}
_THERE_FILLER = {"a", "an", "any", "some", "the", "large", "big", "small", "little", "open", "visible", "real",
                 "actual", "at", "least", "one", "single", "patch", "patches", "of", "area", "areas", "sign",
                 "signs", "much", "lot", "lots", "sizeable", "significant"}
_WATER_KINDS = re.compile(r"\b(rivers?|lakes?|ponds?|seas?|oceans?|streams?|reservoirs?|canals?)\b")
_ALTERNATIVES = re.compile(r"\b([a-z][a-z-]+) or ([a-z][a-z-]+)\b")
_OK_ALTERNATIVE = {"not", "no", "yes", "rural", "urban", "more", "less", "fewer", "larger", "smaller", "bigger"}
_COMPARE_ORDER = re.compile(r"\b(or|vs|versus|than|compared with|compared to|and)\b")


def parse_question(question: str, classes: Optional[Sequence[str]] = None) -> Optional[Query]:
    """The query a question asks, or None when the measurement cannot answer it or the wording is unclear.

    Context before the question ("I'm writing a flood report: what share is water?") is set aside: the last
    clause is parsed alone when the whole does not parse and the earlier clauses ask nothing themselves.

    Args:
        question: as the user typed it.
        classes: the model's land-cover classes (a question about another class gets None).
    """
    q = _parse(question, classes)
    clauses = [c for c in _CLAUSES.split(question.strip()) if c.strip()]
    if q is None and len(clauses) > 1 and not any("?" in c for c in clauses[:-1]):
        return _parse(clauses[-1], classes)
    return q


def _parse(question: str, classes: Optional[Sequence[str]]) -> Optional[Query]:
    t = normalise(question)
    if not t or _OPEN.search(t):
        return None
    placed = find_region(t)
    region, span = (placed if placed else (None, None))
    body = t if span is None else t[:span[0]] + " " + t[span[1]:]
    found = find_classes(body, classes)
    if classes is not None and len(found) < len(find_classes(body)):  # names a class the model lacks: no guess
        return None
    names = list(dict.fromkeys(cls for _, cls, _ in found))  # in order; a class named twice counts once
    unit = find_unit(t)

    kinds = {m.group(1).rstrip("s") for m in _WATER_KINDS.finditer(body)}
    asks_which = re.search(r"\b(what|which|is the water|is it|is this)\b", body) and not re.search(
        r"\b(contain|contains|any|is there|are there)\b", body)
    if _WATER_TYPES.search(body) or (len(kinds) >= 2 and asks_which):
        return Query("water_types")
    for m in _ALTERNATIVES.finditer(body):  # "residential or industrial": alternatives the map cannot tell apart
        if not any(_known(w, classes) for w in m.groups()):
            return None
    if _URBAN.search(body) and not names:
        asked = set(re.findall(r"\b(rural|urban)\b", body))
        yes_no = len(asked) == 1 and re.match(r"^(is|are)\b", body) is not None and " or " not in body
        return Query("urban", region=region, yes_no=yes_no, order=asked.pop() if yes_no else "")
    if not names and _RANK_ASK.search(body) and re.search(r"\b(most|fewest|least) (objects|patches|instances|pieces)\b",
                                                           body):
        least = re.search(r"\b(fewest|least) (objects|patches|instances|pieces)\b", body) is not None
        return Query("rank", region=region, by="count", order="smallest" if least else "largest")
    if not names and _RANK_ASK.search(body) and re.search(r"\b(class|land ?cover|type|category)\b.*\b(smallest|"
                                                           r"largest|biggest|rarest)\b", body):
        least = re.search(r"\b(smallest|rarest)\b", body) is not None
        return Query("rank", region=region, order="smallest" if least else "largest")
    if _RANK_MOST.search(body) or _RANK_LEAST.search(body):
        least = bool(_RANK_LEAST.search(body)) and not _RANK_MOST.search(body)
        if not names or (names == ["background"]) or re.search(r"\b(apart from|except|besides|other than|"
                                                               r"excluding|ignoring)\b", body):
            if _RANK_ASK.search(body) or not _YES_NO.search(body):
                by = "count" if _COUNT_WORDS.search(body) or re.search(r"\bobjects\b", body) else "area"
                return Query("rank", unit="", region=region, by=by, order="smallest" if least else "largest")
    if _LAND_USE.search(body) and not names:
        return Query("land_use", region=region)
    if not names:
        return None
    if _WHERE.search(body) and len(names) == 1:
        largest = re.search(r"\b(largest|biggest|main|greatest)\b", body)
        if re.search(r"\b(smallest|tiniest)\b", body):
            return None
        return Query("where", names, order="largest" if largest else "")
    count = _HOW_MANY.search(body)
    if count and unit in ("ha", "km2", "m2", "acre", "%") and len(names) == 1:  # "how many hectares of forest"
        return Query("area" if unit != "%" else "share", names, unit=unit, region=region)
    if count:
        return _count(body, count, found, names, region)
    if len(names) == 2:
        return _pair(body, names, region, unit)
    if len(names) > 2:
        return None
    if unit in ("ha", "km2", "m2", "acre") or (_AREA.search(body) and unit != "%"):
        return Query("area", names, unit=unit or "", region=region)
    if unit == "%" or _SHARE.search(body):
        return Query("share", names, unit=unit or "", region=region)
    if _PRESENCE.search(body):
        there = re.search(r"\b(is there|are there|do you see|can you see|any)\b", body)
        if there:  # "is there a bridge over the river": the thing asked about must be the class
            between = body[there.end():].split()[:found[0][0] - len(body[:there.end()].split())]
            if any(w not in _THERE_FILLER for w in between):
                return None
        return Query("presence", names, region=region)
    return None


def _known(word: str, classes: Optional[Sequence[str]]) -> bool:
    """A word an answer can be measured in: a class, a direction, yes/no, rural/urban."""
    from core.landcover.words import find_direction

    return word in _OK_ALTERNATIVE or bool(find_classes(word, classes)) or find_direction(word) is not None


def _count(body: str, count: re.Match, found: list[tuple[int, str, str]], names: list[str],
           region: object) -> Optional[Query]:
    """'how many X (are next to Y)': X must follow the counting words closely."""
    start = len(body[:count.end()].split())
    first = found[0]
    between = body.split()[start:first[0]]
    if any(w not in _COUNT_FILLER for w in between):
        return None
    target = first[1]
    rest = [c for c in names if c != target]
    if not rest:
        return Query("count", [target], region=region)  # type: ignore[arg-type]
    if len(rest) == 1 and (_NEXT_TO.search(body) or _NEAR.search(body)):
        distance = "near" if _NEAR.search(body) and not _NEXT_TO.search(body) else "next_to"
        return Query("count", [target], region=region, near=rest[0], distance=distance)  # type: ignore[arg-type]
    return None


def _pair(body: str, names: list[str], region: object, unit: Optional[str]) -> Optional[Query]:
    """Two classes: adjacency ('is the pond next to a road') or a comparison ('more forest than fields')."""
    if _NEXT_TO.search(body):
        return Query("adjacent", names, distance="next_to")
    if _NEAR.search(body):
        return Query("adjacent", names, distance="near")
    more, less = _MORE.search(body), _LESS.search(body)
    if not (more or less) and not re.search(r"\b(which|what)\b.*\b(or|vs|versus)\b", body):
        return None
    if more and less:
        order = "more" if more.start() < less.start() else "less"
    else:
        order = "less" if less else "more"
    countable = all(c in COUNTABLE for c in names)
    by = "count" if countable and (_COUNT_WORDS.search(body) or not _AREA_WORDS.search(body)) else "area"
    if _COUNT_WORDS.search(body) and re.search(r"\b(fewer|number|how many)\b", body):
        by = "count"
    return Query("compare", names, region=region, by=by, order=order,  # type: ignore[arg-type]
                 yes_no=bool(_YES_NO.search(body)))

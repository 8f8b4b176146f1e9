"""Run a :class:`Query` over :class:`AreaFacts`: the answer, a sentence that quotes its figures, the figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Optional

from core.data.measure import PRESENT_MIN_FRACTION  # the benchmark's rules, so both decide alike
from core.data.questions import LAND_USE_MIN, URBAN_MIN_BUILT
from core.landcover.resolution import COUNT_GSD_M, pixel_text, why_not_counted
from core.landcover.words import UNIT_FACTORS
from core.query.choices import pick_number, pick_words
from core.query.facts import AreaFacts
from core.query.types import Figure, MeasuredAnswer, Query

HOW = "measured from the land-cover map"
_UNIT_TEXT = {"m2": "m²", "ha": "ha", "km2": "km²", "acre": "acres"}
_NOUN = {"building": ("building", "buildings"), "road": ("road", "roads"), "water": ("water body", "water bodies"),
         "barren": ("barren patch", "barren patches"), "forest": ("forest patch", "forest patches"),
         "agriculture": ("field area", "field areas"), "playground": ("playground", "playgrounds"),
         "background": ("other patch", "other patches")}
_MASS = {"water": "water", "forest": "forest", "agriculture": "farmland", "barren": "barren land",
         "building": "buildings", "road": "roads", "playground": "playgrounds", "background": "other land"}


def area_text(m2: float, unit: str = "") -> str:
    """An area in the unit asked ('ha', 'km2', 'm2', 'acre'), else m² below 1 ha, ha below 1 km², km² above."""
    if not unit:
        unit = "m2" if m2 < 1e4 else ("ha" if m2 < 1e6 else "km2")
    v = m2 / UNIT_FACTORS[unit]
    digits = 0 if unit == "m2" or v >= 1000 else (2 if v < 10 else 1)
    return f"{v:,.{digits}f} {_UNIT_TEXT[unit]}"


def noun(cls: str, n: int = 2) -> str:
    """'building'/'buildings' for countable classes; object words for the others ('water bodies')."""
    one, many = _NOUN.get(cls, (cls, cls + "s"))
    return one if n == 1 else many


def mass(cls: str) -> str:
    return _MASS.get(cls, cls)


def _is(cls: str) -> str:
    return "are" if mass(cls).endswith("s") else "is"


def _where(q: Query, f: AreaFacts) -> str:
    return "" if q.region is None or q.region.whole else f" in the {q.region.name}"


def execute(q: Query, f: AreaFacts, choices: Optional[Sequence[str]] = None) -> MeasuredAnswer:
    """The measured answer of ``q``; with ``choices``, the choice that contains the measured value."""
    run = {"share": _share, "area": _area, "count": _count, "presence": _presence, "compare": _compare,
           "rank": _rank, "where": _where_is, "adjacent": _adjacent, "urban": _urban, "land_use": _land_use,
           "water_types": _water_types}[q.kind]
    ans = run(q, f)
    ans.how = HOW
    if choices:
        _choose(ans, q, list(choices))
    return ans


def _choose(ans: MeasuredAnswer, q: Query, choices: list[str]) -> None:
    """Replace the short answer by the choice containing the measured value, and say which."""
    if ans.value is not None and q.kind in ("share", "count", "area"):
        value = ans.value
        idx, exact = pick_number(value, choices)
    else:
        words = [w.strip() for w in ans.answer.replace(" and ", ",").split(",") if w.strip()]
        idx, exact = pick_words(words, choices), True
    if idx is None:
        ans.sentence = f"None of the choices matches the measurement. {ans.sentence}"
        return
    ans.choice = idx
    measured = ans.answer
    ans.answer = choices[idx]
    if exact:
        if not ans.sentence.lower().startswith(choices[idx].strip().lower()):
            ans.sentence = f"{choices[idx]}: {ans.sentence}"
    else:
        ans.sentence = f"{choices[idx]} is the nearest choice; none contains the measured {measured}. {ans.sentence}"


def _share(q: Query, f: AreaFacts) -> MeasuredAnswer:
    cls = q.classes[0]
    s = f.region_stats(q.region)
    frac, m2 = f.fraction(cls, q.region), f.area_m2(cls, q.region)
    pct = 100 * frac
    fig = Figure(f"{cls} share", round(pct, 2), "%", f"{pct:.1f}% ({area_text(m2)} of {area_text(s.valid_area_m2)})")
    verb = "cover" if _is(cls) == "are" else "covers"
    text = f"{mass(cls).capitalize()} {verb} {fig.text}{_where(q, f)}, {HOW}."
    return MeasuredAnswer(f"{pct:.1f}%", text, [fig], round(pct, 2), "%")


def _area(q: Query, f: AreaFacts) -> MeasuredAnswer:
    cls = q.classes[0]
    m2 = f.area_m2(cls, q.region)
    pct = 100 * f.fraction(cls, q.region)
    unit = q.unit if q.unit in UNIT_FACTORS else ""
    shown = area_text(m2, unit)
    fig = Figure(f"{cls} area", round(m2, 1), "m2", f"{shown} ({pct:.1f}% of the area)")
    verb = "cover" if _is(cls) == "are" else "covers"
    text = f"{mass(cls).capitalize()} {verb} {fig.text}{_where(q, f)}, {HOW}."
    value = m2 / UNIT_FACTORS[unit] if unit else None
    return MeasuredAnswer(shown, text, [fig], value, unit)


def _not_counted(q: Query, f: AreaFacts) -> MeasuredAnswer:
    """At pixels too coarse to tell single objects apart: no count, the reason, and the class's measured area."""
    cls = q.classes[0]
    pct, m2 = 100 * f.fraction(cls, q.region), f.area_m2(cls, q.region)
    fig = Figure(f"{cls} share", round(pct, 3), "%", f"{pct:.1f}% ({area_text(m2)})")
    verb = "cover" if _is(cls) == "are" else "covers"
    why = why_not_counted(cls, f.grid.gsd_m)
    return MeasuredAnswer(f"not counted at {pixel_text(f.grid.gsd_m)}", f"Not counted: {why}. "
                          f"{mass(cls).capitalize()} {verb} {fig.text}{_where(q, f) or ' of the area'}, {HOW}.", [fig])


def _count(q: Query, f: AreaFacts) -> MeasuredAnswer:
    cls = q.classes[0]
    if not f.countable(cls):
        return _not_counted(q, f)
    objs = [o for o in f.objects(cls) if f.in_region(o, q.region)]
    extra = ""
    if q.near:
        limit = f.near_m() if q.distance == "near" else f.next_to_m()
        objs = [o for o in objs if f.object_distance(o, q.near) <= limit]
        extra = f" within {limit:.0f} m of {mass(q.near)}"
    n = len(objs)
    size = f" of at least {area_text(f.min_object_m2)}"
    fig = Figure(f"{cls} objects", n, "objects", f"{n} {noun(cls, n)}{extra}{_where(q, f)}")
    text = (f"{n} {noun(cls, n)}{extra}{_where(q, f)}, {HOW}: connected patches{size} (touching "
            f"{noun(cls)} count as one).")
    return MeasuredAnswer(str(n), text, [fig], float(n), "objects")


def _presence(q: Query, f: AreaFacts) -> MeasuredAnswer:
    """Yes when the class covers 0.2% of the area or the map holds any object of it: never "no" beside a
    figure that counts one."""
    cls = q.classes[0]
    frac, n = f.fraction(cls, q.region), f.count(cls, q.region)
    pct = 100 * frac
    fig = Figure(f"{cls} share", round(pct, 3), "%", f"{pct:.2f}%, {n} {noun(cls, n)}" if f.countable(cls) else
                 f"{pct:.2f}%")
    where = _where(q, f) or " in the area"
    if frac >= PRESENT_MIN_FRACTION or n > 0:
        verb = "cover" if _is(cls) == "are" else "covers"
        small = "" if frac >= PRESENT_MIN_FRACTION else " (small: under 0.2% of the area)"
        return MeasuredAnswer("yes", f"Yes: {mass(cls)} {verb} {fig.text}{where}{small}, {HOW}.", [fig])
    if frac > 0:
        return MeasuredAnswer("no", f"No: only specks of {mass(cls)}{where} ({pct:.2f}%), smaller than an "
                              f"object, {HOW}.", [fig])
    return MeasuredAnswer("no", f"No: no {mass(cls)}{_where(q, f)} in the land-cover map ({HOW}).", [fig])


def _compare(q: Query, f: AreaFacts) -> MeasuredAnswer:
    a, b = q.classes
    uncounted = [c for c in (a, b) if not f.countable(c)]
    if q.by == "count" and uncounted:  # compared by area, saying why
        ans = _compare(replace(q, by="area"), f)
        ans.sentence = f"Compared by area: {why_not_counted(uncounted[0], f.grid.gsd_m)}. {ans.sentence}"
        return ans
    if q.by == "count":
        va, vb = f.count(a, q.region), f.count(b, q.region)
        figs = [Figure(f"{c} objects", v, "objects", f"{v} {noun(c, v)}") for c, v in ((a, va), (b, vb))]
    else:
        va, vb = f.area_m2(a, q.region), f.area_m2(b, q.region)
        figs = [Figure(f"{c} area", round(v, 1), "m2", f"{mass(c)} {area_text(v)} "
                       f"({100 * f.fraction(c, q.region):.1f}%)") for c, v in ((a, va), (b, vb))]
    evidence = f"{figs[0].text} against {figs[1].text}{_where(q, f)}"
    if va == vb:
        return MeasuredAnswer("no" if q.yes_no else "equal", f"Neither: {evidence}, {HOW}.", figs)
    holds = va > vb if q.order != "less" else va < vb
    if q.yes_no:
        return MeasuredAnswer("yes" if holds else "no", f"{'Yes' if holds else 'No'}: {evidence}, {HOW}.", figs)
    winner = a if holds else b
    return MeasuredAnswer(mass(winner), f"{mass(winner).capitalize()}: {evidence}, {HOW}.", figs)


def _rank(q: Query, f: AreaFacts) -> MeasuredAnswer:
    s = f.region_stats(q.region)
    classes = [c for c in s.classes if q.by != "count" or f.countable(c.name)]
    items = [(c.count if q.by == "count" else c.area_m2, c) for c in classes]
    left_out = [c.name for c in s.classes if c not in classes]
    if not items:
        return MeasuredAnswer("none", f"No land-cover class was found{_where(q, f)} ({HOW}).")
    items.sort(key=lambda t: (-t[0], t[1].name) if q.order != "smallest" else (t[0], t[1].name))
    top = items[0][1]
    figs = [Figure(f"{c.name} {'objects' if q.by == 'count' else 'share'}", c.count if q.by == "count"
                   else round(100 * c.fraction, 2), "objects" if q.by == "count" else "%",
                   f"{mass(c.name)} {c.count} object{'' if c.count == 1 else 's'}" if q.by == "count" else
                   f"{mass(c.name)} {100 * c.fraction:.1f}%") for _, c in items[:3]]
    word = "most objects" if q.by == "count" else ("largest area" if q.order != "smallest" else "smallest area")
    if q.by == "count" and q.order == "smallest":
        word = "fewest objects"
    has = "have" if _is(top.name) == "are" else "has"
    text = f"{mass(top.name).capitalize()} {has} the {word}{_where(q, f)} ({', '.join(x.text for x in figs)}), {HOW}."
    if left_out:
        names = " and ".join(mass(c) for c in left_out)
        need = min(COUNT_GSD_M[c] for c in left_out)
        text += f" Not counted at {pixel_text(f.grid.gsd_m)} pixels: {names} (single objects need about {need:g} m)."
    return MeasuredAnswer(mass(top.name), text, figs)


def _where_is(q: Query, f: AreaFacts) -> MeasuredAnswer:
    cls = q.classes[0]
    if q.order == "largest":
        objs = f.objects(cls)
        if not objs:
            return MeasuredAnswer("none", f"There is no {noun(cls, 1)} in the land-cover map ({HOW}).")
        o = objs[0]
        fig = Figure(f"largest {cls}", round(o.area_m2, 1), "m2", f"{area_text(o.area_m2)}, in the {o.position}")
        what = noun(cls, 1) if f.countable(cls) else f"patch of {mass(cls)}"  # coarse pixels: patches, not objects
        return MeasuredAnswer(o.position, f"The largest {what} ({area_text(o.area_m2)}) is in the "
                              f"{o.position} of the area, {HOW}.", [fig])
    stat = next((c for c in f.stats.classes if c.name == cls), None)
    if stat is None:
        return MeasuredAnswer("none", f"There {_is(cls)} no {mass(cls)} in the land-cover map ({HOW}).")
    share = 100 * f.share_in_cell(cls, stat.position)
    fig = Figure(f"{cls} position", round(share, 1), "%", f"centre of mass in the {stat.position}; "
                 f"{share:.0f}% of it lies in that ninth")
    spread = "" if share >= 40 else " It is spread out: less than 40% of it lies in that ninth."
    text = f"{mass(cls).capitalize()} {_is(cls)} mostly in the {stat.position} of the area ({fig.text}), {HOW}."
    return MeasuredAnswer(stat.position, text + spread, [fig])


def _adjacent(q: Query, f: AreaFacts) -> MeasuredAnswer:
    a, b = q.classes
    limit = f.next_to_m() if q.distance != "near" else f.near_m()
    d = f.class_distance(a, b)
    word = "next to" if q.distance != "near" else "near"
    if d == float("inf"):
        missing = a if f.area_m2(a) == 0 else b
        return MeasuredAnswer("no", f"No: there is no {mass(missing)} in the land-cover map ({HOW}).")
    fig = Figure(f"{a}-{b} distance", round(d, 1), "m", f"{d:.0f} m between the nearest {mass(a)} and {mass(b)}")
    holds = d <= limit
    return MeasuredAnswer("yes" if holds else "no", f"{'Yes' if holds else 'No'}: {fig.text} ({word} means within "
                          f"{limit:.0f} m), {HOW}.", [fig])


def _urban(q: Query, f: AreaFacts) -> MeasuredAnswer:
    built = f.fraction("building", q.region) + f.fraction("road", q.region)
    fig = Figure("built share", round(100 * built, 2), "%", f"buildings and roads {100 * built:.1f}%")
    label = "urban" if built >= URBAN_MIN_BUILT else "rural"
    sentence = f"{label.capitalize()}: {fig.text}{_where(q, f)} (urban from {100 * URBAN_MIN_BUILT:.0f}%), {HOW}."
    if q.yes_no:  # "is it urban?": yes or no, with the measured label
        word = "yes" if label == q.order else "no"
        return MeasuredAnswer(word, f"{word.capitalize()}. {sentence}", [fig])
    return MeasuredAnswer(label, sentence, [fig])


def _land_use(q: Query, f: AreaFacts) -> MeasuredAnswer:
    s = f.region_stats(q.region)
    main = [c for c in s.classes if c.fraction >= LAND_USE_MIN]
    figs = [Figure(f"{c.name} share", round(100 * c.fraction, 2), "%", f"{mass(c.name)} {100 * c.fraction:.1f}%")
            for c in s.classes[:5]]
    if not main:
        return MeasuredAnswer("none", f"No class covers {100 * LAND_USE_MIN:.0f}% of the area ({HOW}).", figs)
    words = [mass(c.name) for c in main]
    joined = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return MeasuredAnswer(joined, f"{joined.capitalize()} (each at least {100 * LAND_USE_MIN:.0f}%){_where(q, f)}: "
                          f"{', '.join(x.text for x in figs)}, {HOW}.", figs)


def _water_types(q: Query, f: AreaFacts) -> MeasuredAnswer:
    kinds = f.water_types()
    if not kinds:
        return MeasuredAnswer("none", f"There is no water body in the land-cover map ({HOW}).")
    order = ["river", "lake", "pond", "sea"]
    found = sorted({k for k, _ in kinds}, key=order.index)
    figs = [Figure(f"{k}s", sum(1 for kk, _ in kinds if kk == k), "objects",
                   _plural_kind(k, sum(1 for kk, _ in kinds if kk == k))) for k in found]
    joined = found[0] if len(found) == 1 else ", ".join(found[:-1]) + " and " + found[-1]
    return MeasuredAnswer(joined, f"{joined.capitalize()}: {', '.join(x.text for x in figs)}, told apart by shape "
                          "and size (long and narrow: river; over 1 km² at the edge: sea; from 2000 m²: lake; "
                          f"smaller: pond), {HOW}.", figs)


def _plural_kind(kind: str, n: int) -> str:
    return f"{n} {kind}" if n == 1 or kind == "sea" else f"{n} {kind}s"

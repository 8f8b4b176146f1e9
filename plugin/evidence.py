"""Where an answer comes from, in words (QGIS-free): the source line and the measured figures it rests on."""

from __future__ import annotations

from typing import Any

MEASURED, MODEL, CHECKED = "measured", "model", "checked"

SOURCE_LINES = {
    MEASURED: "Measured from the land-cover map",
    MODEL: "Written by the language model",
    CHECKED: "Checked against the land-cover map",
}


def source_line(result: dict[str, Any]) -> str:
    """The one line that says where an answer comes from; "" for results that carry no source.

    An overruled answer also quotes what the model said, so nothing is hidden from the user.
    """
    source = result.get("source")
    if source == MODEL and "boxes" in result:  # a grounding result: the model drew the boxes
        return "Boxes drawn by the language model"
    line = SOURCE_LINES.get(source or "", "")
    if source == CHECKED and result.get("overruled"):
        said = str(result.get("model_answer") or "").strip()
        line += (f". The model said \u201c{said}\u201d; the measurement disagreed, so the measured answer is shown"
                 if said else ". The model's answer disagreed with the measurement, so the measured answer is shown")
    return line


def model_line(result: dict[str, Any]) -> str:
    """``"Model: my_model"``: the model that answered, from the result's provenance ("" when it names none)."""
    prov = result.get("provenance")
    model = str(prov.get("model_id") or "").strip() if isinstance(prov, dict) else ""
    return f"Model: {model}" if model else ""


def explanation_text(result: dict[str, Any]) -> str:
    """The sentence saying how a measured or checked answer was obtained ("" for the model's own words)."""
    if result.get("source") not in (MEASURED, CHECKED):
        return ""
    text = str(result.get("explanation") or "").strip()
    return "" if text == str(result.get("answer") or "").strip() else text


def figure_lines(result: dict[str, Any]) -> list[str]:
    """``"water share: 46.2% (48.50 km2 of 104.86 km2)"`` for each measured figure the answer rests on.

    A measured grounding result has no figures: its lines are the rules its objects were selected by.
    """
    lines: list[str] = []
    if not result.get("figures") and result.get("source") == MEASURED:
        rules = dict.fromkeys(str(o.get("rule") or "") for o in result.get("objects") or [])
        return [f"selected: {rule}" for rule in rules if rule]
    for fig in result.get("figures") or []:
        name = str(fig.get("name") or "").strip()
        text = str(fig.get("text") or "").strip()
        if not text:
            value = fig.get("value")
            text = f"{value:g} {fig.get('unit', '')}".strip() if isinstance(value, (int, float)) else ""
        if name and text and not text.lower().startswith(name.lower()):
            lines.append(f"{name}: {text}")
        elif text or name:
            lines.append(text or name)
    return lines


def objects_phrase(n: int) -> str:
    """``"1 object"`` / ``"12 objects"``."""
    return f"{n} object{'s' if n != 1 else ''}"


def found_summary(result: dict[str, Any]) -> str:
    """The answer line of a grounding result: what was found, measured or by the model."""
    prompt = result.get("prompt", "")
    if result.get("source") == MEASURED:
        objects = result.get("objects") or []
        labels = sorted({o.get("label", "") for o in objects if o.get("label")})
        what = f" of {', '.join(labels)}" if labels else ""
        total = sum(float(o.get("area_m2") or 0.0) for o in objects)
        area = f", {total / 1e4:,.2f} ha in all" if objects else ""
        return f"Found {objects_phrase(len(objects))}{what} for \u201c{prompt}\u201d{area}."
    boxes = result.get("boxes") or []
    labels = sorted({b.get("label", "") for b in boxes if b.get("label")})
    found = f"Found {len(boxes)} box{'es' if len(boxes) != 1 else ''}"
    return found + (f": {', '.join(labels)}" if labels else "") + f" for \u201c{prompt}\u201d."


def has_found(result: dict[str, Any]) -> bool:
    """True when a grounding result has something to put on the map (measured objects or model boxes)."""
    if result.get("source") == MEASURED:
        return bool(result.get("objects"))
    return bool(result.get("boxes"))


def found_layer_name(result: dict[str, Any]) -> str:
    """``"find: the water bodies (measured, 12 objects)"``, or ``"find: ponds (model, 3 boxes)"``."""
    prompt = result.get("prompt", "")
    if result.get("source") == MEASURED:
        what = f"measured, {objects_phrase(len(result.get('objects') or []))}"
    else:
        n = len(result.get("boxes") or [])
        what = f"model, {n} box{'es' if n != 1 else ''}"
    return f"find: {prompt} ({what})"

"""The chat history (QGIS-free): turns, provenance summaries, export to Markdown and JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .evidence import explanation_text, figure_lines, found_summary, source_line

PENDING, DONE, FAILED, CANCELLED = "pending", "done", "failed", "cancelled"


@dataclass
class Turn:
    """One question and its answer, with everything needed to check it."""

    id: int
    kind: str  # ask | ground | caption | segment | classify
    text: str  # what the user typed
    target: str  # "map view", "drawn box", "feature 3 of parcels"
    raster: str  # layer name
    created: str = field(default_factory=lambda: dt.datetime.now().isoformat(timespec="seconds"))
    answer: str = ""
    status: str = PENDING
    error: str = ""
    result: Optional[dict[str, Any]] = None  # core.results.to_dict(...) of the engine's result
    result_obj: Any = field(default=None, repr=False, compare=False)  # the typed result, not exported


def format_area(m2: float) -> str:
    """``1234.5`` -> ``"1,235 m² (0.12 ha)"``; large areas read in km²."""
    ha = m2 / 1e4
    if m2 >= 1e7:
        return f"{m2 / 1e6:,.2f} km² ({ha:,.0f} ha)"
    return f"{m2:,.0f} m² ({ha:,.2f} ha)"


def answer_text(kind: str, result: dict[str, Any]) -> str:
    """The one line a user reads first, from a result dict of any kind."""
    if kind == "ask":
        return str(result.get("answer", ""))
    if kind == "caption":
        return str(result.get("caption", ""))
    if kind == "classify":
        scores = result.get("scores") or {}
        score = scores.get(result.get("label"), None)
        return f"{result.get('label', '')}" + (f" ({score:.2f})" if isinstance(score, (int, float)) else "")
    if kind == "ground":
        return found_summary(result)
    if kind == "segment":
        return f"Segmented into {len(result.get('classes') or [])} classes."
    return ""


def provenance_lines(prov: Optional[dict[str, Any]]) -> list[str]:
    """Short human-readable lines: class areas and counts, retrieved descriptions, tiles, device, time, the bands
    read as red, green, blue, and notes."""
    if not prov:
        return []
    lines: list[str] = []
    stats = [s for s in prov.get("class_stats") or [] if s.get("area_m2", 0) > 0 or s.get("count", 0) > 0]
    for s in sorted(stats, key=lambda s: -s.get("area_m2", 0.0)):
        count = s.get("count", 0)
        where = f", {s['position']}" if s.get("position") else ""
        lines.append(
            f"{s.get('name', '?')}: {format_area(float(s.get('area_m2', 0.0)))}, "
            f"{100.0 * float(s.get('fraction', 0.0)):.1f}%, {count} patch{'es' if count != 1 else ''}{where}"
        )
    for r in prov.get("retrieved") or []:
        level = f" [{r['level']}]" if r.get("level") else ""
        lines.append(f"retrieved ({float(r.get('score', 0.0)):.2f}){level}: {r.get('text', '')}")
    total = sum(float(v) for v in (prov.get("timings") or {}).values())
    run = [f"{int(prov.get('tiles', 0))} tiles", f"device {prov.get('device', '?')}"]
    if prov.get("backend"):
        run.append(f"backend {prov['backend']}")
    run.append(f"{total:.1f} s")
    if prov.get("model_id"):
        run.append(f"model {prov['model_id']}")
    lines.append(" · ".join(run))
    notes = list(prov.get("notes") or [])
    band_line, band_note = bands_line(prov.get("band_profile"))
    if band_line:
        lines.append(band_line)
    if band_note and band_note not in notes:
        notes.append(band_note)
    lines.extend(f"note: {note}" for note in notes)
    return lines


def bands_line(profile: Optional[dict[str, Any]]) -> tuple[str, str]:
    """``("bands: red 3, green 2, blue 1 (landsat7, from sensor)", note)`` of a result's band profile; ("", "")
    when it records no bands."""
    profile = profile or {}
    rgb = list(profile.get("rgb_bands") or [])
    if len(rgb) != 3:
        return "", ""
    from core.imagery.detect import bands_text

    return (f"bands: {bands_text(rgb, profile.get('name', '?'), profile.get('detected_from', '?'))}",
            str(profile.get("note") or ""))


class Conversation:
    """An ordered list of turns that can be exported."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self._next_id = 1

    def add(self, kind: str, text: str, target: str, raster: str) -> Turn:
        """Start a new turn and return it."""
        turn = Turn(self._next_id, kind, text, target, raster)
        self._next_id += 1
        self.turns.append(turn)
        return turn

    def get(self, turn_id: int) -> Optional[Turn]:
        """The turn with this id, or None."""
        return next((t for t in self.turns if t.id == turn_id), None)

    def clear(self) -> None:
        """Forget every turn."""
        self.turns.clear()

    def to_json(self) -> str:
        """JSON text: a list of turns with their full result dicts (provenance included)."""
        rows = []
        for t in self.turns:
            row = dataclasses.asdict(dataclasses.replace(t, result_obj=None))
            row.pop("result_obj", None)
            rows.append(row)
        return json.dumps({"app": "EarthAsk", "turns": rows}, indent=2, ensure_ascii=False, default=str)

    def to_markdown(self) -> str:
        """Markdown text: question, answer, and a provenance list per turn."""
        out = ["# EarthAsk conversation", ""]
        for t in self.turns:
            out.append(f"## {t.id}. {t.text}")
            out.append("")
            out.append(f"*{t.kind} · {t.target} · {t.raster} · {t.created}*")
            out.append("")
            if t.status == DONE:
                out.append(t.answer or "(no answer)")
            elif t.status == FAILED:
                out.append(f"**Failed:** {t.error}")
            else:
                out.append(f"*{t.status}*")
            out.append("")
            source = source_line(t.result or {}) if t.status == DONE else ""
            explanation = explanation_text(t.result or {}) if t.status == DONE else ""
            if explanation:
                out.extend([explanation, ""])
            if source:
                out.append(f"*{source}.*")
                out.append("")
                figures = figure_lines(t.result or {})
                if figures:
                    out.extend([*(f"- {line}" for line in figures), ""])
            prov = (t.result or {}).get("provenance")
            lines = provenance_lines(prov)
            if lines:
                out.append("Provenance:")
                out.append("")
                out.extend(f"- {line}" for line in lines)
                out.append("")
        return "\n".join(out)

    def save(self, path: str) -> Path:
        """Write JSON when ``path`` ends in ``.json``, else Markdown; returns the path written."""
        p = Path(path)
        text = self.to_json() if p.suffix.lower() == ".json" else self.to_markdown()
        p.write_text(text, encoding="utf-8")
        return p

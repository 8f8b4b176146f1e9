"""A change result as the lines the command line prints: summary, from-to table, objects, outputs, answer."""

from __future__ import annotations

from typing import Any

from core.change.result import area_text

MAX_ROWS = 15  # changed pairs listed; the rest are counted


def change_text(r: Any) -> str:
    """The printed form of a :class:`core.change.result.ChangeResult`."""
    lines = []
    if r.answer:
        a = r.answer
        lines += [f"Q: {a['question']}", f"A: {a['answer']}", f"   {a['sentence']}",
                  "   source: measured (computed from the land-cover maps of the two dates)", ""]
    if r.caption:
        c = r.caption
        lines += [f"Caption: {c['caption']}", f"   source: {c['source']} ({c['explanation']})"]
        if c.get("overruled"):
            lines.append(f"   the model wrote: {c['model_caption']}")
        lines.append("")
    lines += r.summary()
    changed = sorted((t for t in r.matrix if t.changed and t.area_m2 > 0), key=lambda t: (not t.reported, -t.area_m2))
    if changed:
        lines.append(f"  {'from':<12} {'to':<12} {'area':>12} {'ha':>10} {'share':>8} {'noise':>12}")
    for t in changed[:MAX_ROWS]:
        flag = "" if t.reported else "  (within noise)"
        lines.append(f"  {t.from_class:<12} {t.to_class:<12} {area_text(t.area_m2):>12} {t.area_ha:>10.4f} "
                     f"{100 * t.share:>7.2f}% {area_text(t.noise_m2):>12}{flag}")
    if len(changed) > MAX_ROWS:
        lines.append(f"  ... {len(changed) - MAX_ROWS} more pairs (all of them in --json)")
    lines += [f"  objects: {line}" for line in r.object_lines()]
    lines.append(f"change mask: {r.mask_path}")
    if r.polygons_path:
        lines.append(f"change polygons: {r.polygons_path} ({len(r.patches)} patches)")
    lines += [f"  note: {n}" for n in r.notes]
    lines.append("first date's land cover:")
    return "\n".join(lines)

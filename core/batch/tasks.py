"""One work item through one engine pipeline, flattened to a result row (per-item files beside the table)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from core.batch.items import WorkItem
from core.errors import InputError

TASKS = ("segment", "caption", "ask", "ground", "classify", "change")


@dataclass(frozen=True)
class TaskSpec:
    """What to do with every item: the pipeline and its arguments."""

    task: str
    question: Optional[str] = None  # ask
    choices: Optional[tuple[str, ...]] = None  # ask, multiple choice
    prompt: Optional[str] = None  # ground
    labels: Optional[tuple[str, ...]] = None  # classify
    change_question: Optional[str] = None  # change

    def check(self) -> None:
        """Raise :class:`InputError` when the task is unknown or misses what it needs."""
        if self.task not in TASKS:
            raise InputError(f"Unknown batch task '{self.task}'; choose {', '.join(TASKS)}.")
        if self.task == "ask" and not (self.question or "").strip():
            raise InputError("batch ask needs --question.")
        if self.task == "ground" and not (self.prompt or "").strip():
            raise InputError("batch ground needs --prompt.")

    def key(self) -> dict[str, Any]:
        """The settings that make a result what it is (a rerun with others is a different batch)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items() if v is not None}


def _stats(prov: Any) -> dict[str, Any]:
    """Class shares, object counts and areas from a provenance, JSON text for a table cell."""
    return {
        "class_shares": json.dumps({s.name: round(s.fraction, 6) for s in prov.class_stats}),
        "counts": json.dumps({s.name: s.count for s in prov.class_stats}),
        "areas_m2": json.dumps({s.name: round(s.area_m2, 2) for s in prov.class_stats}),
        "model_id": prov.model_id, "tiles": int(prov.tiles), "device": prov.device,
        "notes": json.dumps(list(prov.notes)),
    }  # fmt: skip


def run_item(engine: Any, spec: TaskSpec, item: WorkItem, item_dir: Path) -> dict[str, Any]:
    """Run ``spec`` on ``item`` with ``engine``; per-item files go to ``item_dir``. Returns the row's result fields.

    Raises whatever the engine raises (the caller turns it into an error row).
    """
    kw: dict[str, Any] = {"aoi": item.aoi}
    t = spec.task
    if t == "segment":
        item_dir.mkdir(parents=True, exist_ok=True)
        r = engine.segment(item.path, out=str(item_dir / "landcover.tif"), **kw)
        return {**_stats(r.provenance), "files": json.dumps([r.mask_path])}
    if t == "caption":
        r = engine.caption(item.path, **kw)
        return {**_stats(r.provenance), "caption": r.caption, "answer_source": r.source,
                "explanation": r.explanation, "model_words": r.model_caption}
    if t == "ask":
        r = engine.ask(item.path, spec.question, choices=list(spec.choices) if spec.choices else None, **kw)
        return {**_stats(r.provenance), "answer": r.answer, "answer_source": r.source,
                "explanation": r.explanation, "model_words": r.model_answer}
    if t == "ground":
        item_dir.mkdir(parents=True, exist_ok=True)
        r = engine.ground(item.path, spec.prompt, out=str(item_dir / "objects.gpkg"), **kw)
        found = len(r.objects) if r.source == "measured" else len(r.boxes)
        return {**_stats(r.provenance), "answer": f"{found} found", "objects": found, "answer_source": r.source,
                "files": json.dumps([r.layer_path] if r.layer_path else [])}
    if t == "classify":
        r = engine.classify(item.path, labels=list(spec.labels) if spec.labels else None, **kw)
        return {**_stats(r.provenance), "label": r.label, "answer_source": "model",
                "scores": json.dumps({k: round(v, 6) for k, v in r.scores.items()})}
    if t == "change":
        item_dir.mkdir(parents=True, exist_ok=True)
        r = engine.change(item.path, item.after, out=str(item_dir / "change.tif"),
                          polygons=str(item_dir / "change.gpkg"), question=spec.change_question, **kw)
        d = r.to_dict()
        return {**_stats(r.provenance), "answer": " ".join(d["summary"]), "answer_source": "measured",
                "changed_m2": float(d["changed_m2"]), "compared_m2": float(d["compared_m2"]),
                "files": json.dumps([p for p in (r.mask_path, r.polygons_path) if p])}
    raise InputError(f"Unknown batch task '{t}'.")

"""Measured answers on the benchmark: the query layer run over the model's own predicted masks.

The benchmark's answers are computed from its masks with the same statistics code, so measured answers
here mostly test the segmentation; the hand-written paraphrase set and real scenes are the harder test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.query.execute import execute
from core.query.facts import AreaFacts
from core.query.parse import parse_question
from core.query.types import MeasuredAnswer, Query


def benchmark_form(m: MeasuredAnswer, q: Query, choices: Optional[Sequence[str]]) -> str:
    """A measured answer in the benchmark's closed answer vocabulary: area shares as its ten bins."""
    if choices:
        return m.answer if m.choice is not None else ""
    if q.kind == "share" and m.value is not None:
        from core.data.questions import area_bin

        return area_bin(min(max(m.value / 100.0, 0.0), 1.0))[0]
    return m.answer


class MeasuredAnswers:
    """Per image: the facts of the predicted mask (cached); per question: the measured answer or None."""

    def __init__(self, manifest: Any, predicted: Callable[[str], np.ndarray], classes: Sequence[str]) -> None:
        self.manifest, self.predicted, self.classes = manifest, predicted, list(classes)
        self._facts: dict[str, AreaFacts] = {}

    def facts(self, image_rel: str) -> AreaFacts:
        if image_rel not in self._facts:
            import rasterio

            with rasterio.open(Path(self.manifest.path(image_rel))) as src:
                transform, crs = tuple(src.transform)[:6], src.crs
            self._facts[image_rel] = AreaFacts.of_mask(self.predicted(image_rel), transform, crs, self.classes)
        return self._facts[image_rel]

    def answer(self, question: str, image_rel: str, choices: Optional[Sequence[str]]) -> tuple[Optional[str], Any]:
        """(the measured answer in the benchmark's form, the parsed query) or (None, None) when it does not parse."""
        q = parse_question(question, self.classes)
        if q is None:
            return None, None
        m = execute(q, self.facts(image_rel), choices)
        return benchmark_form(m, q, choices), q


def paraphrase_scores(folder: str | Path, classes: Sequence[str]) -> dict[str, Any]:
    """Parse accuracy on the hand-written paraphrase sets in ``folder`` (questions and grounding phrases)."""
    import json

    from core.instances.phrase import parse_phrase

    out: dict[str, Any] = {}
    files = {"questions": "questions.jsonl", "questions (held out)": "holdout_questions.jsonl",
             "grounding": "grounding.jsonl", "grounding (held out)": "holdout_grounding.jsonl"}
    for name, file in files.items():
        path = Path(folder) / file
        if not path.is_file():
            continue
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        hits = parsed = guessed = 0
        for r in rows:
            text = r.get("question") or r.get("phrase")
            q = parse_question(text, classes) if "question" in r else parse_phrase(text, classes)
            got = q.to_dict() if q is not None else None
            hits += got == r["query"]
            parsed += got is not None
            guessed += got is not None and r["query"] is None
        nulls = sum(r["query"] is None for r in rows)
        out[name] = {"accuracy": hits / len(rows), "n": len(rows), "parsed": parsed, "expected_null": nulls,
                     "guessed_on_null": guessed}
    return out


class MeasuredGrounding:
    """Grounding from instances on the benchmark: the phrase's class objects in the model's predicted mask."""

    def __init__(self, measured: MeasuredAnswers) -> None:
        self.measured = measured  # its facts per image hold the predicted mask's grid and objects

    def first_box(self, phrase: str, image_rel: str) -> tuple[Optional[list[float]], Any]:
        """(the first selected object's pixel box [x1, y1, x2, y2], the parsed phrase), or (None, None)
        when the phrase names no class; the box is None when nothing was selected."""
        from core.analysis import locate
        from core.instances.ground import select_in
        from core.instances.phrase import parse_phrase

        classes = self.measured.classes
        q = parse_phrase(phrase, classes)
        if q is None:
            return None, None
        facts = self.measured.facts(image_rel)
        area = locate(str(self.measured.manifest.path(image_rel)), None) if q.colour else None
        sel = select_in(facts.grid, facts.found(q.cls), classes, q, area)
        if not sel.objects:
            return None, q
        return [float(v) for v in sel.objects[0].box], q

"""What a change comparison returns: the from-to matrix, the noise floor, the outputs, and sentences that say so."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from core.change.matrix import MIN_PIXELS, Transition
from core.change.objects import ObjectChange
from core.change.polygons import ChangePatch

HOW = "measured from the land-cover maps of the two dates"


def area_text(m2: float) -> str:
    """m² below 1 ha, ha below 1 km², km² above (as measured answers word areas)."""
    from core.query.execute import area_text as text

    return text(m2)


@dataclass
class NoiseFloor:
    """The segmentation's disagreement with itself on ground known to be unchanged."""

    method: str  # how it was estimated, in words
    disagreement: float  # share (0..1) of unchanged ground where the two maps of one image differ
    pair_rate: np.ndarray = field(repr=False)  # [k, k] each pair's share of that ground (diagonal 0)
    factor: float = 2.0  # a pair is reported above factor x its share of the compared area

    def sentence(self) -> str:
        return (f"The segmentation disagrees with itself on {100 * self.disagreement:.1f}% of unchanged ground "
                f"({self.method}); a from-to change smaller than {self.factor:g} times its share of that "
                f"disagreement (its upper bound, as measured from one noise map), or than {MIN_PIXELS} pixels, is not "
                "reported as change.")

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "disagreement": round(self.disagreement, 6), "factor": self.factor,
                "sentence": self.sentence()}


@dataclass
class ChangeResult:
    """Change between two dates over their overlap, on the first date's grid."""

    before: str
    after: str
    classes: list[str]
    matrix: list[Transition]  # every from-to pair, unchanged ones included
    compared_m2: float  # the overlap both dates cover (valid in both maps)
    before_m2: float  # the first date's analysed area
    noise: NoiseFloor
    mask_path: str  # the change mask GeoTIFF
    polygons_path: Optional[str]  # the change polygons GeoPackage, when one was asked for
    patches: list[ChangePatch] = field(default_factory=list)
    objects: list[ObjectChange] = field(default_factory=list)
    provenance: Any = None  # core.results.Provenance of the first date's segmentation
    after_bands: dict[str, Any] = field(default_factory=dict)  # the second date's band profile
    notes: list[str] = field(default_factory=list)
    answer: Optional[dict[str, Any]] = None  # a measured change question's answer, when one was asked
    caption: Optional[dict[str, Any]] = None  # the model's narrative, checked (core.change.caption), when asked

    # ----- figures --------------------------------------------------------------------------------
    def area(self, src: str, dst: str) -> float:
        """m2 of ``src`` on the first date that is ``dst`` on the second."""
        return next((t.area_m2 for t in self.matrix if t.from_class == src and t.to_class == dst), 0.0)

    def reported(self) -> list[Transition]:
        """The changes reported (above the noise floor), largest first."""
        return sorted((t for t in self.matrix if t.reported), key=lambda t: -t.area_m2)

    def before_area(self, cls: str) -> float:
        return sum(t.area_m2 for t in self.matrix if t.from_class == cls)

    def after_area(self, cls: str) -> float:
        return sum(t.area_m2 for t in self.matrix if t.to_class == cls)

    @property
    def changed_m2(self) -> float:
        return sum(t.area_m2 for t in self.reported())

    @property
    def overlap_share(self) -> float:
        return self.compared_m2 / self.before_m2 if self.before_m2 > 0 else 0.0

    # ----- words ----------------------------------------------------------------------------------
    def overlap_sentence(self) -> str:
        whole = "" if self.overlap_share >= 0.9995 else \
            f" ({100 * self.overlap_share:.1f}% of the first date's {area_text(self.before_m2)})"
        return f"Compared over the overlap of the two dates: {area_text(self.compared_m2)}{whole}."

    def summary(self, limit: int = 5) -> list[str]:
        """Measured sentences: how much changed, the largest changes, the overlap and the noise floor."""
        rows = self.reported()
        if not rows:
            head = f"No change above the noise floor, {HOW}."
        else:
            share = self.changed_m2 / self.compared_m2 if self.compared_m2 else 0.0
            parts = ", ".join(f"{t.from_class} -> {t.to_class} {area_text(t.area_m2)}" for t in rows[:limit])
            more = f" and {len(rows) - limit} smaller ones" if len(rows) > limit else ""
            head = (f"Changed: {area_text(self.changed_m2)} ({100 * share:.2f}% of the compared area): {parts}{more}, "
                    f"{HOW}.")
        return [head, self.overlap_sentence(), self.noise.sentence()]

    def object_lines(self) -> list[str]:
        out = []
        for o in self.objects:
            if not o.counted:
                out.append(f"{o.cls}: not counted ({o.why})")
            elif o.appeared or o.disappeared:
                out.append(f"{o.cls}: {o.appeared} appeared, {o.disappeared} disappeared ({o.before} -> {o.after})")
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``matrix`` is a list of {"from", "to", "area_m2", "area_ha", "share", ...}."""
        import dataclasses

        prov = dataclasses.asdict(self.provenance) if self.provenance is not None else None
        return {
            "before": self.before, "after": self.after, "classes": self.classes, "source": "measured",
            "how": HOW, "summary": self.summary(), "changed_m2": round(self.changed_m2, 2),
            "compared_m2": round(self.compared_m2, 2), "before_m2": round(self.before_m2, 2),
            "overlap_share": round(self.overlap_share, 6), "noise": self.noise.to_dict(),
            "matrix": [t.to_dict() for t in self.matrix], "mask_path": self.mask_path,
            "polygons_path": self.polygons_path, "polygons": len(self.patches),
            "patches": [p.to_dict() for p in self.patches[:20]],
            "objects": [o.to_dict() for o in self.objects], "after_bands": self.after_bands, "notes": self.notes,
            "answer": self.answer, "caption": self.caption, "provenance": prov,
        }  # fmt: skip

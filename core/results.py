"""Typed results that every pipeline returns, with provenance a user can check."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class ClassStat:
    """Measured statistics of one land-cover class inside the analysed area (map units)."""

    name: str
    area_m2: float  # geodesic / equal-area when the CRS is geographic
    area_ha: float
    fraction: float  # of the valid (non-nodata) analysed area, 0..1
    count: int  # connected components of at least the minimum area
    centroid: Optional[tuple[float, float]] = None  # (x, y) in the raster CRS
    position: str = ""  # "north-west", "centre", ... of the area of interest
    adjacent_to: list[str] = field(default_factory=list)  # classes sharing a boundary


@dataclass
class Retrieved:
    """One description fetched from the semantic database."""

    text: str
    score: float  # cosine similarity
    level: str = ""  # "scene", "region", "object"...


@dataclass
class Box:
    """A box in the raster CRS (x1 < x2, y1 < y2 in CRS units)."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    score: float


@dataclass
class Provenance:
    """Where a result came from: enough for a user to check it."""

    raster: str
    crs: str = ""  # authority string ("EPSG:32618") or WKT
    aoi: Optional[list[float]] = None  # [xmin, ymin, xmax, ymax] in the raster CRS
    band_profile: dict[str, Any] = field(default_factory=dict)
    class_stats: list[ClassStat] = field(default_factory=list)
    retrieved: list[Retrieved] = field(default_factory=list)
    tiles: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    device: str = "cpu"
    backend: str = "torch"
    model_id: str = ""
    prompt: str = ""  # the exact text the language model saw, when one did
    notes: list[str] = field(default_factory=list)  # caveats a user should see (untrained model, decimation...)


@dataclass
class SegmentResult:
    mask_path: str  # single-band uint8 GeoTIFF of class indices, source CRS/transform
    classes: list[str]
    provenance: Provenance


@dataclass
class AnswerResult:
    """An answer and where it came from.

    ``source``: ``measured`` (computed from the segmentation; ``answer`` is the value or the picked choice,
    ``explanation`` the sentence quoting the figures and how they were obtained),
    ``model`` (written by the language model; nothing in it could be measured), or ``checked`` (the model
    wrote it and the engine compared the figures it states with the measurement; ``overruled`` when they
    disagreed, the measured answer is then given and the model's words are kept in ``model_answer``).
    """

    question: str
    answer: str
    choices: Optional[list[str]]
    provenance: Provenance
    source: str = "model"
    explanation: str = ""  # the sentence quoting the figures and how they were obtained; checked: what was checked
    query: Optional[dict[str, Any]] = None  # the parsed query, when the question parsed
    figures: list[dict[str, Any]] = field(default_factory=list)  # measured figures the answer rests on
    model_answer: Optional[str] = None  # the model's own words (checked answers)
    overruled: bool = False  # the model's words contradicted the measurement and were replaced


@dataclass
class FoundObject:
    """One object found by grounding from the land-cover instances (raster CRS)."""

    label: str  # land-cover class
    area_m2: float
    score: float  # always 1.0: taken from the hard (argmax) mask, which keeps no class probability
    rule: str  # why it was selected: "water objects of at least 100 m2, largest first"
    polygon_wkt: str  # the object's outline, simplified and valid
    box: Box  # horizontal box
    oriented_box: list[tuple[float, float]]  # corners of the minimum rotated rectangle (closed ring)
    position: str = ""  # 3x3 position word within the area


@dataclass
class GroundResult:
    prompt: str
    boxes: list[Box]
    layer_path: Optional[str]  # GeoPackage written, when an output was asked for
    warnings: list[str]  # e.g. malformed model output that the parser tolerated
    provenance: Provenance
    source: str = "model"  # "measured": instances of a land-cover class; "model": the model's boxes
    query: Optional[dict[str, Any]] = None  # the parsed phrase, when it named a class
    objects: list[FoundObject] = field(default_factory=list)  # measured path: the polygons


@dataclass
class CaptionResult:
    """A caption written by the language model; ``source`` is ``checked`` when it states figures the
    land-cover map measures (contradicted ones are replaced, the model's words kept in ``model_caption``)."""

    caption: str
    provenance: Provenance
    source: str = "model"
    explanation: str = ""  # what was checked
    figures: list[dict[str, Any]] = field(default_factory=list)
    model_caption: Optional[str] = None
    overruled: bool = False


@dataclass
class ClassifyResult:
    label: str
    scores: dict[str, float]
    provenance: Provenance


def to_dict(result: Any) -> dict[str, Any]:
    """A JSON-ready dict of any result dataclass."""
    return dataclasses.asdict(result)

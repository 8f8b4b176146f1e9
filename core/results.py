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
    question: str
    answer: str
    choices: Optional[list[str]]
    provenance: Provenance


@dataclass
class GroundResult:
    prompt: str
    boxes: list[Box]
    layer_path: Optional[str]  # GeoPackage written, when an output was asked for
    warnings: list[str]  # e.g. malformed model output that the parser tolerated
    provenance: Provenance


@dataclass
class CaptionResult:
    caption: str
    provenance: Provenance


@dataclass
class ClassifyResult:
    label: str
    scores: dict[str, float]
    provenance: Provenance


def to_dict(result: Any) -> dict[str, Any]:
    """A JSON-ready dict of any result dataclass."""
    return dataclasses.asdict(result)

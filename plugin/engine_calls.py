"""What a chat turn ran on, and the engine call an intent becomes (picklable: it goes to the engine process)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Optional

from qgis.core import QgsCoordinateReferenceSystem

from core.errors import InputError

from .intent import ASK, CAPTION, CLASSIFY, GROUND, SEGMENT, Intent
from .layer_bands import LayerBands
from .output_folder import output_path


@dataclass
class TurnInput:
    """What a turn ran on, kept so that its buttons can act on the same area."""

    layer_id: str
    source: str
    crs: QgsCoordinateReferenceSystem
    aoi: Any  # list[float] or WKT, raster CRS
    query: str
    imagery: LayerBands = field(default_factory=LayerBands)  # the layer's band choice when the turn was asked


def raster_stem(source: str) -> str:
    """``/data/scene.tif`` -> ``scene`` (the last part of a path or a GDAL URI, without its extension)."""
    base = PurePath(source.split("|")[0].rstrip("/\\")).name
    return base.rsplit(".", 1)[0] if "." in base else base


def engine_call(intent: Intent, source: str, aoi: Any, out_dir: str,
                imagery: Optional[LayerBands] = None) -> tuple[str, dict[str, Any]]:
    """The engine method and keyword arguments for an intent (all picklable: they go to the engine process).

    A land-cover GeoTIFF is written in ``out_dir`` (:func:`plugin.output_folder.output_dir`), under a new name.
    ``imagery``: the layer's band choice (:mod:`plugin.layer_bands`), passed as ``bands`` / ``sensor`` when set.
    """
    common: dict[str, Any] = {"raster": source, "aoi": aoi, **(imagery or LayerBands()).engine_kwargs()}
    if intent.kind == ASK:
        return "ask", {**common, "question": intent.query, "choices": list(intent.choices or []) or None}
    if intent.kind == GROUND:
        return "ground", {**common, "prompt": intent.query}
    if intent.kind == CAPTION:
        return "caption", common
    if intent.kind == CLASSIFY:
        return "classify", {**common, "labels": list(intent.choices or []) or None}
    if intent.kind == SEGMENT:
        return "segment", {**common, "out": output_path(f"landcover_{raster_stem(source)}", ".tif", out_dir)}
    raise InputError(f"Unknown command kind {intent.kind}.")

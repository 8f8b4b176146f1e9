"""Segment, ask and ground as Processing algorithms."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from qgis.core import (
    Qgis,
    QgsFeature,
    QgsFeatureSink,
    QgsFields,
    QgsGeometry,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputString,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsRectangle,
)

from core.results import to_dict

from ..conversation import format_area
from ..layers import BOX_FIELDS, apply_class_palette, field
from .base import EngineAlgorithm, source_type

_KEEP_ALIVE: list[QgsProcessingLayerPostProcessorInterface] = []  # QGIS holds only a C++ pointer


class PaletteOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Styles the segmentation output with the class palette when QGIS loads it."""

    def __init__(self, classes: list[str], areas: dict[str, str]) -> None:
        super().__init__()
        self.classes, self.areas = classes, areas

    def postProcessLayer(self, layer: Any, context: Any, feedback: Any) -> None:  # noqa: N802 (QGIS's name)
        apply_class_palette(layer, self.classes, self.areas)


class SegmentAlgorithm(EngineAlgorithm):
    """Land-cover segmentation to a class-index GeoTIFF (styled with the class palette when loaded)."""

    RASTER, EXTENT, OUTPUT, CLASSES = "RASTER", "EXTENT", "OUTPUT", "CLASSES"

    def name(self) -> str:
        return "segment"

    def displayName(self) -> str:  # noqa: N802
        return "Segment land cover"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Classifies every pixel of the raster (or of the extent) into land-cover classes and writes a "
                "single-band class-index GeoTIFF in the raster's CRS. The log lists class areas and counts.")

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, "Raster"))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, "Extent (empty: the whole raster)",
                                                       optional=True))
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Land cover"))
        self.addOutput(QgsProcessingOutputString(self.CLASSES, "Class names (comma separated)"))

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        raster = self.raster(parameters, self.RASTER, context)
        aoi = self.extent_aoi(parameters, self.EXTENT, context, raster)
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        result = self.run_engine(parameters, context, feedback, "segment", raster=raster.source(), aoi=aoi, out=out)
        areas = {}
        for s in result.provenance.class_stats:
            areas[s.name] = format_area(s.area_m2)
            feedback.pushInfo(f"{s.name}: {areas[s.name]}, {100 * s.fraction:.1f}%, {s.count} patches")
        if context.willLoadLayerOnCompletion(result.mask_path):
            processor = PaletteOnLoad(list(result.classes), areas)
            _KEEP_ALIVE.append(processor)
            context.layerToLoadOnCompletionDetails(result.mask_path).setPostProcessor(processor)
        return {self.OUTPUT: result.mask_path, self.CLASSES: ",".join(result.classes)}


class AskAlgorithm(EngineAlgorithm):
    """A question about a raster (or an extent of it); the answer is an output string."""

    RASTER, QUESTION, CHOICES, EXTENT, OUTPUT_JSON, ANSWER = (
        "RASTER", "QUESTION", "CHOICES", "EXTENT", "OUTPUT_JSON", "ANSWER")

    def name(self) -> str:
        return "ask"

    def displayName(self) -> str:  # noqa: N802
        return "Ask a question about a raster"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Answers a question about the raster, guided by its land-cover segmentation and by descriptions "
                "retrieved from the semantic database. Optionally writes the answer with its provenance "
                "(class areas, retrieved descriptions, tiles, device, timings) as JSON.")

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, "Raster"))
        self.addParameter(QgsProcessingParameterString(self.QUESTION, "Question"))
        self.addParameter(QgsProcessingParameterString(self.CHOICES, "Choices (comma separated, optional)",
                                                       optional=True))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, "Extent (empty: the whole raster)",
                                                       optional=True))
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_JSON, "Answer with provenance (JSON)", "JSON files (*.json)", optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputString(self.ANSWER, "Answer"))

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        raster = self.raster(parameters, self.RASTER, context)
        question = self.parameterAsString(parameters, self.QUESTION, context)
        choices = [c.strip() for c in (self.parameterAsString(parameters, self.CHOICES, context) or "").split(",")
                   if c.strip()] or None
        aoi = self.extent_aoi(parameters, self.EXTENT, context, raster)
        result = self.run_engine(parameters, context, feedback, "ask", raster=raster.source(), question=question,
                                 choices=choices, aoi=aoi)
        feedback.pushInfo(f"Answer: {result.answer}")
        outputs = {self.ANSWER: result.answer}
        path = self.parameterAsFileOutput(parameters, self.OUTPUT_JSON, context)
        if path:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(to_dict(result), f, indent=2, ensure_ascii=False, default=str)
            outputs[self.OUTPUT_JSON] = path
        return outputs


class GroundAlgorithm(EngineAlgorithm):
    """Find objects described in words; boxes as polygons in the raster's CRS."""

    RASTER, PROMPT, EXTENT, OUTPUT = "RASTER", "PROMPT", "EXTENT", "OUTPUT"

    def name(self) -> str:
        return "ground"

    def displayName(self) -> str:  # noqa: N802
        return "Find objects (visual grounding)"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Finds the objects described by the prompt (for example 'playgrounds' or 'the largest pond') and "
                "writes their boxes as polygons in the raster's CRS with label, score, prompt, source raster, "
                "model and creation time.")

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, "Raster"))
        self.addParameter(QgsProcessingParameterString(self.PROMPT, "What to find"))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, "Extent (empty: the whole raster)",
                                                       optional=True))
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, "Boxes", source_type("VectorPolygon")))

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        raster = self.raster(parameters, self.RASTER, context)
        prompt = self.parameterAsString(parameters, self.PROMPT, context)
        aoi = self.extent_aoi(parameters, self.EXTENT, context, raster)
        result = self.run_engine(parameters, context, feedback, "ground", raster=raster.source(), prompt=prompt,
                                 aoi=aoi)
        for warning in result.warnings:
            feedback.pushWarning(warning)
        fields = QgsFields()
        for name, kind in BOX_FIELDS:
            fields.append(field(name, kind))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields, Qgis.WkbType.Polygon,
                                          raster.crs())
        created = dt.datetime.now().isoformat(timespec="seconds")
        for box in result.boxes:
            feature = QgsFeature(fields)
            feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(box.x1, box.y1, box.x2, box.y2)))
            feature.setAttributes([box.label, float(box.score), prompt, raster.source(),
                                   result.provenance.model_id, created])
            sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
        feedback.pushInfo(f"Found {len(result.boxes)} box(es).")
        return {self.OUTPUT: dest}

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
    QgsProcessingException,
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

from core.errors import InputError
from core.results import to_dict

from ..conversation import format_area
from ..evidence import MEASURED, explanation_text, figure_lines, found_summary, source_line
from ..found_layers import found_fields, object_feature, object_geometry, oriented_box_geometry
from ..intent import CHOICE_SEPARATOR, split_choices
from ..layers import BOX_FIELDS, apply_class_palette, field
from .base import EngineAlgorithm, bands_help, source_type

EXTENT_DESCRIPTION = "Extent, empty for the whole raster"
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
                "single-band class-index GeoTIFF in the raster's CRS. The log lists class areas and counts; the "
                f"CLASSES output names the classes in index order, separated by {CHOICE_SEPARATOR}." + bands_help())

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, "Raster"))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, EXTENT_DESCRIPTION, optional=True))
        self.add_band_parameters()
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Land cover"))
        self.addOutput(QgsProcessingOutputString(self.CLASSES, f"Class names, separated by {CHOICE_SEPARATOR}"))

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        raster = self.raster(parameters, self.RASTER, context)
        aoi = self.extent_aoi(parameters, self.EXTENT, context, raster)
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        result = self.run_engine(parameters, context, feedback, "segment", raster=raster.source(), aoi=aoi, out=out,
                                 **self.band_choice(parameters, context, raster))
        areas = {}
        for s in result.provenance.class_stats:
            areas[s.name] = format_area(s.area_m2)
            feedback.pushInfo(f"{s.name}: {areas[s.name]}, {100 * s.fraction:.1f}%, {s.count} patches")
        if context.willLoadLayerOnCompletion(result.mask_path):
            processor = PaletteOnLoad(list(result.classes), areas)
            _KEEP_ALIVE.append(processor)
            context.layerToLoadOnCompletionDetails(result.mask_path).setPostProcessor(processor)
        return {self.OUTPUT: result.mask_path, self.CLASSES: CHOICE_SEPARATOR.join(result.classes)}


class AskAlgorithm(EngineAlgorithm):
    """A question about a raster (or an extent of it); the answer is an output string."""

    RASTER, QUESTION, CHOICES, EXTENT, OUTPUT_JSON, ANSWER, SOURCE = (
        "RASTER", "QUESTION", "CHOICES", "EXTENT", "OUTPUT_JSON", "ANSWER", "SOURCE")

    def name(self) -> str:
        return "ask"

    def displayName(self) -> str:  # noqa: N802
        return "Ask a question about a raster"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Answers a question about the raster, guided by its land-cover segmentation and by descriptions "
                "retrieved from the semantic database. Questions about class shares, areas, counts and positions are "
                "measured from the land-cover map; other answers are the model's, checked against the map where "
                "they state figures. The SOURCE output says which (measured, model or checked). For a multiple-"
                f"choice question give the choices separated by {CHOICE_SEPARATOR}, e.g. 'yes|no' or "
                "'less than 10%|10-50%|more than 50%'. Leave the extent empty for the whole raster. Optionally "
                "writes the answer with its provenance (figures, class areas, retrieved descriptions, tiles, device, "
                "timings) as JSON." + bands_help())

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, "Raster"))
        self.addParameter(QgsProcessingParameterString(self.QUESTION, "Question"))
        self.addParameter(QgsProcessingParameterString(self.CHOICES, f"Choices, separated by {CHOICE_SEPARATOR}",
                                                       optional=True))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, EXTENT_DESCRIPTION, optional=True))
        self.add_band_parameters()
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_JSON, "Answer with provenance, as JSON", "JSON files (*.json)", optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputString(self.ANSWER, "Answer"))
        self.addOutput(QgsProcessingOutputString(self.SOURCE, "Where the answer comes from (measured, model, checked)"))

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        raster = self.raster(parameters, self.RASTER, context)
        question = self.parameterAsString(parameters, self.QUESTION, context)
        try:
            choices = split_choices(self.parameterAsString(parameters, self.CHOICES, context))
        except InputError as exc:
            raise QgsProcessingException(str(exc)) from exc
        aoi = self.extent_aoi(parameters, self.EXTENT, context, raster)
        result = self.run_engine(parameters, context, feedback, "ask", raster=raster.source(), question=question,
                                 choices=choices, aoi=aoi, **self.band_choice(parameters, context, raster))
        feedback.pushInfo(f"Answer: {result.answer}")
        data = to_dict(result)
        for line in [explanation_text(data), source_line(data), *figure_lines(data)]:
            if line:
                feedback.pushInfo(line)
        outputs = {self.ANSWER: result.answer, self.SOURCE: result.source}
        path = self.parameterAsFileOutput(parameters, self.OUTPUT_JSON, context)
        if path:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(to_dict(result), f, indent=2, ensure_ascii=False, default=str)
            outputs[self.OUTPUT_JSON] = path
        return outputs


class GroundAlgorithm(EngineAlgorithm):
    """Find objects described in words: measured outlines of a land-cover class, or the model's boxes."""

    RASTER, PROMPT, EXTENT, OUTPUT, ORIENTED, SOURCE = "RASTER", "PROMPT", "EXTENT", "OUTPUT", "ORIENTED", "SOURCE"

    def name(self) -> str:
        return "ground"

    def displayName(self) -> str:  # noqa: N802
        return "Find objects (visual grounding)"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Finds the objects described by the prompt (for example 'water bodies' or 'the largest pond'). "
                "When the prompt names a land-cover class the objects are measured from the land-cover map and "
                "written as polygons in the raster's CRS with label, area_m2, area_ha, position, rule (why each "
                "was selected) and score; the optional second output holds their oriented boxes. Otherwise the "
                "language model's boxes are written, with label, score, prompt, source raster, model and time."
                + bands_help())

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, "Raster"))
        self.addParameter(QgsProcessingParameterString(self.PROMPT, "What to find"))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, EXTENT_DESCRIPTION, optional=True))
        self.add_band_parameters()
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Found objects: measured polygons, or the model's boxes", source_type("VectorPolygon")))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.ORIENTED, "Oriented boxes of the measured objects", source_type("VectorPolygon"), optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputString(self.SOURCE, "Where the objects come from (measured, model)"))

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        raster = self.raster(parameters, self.RASTER, context)
        prompt = self.parameterAsString(parameters, self.PROMPT, context)
        aoi = self.extent_aoi(parameters, self.EXTENT, context, raster)
        result = self.run_engine(parameters, context, feedback, "ground", raster=raster.source(), prompt=prompt,
                                 aoi=aoi, **self.band_choice(parameters, context, raster))
        for warning in result.warnings:
            feedback.pushWarning(warning)
        data = to_dict(result)
        feedback.pushInfo(f"{source_line(data)}. {found_summary(data)}")
        outputs: dict[str, Any] = {self.SOURCE: result.source}
        if result.source == MEASURED:
            fields = found_fields()
            for key, make in ((self.OUTPUT, object_geometry), (self.ORIENTED, oriented_box_geometry)):
                sink, dest = self.parameterAsSink(parameters, key, context, fields, Qgis.WkbType.MultiPolygon,
                                                  raster.crs())
                if sink is None:  # the optional oriented boxes were not asked for
                    continue
                for obj in result.objects:
                    sink.addFeature(object_feature(fields, obj, make(obj)), QgsFeatureSink.Flag.FastInsert)
                outputs[key] = dest
            for line in figure_lines(data):
                feedback.pushInfo(line)
            return outputs
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
        outputs[self.OUTPUT] = dest
        return outputs

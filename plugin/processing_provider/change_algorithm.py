"""Change between two dates as a Processing algorithm: ``earthask:change``."""

from __future__ import annotations

import os
import uuid
from typing import Any

from qgis.core import (
    Qgis,
    QgsFeature,
    QgsFeatureSink,
    QgsFields,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingUtils,
    QgsVectorLayer,
)

from core.errors import InputError
from core.imagery import SENSORS

from ..change_layers import style_change_mask, style_change_polygons
from ..layer_bands import LayerBands, layer_bands, parse_choice
from .base import BANDS_DESCRIPTION, SENSOR_DESCRIPTION, EngineAlgorithm, bands_help, source_type

_KEEP_ALIVE: list[QgsProcessingLayerPostProcessorInterface] = []  # QGIS holds only a C++ pointer


class StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Styles a change output from-to when QGIS loads it (``style``: a function of layer and result)."""

    def __init__(self, style: Any, result: Any) -> None:
        super().__init__()
        self.style, self.result = style, result

    def postProcessLayer(self, layer: Any, context: Any, feedback: Any) -> None:  # noqa: N802 (QGIS's name)
        self.style(layer, self.result)


class ChangeAlgorithm(EngineAlgorithm):
    """Land-cover change between two rasters of one place: from-to areas, a change mask and change polygons."""

    BEFORE, AFTER, EXTENT, QUESTION = "BEFORE", "AFTER", "EXTENT", "QUESTION"
    AFTER_BANDS, AFTER_SENSOR = "AFTER_BANDS", "AFTER_SENSOR"
    OUTPUT, POLYGONS, SUMMARY, CHANGED_M2, ANSWER, SOURCE = (
        "OUTPUT", "POLYGONS", "SUMMARY", "CHANGED_M2", "ANSWER", "SOURCE")

    def name(self) -> str:
        return "change"

    def displayName(self) -> str:  # noqa: N802
        return "Land-cover change between two dates"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Segments both rasters with the same model and measures what changed from the first date to the "
                "second over their overlap: the from-to areas (m², ha, share, in the log), a change GeoTIFF with one "
                "value per from-to pair (styled from-to: each change in the colour of its new class) and change "
                "polygons with from_class, to_class and area. The second raster may have another CRS, pixel size or "
                "extent: it is read onto the first one's grid. Changes smaller than the segmentation's own "
                "disagreement on unchanged ground (the noise floor, stated in the log) are not reported. An optional "
                "QUESTION about change ('how much forest was lost?', 'where did new buildings appear?') is answered "
                "from the measured figures (ANSWER, SOURCE measured). BANDS and SENSOR apply to the first raster, "
                "AFTER_BANDS and AFTER_SENSOR to the second." + bands_help())

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.BEFORE, "First date (before)"))
        self.addParameter(QgsProcessingParameterRasterLayer(self.AFTER, "Second date (after)"))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, "Extent, empty for the whole overlap",
                                                       optional=True))
        self.addParameter(QgsProcessingParameterString(self.QUESTION, "Question about the change", optional=True))
        self.add_band_parameters()
        self.addParameter(QgsProcessingParameterString(self.AFTER_BANDS, "Second date: " + BANDS_DESCRIPTION,
                                                       optional=True))
        self.addParameter(QgsProcessingParameterEnum(self.AFTER_SENSOR, "Second date: " + SENSOR_DESCRIPTION,
                                                     list(SENSORS), optional=True, usesStaticStrings=True))
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Change (from-to)"))
        self.addParameter(QgsProcessingParameterFeatureSink(self.POLYGONS, "Change polygons",
                                                            source_type("VectorPolygon")))
        self.addOutput(QgsProcessingOutputString(self.SUMMARY, "What changed, measured"))
        self.addOutput(QgsProcessingOutputNumber(self.CHANGED_M2, "Reported change in m²"))
        self.addOutput(QgsProcessingOutputString(self.ANSWER, "Answer to the question, when one was asked"))
        self.addOutput(QgsProcessingOutputString(self.SOURCE, "Where the figures come from (measured)"))

    def after_band_choice(self, parameters: dict, context: Any, layer: Any) -> dict[str, Any]:
        """``after_bands`` / ``after_sensor`` for the engine, as :meth:`band_choice` reads them for the first."""
        bands = (self.parameterAsString(parameters, self.AFTER_BANDS, context) or "").strip()
        sensor = ""
        if parameters.get(self.AFTER_SENSOR) not in (None, "", []):
            sensor = (self.parameterAsEnumString(parameters, self.AFTER_SENSOR, context) or "").strip()
        try:
            choice = parse_choice(bands, sensor)
        except InputError as exc:
            raise QgsProcessingException(str(exc).replace("--bands", "AFTER_BANDS")) from exc
        if choice.bands is not None:
            choice = LayerBands(choice.bands)
        if not choice.is_set:
            choice = layer_bands(layer)
        return {f"after_{k}": v for k, v in choice.engine_kwargs().items()}

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        before = self.raster(parameters, self.BEFORE, context)
        after = self.raster(parameters, self.AFTER, context)
        if os.path.realpath(before.source()) == os.path.realpath(after.source()):
            raise QgsProcessingException("Pick two different rasters: the first and the second date are one file.")
        aoi = self.extent_aoi(parameters, self.EXTENT, context, before)
        question = (self.parameterAsString(parameters, self.QUESTION, context) or "").strip() or None
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        gpkg = os.path.join(QgsProcessingUtils.tempFolder(), f"change_{uuid.uuid4().hex[:8]}.gpkg")
        result = self.run_engine(parameters, context, feedback, "change", before=before.source(),
                                 after=after.source(), aoi=aoi, out=out, polygons=gpkg, question=question,
                                 **self.band_choice(parameters, context, before),
                                 **self.after_band_choice(parameters, context, after))
        for line in result.summary():
            feedback.pushInfo(line)
        for t in result.reported():
            feedback.pushInfo(f"{t.from_class} -> {t.to_class}: {t.area_m2:.1f} m² ({t.area_ha:.4f} ha, "
                              f"{100 * t.share:.2f}%)")
        for note in result.notes:
            feedback.pushInfo(f"Note: {note}")
        outputs: dict[str, Any] = {self.OUTPUT: result.mask_path, self.SUMMARY: " ".join(result.summary()),
                                   self.CHANGED_M2: round(result.changed_m2, 2), self.SOURCE: "measured",
                                   self.ANSWER: ""}
        if result.answer:
            feedback.pushInfo(f"Answer: {result.answer['answer']}. {result.answer['sentence']} (measured)")
            outputs[self.ANSWER] = result.answer["sentence"]
        outputs[self.POLYGONS] = self._polygons(parameters, context, gpkg, before.crs())
        self._style_on_load(context, result.mask_path, style_change_mask, result)
        self._style_on_load(context, outputs[self.POLYGONS], style_change_polygons, result)
        return outputs

    def _polygons(self, parameters: dict, context: Any, gpkg: str, crs: Any) -> str:
        """Copy the engine's change polygons into the POLYGONS sink; its destination id."""
        source = QgsVectorLayer(f"{gpkg}|layername=change", "change", "ogr")
        if not source.isValid():
            raise QgsProcessingException(f"The change polygons could not be read back from {gpkg}.")
        fields = QgsFields()
        for f in source.fields():
            if f.name() != "fid":
                fields.append(f)
        sink, dest = self.parameterAsSink(parameters, self.POLYGONS, context, fields, Qgis.WkbType.MultiPolygon,
                                          source.crs() if source.crs().isValid() else crs)
        for feature in source.getFeatures():
            copy = QgsFeature(fields)
            copy.setGeometry(feature.geometry())
            copy.setAttributes([feature[f.name()] for f in fields])
            sink.addFeature(copy, QgsFeatureSink.Flag.FastInsert)
        return dest

    @staticmethod
    def _style_on_load(context: Any, layer_id: str, style: Any, result: Any) -> None:
        if context.willLoadLayerOnCompletion(layer_id):
            processor = StyleOnLoad(style, result)
            _KEEP_ALIVE.append(processor)
            context.layerToLoadOnCompletionDetails(layer_id).setPostProcessor(processor)

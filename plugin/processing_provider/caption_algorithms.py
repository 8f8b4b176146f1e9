"""Batch captioning: many raster layers at once, or every cell of a vector grid over one raster."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureSink,
    QgsFields,
    QgsGeometry,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterLayer,
    QgsRasterLayer,
)

from core.errors import InputError

from ..layers import field
from .base import EngineAlgorithm, bands_help, progress_fn, retrieved_text, source_type, total_seconds

CAPTION_FIELDS = (("caption", "str"), ("retrieved", "str"), ("top_score", "float"), ("tiles", "int"),
                  ("device", "str"), ("model", "str"), ("seconds", "float"))


def _caption_values(result: Any) -> list[Any]:
    prov = result.provenance
    top = max((r.score for r in prov.retrieved), default=None)
    return [result.caption, retrieved_text(prov), float(top) if top is not None else None, int(prov.tiles),
            prov.device, prov.model_id, total_seconds(prov)]


def _add_caption_fields(fields: QgsFields) -> QgsFields:
    for name, kind in CAPTION_FIELDS:
        fields.append(field(name, kind))
    return fields


def footprint(layer: QgsRasterLayer, crs: QgsCoordinateReferenceSystem, context: Any) -> QgsGeometry:
    """The raster's extent as a polygon in ``crs``; its edges are densified so that they bend when reprojected."""
    geom = QgsGeometry.fromRect(layer.extent()).densifyByCount(16)
    if crs.isValid() and layer.crs().isValid() and layer.crs() != crs:
        geom.transform(QgsCoordinateTransform(layer.crs(), crs, context.transformContext()))
    return geom


def log_caption(feedback: Any, where: str, result: Any) -> None:
    """Write a caption, and where its words were checked against the map, to the Processing log."""
    feedback.pushInfo(f"{where}: {result.caption}")
    if getattr(result, "overruled", False) and getattr(result, "model_caption", ""):
        feedback.pushInfo(f"  the model wrote \u201c{result.model_caption}\u201d; its figures were replaced by "
                          "the measured ones")


class CaptionRastersAlgorithm(EngineAlgorithm):
    """One caption per raster layer, written as the raster's footprint polygon."""

    INPUT, OUTPUT = "INPUT", "OUTPUT"

    def name(self) -> str:
        return "caption_rasters"

    def displayName(self) -> str:  # noqa: N802 (QGIS's names)
        return "Caption raster layers"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Describes each input raster in one sentence and lists the descriptions retrieved from the "
                "semantic database with their similarity scores. Writes one polygon per raster: its footprint, in "
                "the CRS of the first raster, with the caption in the 'caption' field. Each caption is also "
                "written to the log." + bands_help())

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterMultipleLayers(self.INPUT, "Raster layers", source_type("Raster")))
        self.add_band_parameters()
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, "Captions",
                                                            source_type("VectorPolygon")))

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        rasters = [lyr for lyr in self.parameterAsLayerList(parameters, self.INPUT, context)
                   if isinstance(lyr, QgsRasterLayer)]
        if not rasters:
            raise QgsProcessingException("Pick at least one raster layer.")
        fields = QgsFields()
        fields.append(field("raster", "str"))
        fields.append(field("path", "str"))
        _add_caption_fields(fields)
        crs = next((lyr.crs() for lyr in rasters if lyr.crs().isValid()), QgsCoordinateReferenceSystem())
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields, Qgis.WkbType.Polygon, crs)
        n = len(rasters)
        for i, layer in enumerate(rasters):
            if feedback.isCanceled():
                break
            feedback.pushInfo(f"Captioning {layer.name()} ({i + 1}/{n})")

            progress = progress_fn(feedback, i / n, (i + 1) / n)
            imagery = self.band_choice(parameters, context, layer)  # BANDS/SENSOR, else this layer's own choice
            result = self.run_engine(parameters, context, feedback, "caption", progress, keep_input_errors=True,
                                     raster=layer.source(), **imagery)
            if isinstance(result, InputError):  # one unreadable raster does not stop the batch
                feedback.reportError(f"{layer.name()}: {result}", fatalError=False)
                continue
            log_caption(feedback, layer.name(), result)
            feature = QgsFeature(fields)
            feature.setGeometry(footprint(layer, crs, context))
            feature.setAttributes([layer.name(), layer.source(), *_caption_values(result)])
            sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
        return {self.OUTPUT: dest}


class CaptionGridAlgorithm(EngineAlgorithm):
    """One caption per polygon of a grid (or any polygon layer) laid over a raster."""

    RASTER, GRID, OUTPUT = "RASTER", "GRID", "OUTPUT"

    def name(self) -> str:
        return "caption_grid"

    def displayName(self) -> str:  # noqa: N802
        return "Caption grid cells over a raster"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Describes the part of the raster under each polygon of the grid layer (for example a grid made "
                "with 'Create grid'). Cells outside the raster are skipped. The output keeps the grid's cells and "
                "attributes and adds the caption and the retrieved descriptions. Each caption is also written to "
                "the log." + bands_help())

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, "Raster"))
        self.addParameter(QgsProcessingParameterFeatureSource(self.GRID, "Grid polygons",
                                                              [source_type("VectorPolygon")]))
        self.add_band_parameters()
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, "Captioned grid",
                                                            source_type("VectorPolygon")))

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        raster = self.raster(parameters, self.RASTER, context)
        grid = self.parameterAsSource(parameters, self.GRID, context)
        if grid is None:
            raise QgsProcessingException("Pick a polygon layer for the grid.")
        fields = _add_caption_fields(QgsFields(grid.fields()))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields, grid.wkbType(),
                                          grid.sourceCrs())
        imagery = self.band_choice(parameters, context, raster)
        transform = QgsCoordinateTransform(grid.sourceCrs(), raster.crs(), context.transformContext())
        extent = QgsGeometry.fromRect(raster.extent())
        n = max(grid.featureCount(), 1)
        skipped = 0
        for i, cell in enumerate(grid.getFeatures()):
            if feedback.isCanceled():
                break
            geom = QgsGeometry(cell.geometry())
            geom.transform(transform)
            inside = geom.intersection(extent)
            if inside.isEmpty() or inside.area() <= 0:
                skipped += 1
                continue
            progress = progress_fn(feedback, i / n, (i + 1) / n)
            result = self.run_engine(parameters, context, feedback, "caption", progress, raster=raster.source(),
                                     aoi=inside.asWkt(), **imagery)
            log_caption(feedback, f"cell {cell.id()}", result)
            feature = QgsFeature(fields)
            feature.setGeometry(cell.geometry())
            feature.setAttributes([*cell.attributes(), *_caption_values(result)])
            sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
        if skipped:
            feedback.pushWarning(f"{skipped} cell(s) outside the raster were skipped.")
        return {self.OUTPUT: dest}

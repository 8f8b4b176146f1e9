"""Layers of what "find" found: measured objects as polygons styled by class, oriented boxes, or the model's boxes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFields,
    QgsFillSymbol,
    QgsGeometry,
    QgsPointXY,
    QgsRendererCategory,
    QgsVectorLayer,
)

from core.errors import InputError

from .evidence import MEASURED, found_layer_name
from .layers import boxes_layer, class_color, field

FOUND_FIELDS = (("label", "str"), ("area_m2", "float"), ("area_ha", "float"), ("position", "str"),
                ("rule", "str"), ("score", "float"))
FILL_ALPHA = 110  # of 255: the scene stays visible under the polygons


def found_fields() -> QgsFields:
    """The fields of a found-object layer: label, area_m2, area_ha, position, rule, score."""
    fields = QgsFields()
    for name, kind in FOUND_FIELDS:
        fields.append(field(name, kind))
    return fields


def object_geometry(obj: Any) -> QgsGeometry:
    """A FoundObject's outline as a multipolygon (raster CRS); InputError when its WKT does not parse."""
    geom = QgsGeometry.fromWkt(obj.polygon_wkt)
    if geom.isNull() or geom.isEmpty():
        raise InputError(f"The outline of a found {obj.label} object could not be read.")
    geom.convertToMultiType()
    return geom


def oriented_box_geometry(obj: Any) -> QgsGeometry:
    """A FoundObject's minimum rotated rectangle as a multipolygon (raster CRS)."""
    ring = [QgsPointXY(float(x), float(y)) for x, y in obj.oriented_box]
    geom = QgsGeometry.fromPolygonXY([ring])
    geom.convertToMultiType()
    return geom


def object_feature(fields: QgsFields, obj: Any, geom: QgsGeometry) -> QgsFeature:
    """A feature with ``geom`` and the object's attributes in :data:`FOUND_FIELDS` order."""
    feature = QgsFeature(fields)
    feature.setGeometry(geom)
    area = float(obj.area_m2)
    feature.setAttributes([obj.label, area, area / 1e4, obj.position, obj.rule, float(obj.score)])
    return feature


def objects_layer(objects: list, crs: QgsCoordinateReferenceSystem, name: str, oriented: bool = False
                  ) -> QgsVectorLayer:
    """A memory polygon layer of found objects in ``crs`` (the raster's), styled by class.

    Args:
        objects: ``core.results.FoundObject`` items.
        crs: the raster CRS the outlines are in.
        name: the layer name.
        oriented: the objects' minimum rotated rectangles instead of their outlines (outlined, not filled).
    """
    layer = QgsVectorLayer(f"MultiPolygon?crs={crs.authid() or 'EPSG:4326'}", name, "memory")
    if not crs.authid():
        layer.setCrs(crs)
    provider = layer.dataProvider()
    provider.addAttributes(list(found_fields()))
    layer.updateFields()
    make = oriented_box_geometry if oriented else object_geometry
    provider.addFeatures([object_feature(layer.fields(), obj, make(obj)) for obj in objects])
    layer.updateExtents()
    style_by_label(layer, [obj.label for obj in objects], filled=not oriented)
    return layer


def style_by_label(layer: QgsVectorLayer, labels: Iterable[str], filled: bool = True) -> None:
    """Categorized by ``label`` with the land-cover palette: semi-transparent fill, or outlines only."""
    categories = []
    for label in dict.fromkeys(labels):
        color = class_color(label)
        outline = f"{color.red()},{color.green()},{color.blue()},255"
        fill = f"{color.red()},{color.green()},{color.blue()},{FILL_ALPHA if filled else 0}"
        symbol = QgsFillSymbol.createSimple({"color": fill, "outline_color": outline,
                                             "outline_width": "0.6" if filled else "0.8",
                                             "outline_style": "solid" if filled else "dash"})
        categories.append(QgsRendererCategory(label, symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer("label", categories))
    layer.triggerRepaint()


def found_layers(result: Any, raster_crs: QgsCoordinateReferenceSystem, project_crs: QgsCoordinateReferenceSystem,
                 raster_source: str, oriented_boxes: bool = False) -> list[QgsVectorLayer]:
    """The layers a GroundResult puts on the map (not yet added to the project).

    Measured: the objects' outlines in the raster CRS (and their oriented boxes when asked for).
    Model: today's box layer in the project CRS, named "(model)".
    """
    name = found_layer_name({"prompt": result.prompt, "source": result.source,
                             "objects": result.objects, "boxes": result.boxes})
    if result.source == MEASURED:
        if not result.objects:
            raise InputError("This answer found no objects.")
        out = [objects_layer(result.objects, raster_crs, name)]
        if oriented_boxes:
            out.append(objects_layer(result.objects, raster_crs, f"{name} oriented boxes", oriented=True))
        return out
    if not result.boxes:
        raise InputError("This answer has no boxes.")
    return [boxes_layer(result.boxes, raster_crs, project_crs, result.prompt, raster_source,
                        result.provenance.model_id, name)]

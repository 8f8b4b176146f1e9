"""Map layers from results: a styled class raster with a legend, box layers in the project CRS, GeoPackage."""

from __future__ import annotations

import datetime as dt
import os
from typing import Optional

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsField,
    QgsFillSymbol,
    QgsGeometry,
    QgsPalettedRasterRenderer,
    QgsPalLayerSettings,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtCore import QMetaType
from qgis.PyQt.QtGui import QColor

from core.errors import InputError
from core.palette import class_rgba

from .true_color import apply_true_color

BOX_FIELDS = (("label", "str"), ("score", "float"), ("prompt", "str"), ("source", "str"), ("model", "str"),
              ("created", "str"))


def class_color(name: str) -> QColor:
    """The legend colour of a class."""
    return QColor(*class_rgba(name))


def apply_class_palette(layer: QgsRasterLayer, classes: list[str], areas: Optional[dict[str, str]] = None) -> None:
    """Style a class-index raster (band 1) with the class palette; legend labels carry areas when given."""
    items = []
    for value, name in enumerate(classes):
        label = f"{name} ({areas[name]})" if areas and name in areas else name
        items.append(QgsPalettedRasterRenderer.Class(value, class_color(name), label))
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, items))
    layer.setOpacity(0.6)
    layer.triggerRepaint()


def segmentation_layer(mask_path: str, classes: list[str], name: str,
                       areas: Optional[dict[str, str]] = None) -> QgsRasterLayer:
    """A styled raster layer for a SegmentResult's mask (not yet added to the project)."""
    layer = QgsRasterLayer(mask_path, name, "gdal")
    if not layer.isValid():
        raise InputError(f"The segmentation file could not be opened: {mask_path}.")
    apply_class_palette(layer, classes, areas)
    return layer


def field(name: str, kind: str) -> QgsField:
    """A QgsField of kind ``str``, ``float`` or ``int`` (QMetaType on QGIS >= 3.38, QVariant before)."""
    if Qgis.versionInt() >= 33800:
        types = {"str": QMetaType.Type.QString, "float": QMetaType.Type.Double, "int": QMetaType.Type.Int}
    else:  # QGIS 3.34/3.36 (Qt5 only)
        from qgis.PyQt.QtCore import QVariant

        types = {"str": QVariant.String, "float": QVariant.Double, "int": QVariant.Int}  # Qt5 only
    return QgsField(name, types[kind])


def _fields() -> list[QgsField]:
    return [field(name, kind) for name, kind in BOX_FIELDS]


def boxes_layer(boxes: list, raster_crs: QgsCoordinateReferenceSystem, dest_crs: QgsCoordinateReferenceSystem,
                prompt: str, source: str, model: str, name: str) -> QgsVectorLayer:
    """A memory polygon layer of boxes given in ``raster_crs``, reprojected into ``dest_crs``.

    Each box's edges are densified before reprojection so that they bend as they should.

    Args:
        boxes: ``core.results.Box`` objects (x1, y1, x2, y2 in the raster CRS, label, score).
        raster_crs: the CRS the boxes are in.
        dest_crs: the layer's CRS (the project CRS in the chat panel).
        prompt, source, model: attributes copied onto every feature.
        name: the layer name.
    """
    layer = QgsVectorLayer(f"Polygon?crs={dest_crs.authid() or 'EPSG:4326'}", name, "memory")
    if not dest_crs.authid():
        layer.setCrs(dest_crs)
    provider = layer.dataProvider()
    provider.addAttributes(_fields())
    layer.updateFields()
    transform = QgsCoordinateTransform(raster_crs, dest_crs, QgsProject.instance())
    created = dt.datetime.now().isoformat(timespec="seconds")
    features = []
    for box in boxes:
        geom = QgsGeometry.fromRect(QgsRectangle(box.x1, box.y1, box.x2, box.y2)).densifyByCount(8)
        geom.transform(transform)
        feature = QgsFeature(layer.fields())
        feature.setGeometry(geom)
        feature.setAttributes([box.label, float(box.score), prompt, source, model, created])
        features.append(feature)
    provider.addFeatures(features)
    layer.updateExtents()
    style_boxes(layer)
    return layer


def style_boxes(layer: QgsVectorLayer) -> None:
    """Outline-only boxes labelled with ``label score``."""
    symbol = QgsFillSymbol.createSimple(
        {"color": "0,0,0,0", "outline_color": "255,0,200,255", "outline_width": "0.8"})
    layer.renderer().setSymbol(symbol)
    labels = QgsPalLayerSettings()
    labels.fieldName = "concat(\"label\", ' ', format_number(\"score\", 2))"
    labels.isExpression = True
    layer.setLabeling(QgsVectorLayerSimpleLabeling(labels))
    layer.setLabelsEnabled(True)


def save_as_geopackage(layer: QgsVectorLayer, path: str, table: str = "") -> str:
    """Write ``layer`` to a GeoPackage at ``path`` (replacing the file) and return the path.

    ``table``: the layer's name inside the GeoPackage (default: the layer name with ``_`` for spaces).
    """
    if not path.lower().endswith(".gpkg"):
        path += ".gpkg"
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = table or layer.name().replace(" ", "_") or "boxes"
    if os.path.exists(path):
        os.remove(path)
    error, message, _, _ = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, path, QgsProject.instance().transformContext(), options)
    if error != QgsVectorFileWriter.WriterError.NoError:
        raise InputError(f"Could not save the GeoPackage {path}: {message or error}.")
    return path


def kept_copy(layer: QgsVectorLayer, path: str, table: str) -> QgsVectorLayer:
    """``layer`` written to the GeoPackage ``path`` and opened from there, with the same name and style, so a
    saved project keeps it (a memory layer would be lost)."""
    written = save_as_geopackage(layer, path, table)
    kept = QgsVectorLayer(f"{written}|layername={table}", layer.name(), "ogr")
    if not kept.isValid():
        raise InputError(f"The GeoPackage {written} could not be opened.")
    kept.setRenderer(layer.renderer().clone())
    if layer.labeling() is not None:
        kept.setLabeling(layer.labeling().clone())
        kept.setLabelsEnabled(layer.labelsEnabled())
    return kept


def add_to_project(layer, group: str = "EarthAsk") -> None:
    """Add ``layer`` on top of an ``EarthAsk`` group in the layer tree.

    A raster of three bands or more is drawn in true colour first: the bands the engine reads as red, green, blue.
    """
    if isinstance(layer, QgsRasterLayer) and layer.bandCount() >= 3:
        apply_true_color(layer)
    project = QgsProject.instance()
    project.addMapLayer(layer, False)
    root = project.layerTreeRoot()
    node = root.findGroup(group) or root.insertGroup(0, group)
    node.insertLayer(0, layer)

"""Zooming to what was found: the union of the layers, with a margin, never closer than a minimum scale."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsProject,
    QgsRectangle,
    QgsScaleCalculator,
    QgsVectorLayer,
)

MIN_SCALE = 5000.0  # 1:5000: a single small object is shown with its surroundings
MARGIN = 0.1  # of the extent's width and height, on each side


def union_extent(layers: Iterable[QgsVectorLayer], dest_crs: QgsCoordinateReferenceSystem) -> QgsRectangle:
    """The union of the layers' extents in ``dest_crs`` (a null rectangle when there is nothing)."""
    union = QgsRectangle()
    union.setNull()
    for layer in layers:
        if layer.featureCount() == 0:
            continue
        rect = QgsCoordinateTransform(layer.crs(), dest_crs, QgsProject.instance()).transformBoundingBox(
            layer.extent())
        union.combineExtentWith(rect)
    return union


def aoi_extent(aoi: Any, aoi_crs: QgsCoordinateReferenceSystem, dest_crs: QgsCoordinateReferenceSystem
               ) -> QgsRectangle:
    """The bounding box in ``dest_crs`` of an area of interest (WKT or [xmin, ymin, xmax, ymax] in ``aoi_crs``)."""
    geom = QgsGeometry.fromWkt(aoi) if isinstance(aoi, str) else QgsGeometry.fromRect(QgsRectangle(*aoi))
    return QgsCoordinateTransform(aoi_crs, dest_crs, QgsProject.instance()).transformBoundingBox(geom.boundingBox())


def zoom_extent(rect: QgsRectangle, crs: QgsCoordinateReferenceSystem, width_px: int, height_px: int,
                dpi: float, min_scale: float = MIN_SCALE, margin: float = MARGIN) -> QgsRectangle:
    """The map extent that shows ``rect`` (in ``crs``) with a margin, at a scale no larger than 1:``min_scale``.

    The canvas shows ``units_per_px = max(w / width_px, h / height_px)``, and its scale is
    ``scale_of_one_unit * units_per_px * width_px`` where ``scale_of_one_unit`` is what
    :class:`QgsScaleCalculator` gives a one-unit-wide extent over ``width_px``. When that scale is below
    ``min_scale`` the extent grows about its centre until it reaches it (a point becomes a 1:``min_scale`` view).
    """
    center = rect.center()
    w = rect.width() * (1.0 + 2.0 * margin)
    h = rect.height() * (1.0 + 2.0 * margin)
    calculator = QgsScaleCalculator(dpi, crs.mapUnits())
    unit = QgsRectangle(center.x() - 0.5, center.y() - 0.5, center.x() + 0.5, center.y() + 0.5)
    scale_of_one_unit = calculator.calculate(unit, width_px)
    units_per_px = max(w / width_px, h / height_px)
    needed = min_scale / (scale_of_one_unit * width_px) if scale_of_one_unit > 0 else 0.0  # units per pixel
    if units_per_px < needed:
        if units_per_px <= 0:  # a point: the view is the canvas's shape at the minimum scale
            w, h = needed * width_px, needed * height_px
        else:
            w, h = w * needed / units_per_px, h * needed / units_per_px
    return QgsRectangle(center.x() - w / 2, center.y() - h / 2, center.x() + w / 2, center.y() + h / 2)


def zoom_canvas_to(canvas, rect: QgsRectangle, min_scale: float = MIN_SCALE, margin: float = MARGIN) -> bool:
    """Zoom ``canvas`` to ``rect`` (already in the canvas CRS) with :func:`zoom_extent`; False when there is no
    usable rectangle (null or not finite), and the canvas is left as it was.

    Whatever the canvas makes of the extent (its own size, DPI and CRS), it ends no closer than 1:``min_scale``.
    """
    if rect is None or rect.isNull() or not all(math.isfinite(v) for v in (
            rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())):
        return False
    settings = canvas.mapSettings()
    size = settings.outputSize()
    width, height = max(size.width(), 1), max(size.height(), 1)
    canvas.setExtent(zoom_extent(rect, settings.destinationCrs(), width, height, settings.outputDpi(),
                                 min_scale, margin))
    if canvas.scale() < min_scale * (1.0 - 1e-6):  # the canvas computed its scale otherwise: enforce it there
        canvas.zoomScale(min_scale)
    canvas.refresh()
    return True

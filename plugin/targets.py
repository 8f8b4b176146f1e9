"""What a question is about (map view, selected feature, drawn box) and its area in the raster's CRS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)

from core.errors import InputError

VIEW, SELECTION, BOX = "view", "selection", "box"
TARGET_KINDS = (VIEW, SELECTION, BOX)
TARGET_NAMES = {VIEW: "Map view", SELECTION: "Selected feature", BOX: "Drawn box"}

Aoi = Union[list[float], str]  # [xmin, ymin, xmax, ymax] or a WKT polygon, both in the raster CRS


@dataclass
class Target:
    """An area in ``crs`` (the map canvas CRS for a view or a box, the layer CRS for a feature)."""

    kind: str
    geometry: QgsGeometry
    crs: QgsCoordinateReferenceSystem
    label: str  # what the panel shows: "map view", "drawn box", "feature 3 of parcels"


def view_target(extent: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> Target:
    """The visible map extent."""
    return Target(VIEW, QgsGeometry.fromRect(extent), crs, "map view")


def box_target(rect: Optional[QgsRectangle], crs: QgsCoordinateReferenceSystem) -> Target:
    """A box drawn with the map tool; ``InputError`` when none has been drawn yet."""
    if rect is None or rect.isEmpty():
        raise InputError("Draw a box on the map first (EarthAsk draw-box tool).")
    return Target(BOX, QgsGeometry.fromRect(rect), crs, "drawn box")


def selection_target(layer: Optional[object]) -> Target:
    """The selected feature(s) of the active vector layer, dissolved into one geometry."""
    if not isinstance(layer, QgsVectorLayer) or layer.selectedFeatureCount() == 0:
        raise InputError("Select a feature in a vector layer first, or ask about the map view.")
    geoms = [f.geometry() for f in layer.selectedFeatures() if f.hasGeometry()]
    if not geoms:
        raise InputError("The selected feature has no geometry.")
    geometry = QgsGeometry.unaryUnion(geoms) if len(geoms) > 1 else QgsGeometry(geoms[0])
    ids = layer.selectedFeatureIds()
    what = f"feature {ids[0]}" if len(ids) == 1 else f"{len(ids)} features"
    return Target(SELECTION, geometry, layer.crs(), f"{what} of {layer.name()}")


def describe_rect(rect: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> str:
    """``"1.2 × 0.8 km"`` (or degrees when the CRS is geographic)."""
    w, h = rect.width(), rect.height()
    if crs.isGeographic():
        return f"{w:.4f}° × {h:.4f}°"
    if max(w, h) >= 2000:
        return f"{w / 1000:.1f} × {h / 1000:.1f} km"
    return f"{w:.0f} × {h:.0f} m"


def aoi_in_raster_crs(target: Target, raster: QgsRasterLayer) -> Aoi:
    """The target's area in the raster's CRS, clipped to the raster.

    A view or a box becomes the bounding box of the reprojected rectangle; a polygon feature becomes a WKT
    polygon (points and lines become their bounding box).

    Raises:
        InputError: when the area does not overlap the raster.
    """
    transform = QgsCoordinateTransform(target.crs, raster.crs(), QgsProject.instance())
    geometry = QgsGeometry(target.geometry)
    if target.kind in (VIEW, BOX):
        rect = transform.transformBoundingBox(geometry.boundingBox())
        geometry = QgsGeometry.fromRect(rect)
    else:
        if geometry.type() == Qgis.GeometryType.Polygon:
            geometry = geometry.densifyByCount(4)  # edges bend when reprojected
        geometry.transform(transform)
    extent = raster.extent()
    if not geometry.boundingBox().intersects(extent):
        raise InputError(f"The {target.label} does not overlap the raster layer {raster.name()}.")
    polygon = target.kind == SELECTION and geometry.area() > 0
    if polygon:
        clipped = geometry.intersection(QgsGeometry.fromRect(extent))
        if clipped.isEmpty() or clipped.area() <= 0:
            raise InputError(f"The {target.label} does not overlap the raster layer {raster.name()}.")
        return clipped.asWkt()
    box = geometry.boundingBox().intersect(extent)
    if box.width() <= 0 or box.height() <= 0:
        raise InputError(f"The {target.label} does not overlap the raster layer {raster.name()}.")
    return [box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum()]

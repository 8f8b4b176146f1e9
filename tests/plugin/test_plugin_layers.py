"""Result layers: box layers reprojected into the project CRS, GeoPackage export, the class palette."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)

from core.results import Box
from plugin.layers import boxes_layer, class_color, save_as_geopackage, segmentation_layer

pytestmark = pytest.mark.qgis
UTM = QgsCoordinateReferenceSystem("EPSG:32618")
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
BOXES = [Box(436000.0, 4178600.0, 436400.0, 4179000.0, "playground", 0.83),
         Box(436500.0, 4178900.0, 436900.0, 4179400.0, "pond", 0.41)]


@pytest.mark.parametrize("dest", ["EPSG:4326", "EPSG:3857", "EPSG:32618"])
def test_boxes_layer_is_in_the_destination_crs_with_the_right_extent(dest: str) -> None:
    crs = QgsCoordinateReferenceSystem(dest)
    layer = boxes_layer(BOXES, UTM, crs, "find all playgrounds", "/data/utm.tif", "tiny-random", "boxes")
    assert layer.isValid() and layer.crs() == crs and layer.featureCount() == 2
    transform = QgsCoordinateTransform(UTM, crs, QgsProject.instance())
    for feature, box in zip(layer.getFeatures(), BOXES):
        expected = transform.transformBoundingBox(QgsRectangle(box.x1, box.y1, box.x2, box.y2))
        got = feature.geometry().boundingBox()
        tol = 1e-6 * max(expected.width(), expected.height())
        assert abs(got.xMinimum() - expected.xMinimum()) <= tol and abs(got.yMaximum() - expected.yMaximum()) <= tol
        assert feature["label"] == box.label and feature["score"] == pytest.approx(box.score)
        assert feature["prompt"] == "find all playgrounds" and feature["source"] == "/data/utm.tif"
        assert feature["model"] == "tiny-random" and feature["created"]
    if dest == "EPSG:32618":
        assert layer.extent() == QgsRectangle(436000.0, 4178600.0, 436900.0, 4179400.0)
    # Edges are densified: a box keeps its shape when reprojected (more than 4 corners).
    assert len(next(layer.getFeatures()).geometry().asPolygon()[0]) > 5


def test_save_as_geopackage_round_trip(tmp_path) -> None:
    layer = boxes_layer(BOXES, UTM, WGS84, "ponds", "/data/utm.tif", "tiny-random", "ponds found")
    path = save_as_geopackage(layer, str(tmp_path / "boxes"))
    assert path.endswith(".gpkg")
    saved = QgsVectorLayer(path, "saved", "ogr")
    assert saved.isValid() and saved.featureCount() == 2 and saved.crs() == WGS84
    assert {f["label"] for f in saved.getFeatures()} == {"playground", "pond"}
    path_again = save_as_geopackage(layer, path)  # overwriting works
    assert QgsVectorLayer(path_again, "again", "ogr").featureCount() == 2


def test_segmentation_layer_has_the_class_palette_and_legend(tmp_path) -> None:
    path = tmp_path / "mask.tif"
    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 1, "dtype": "uint8", "crs": "EPSG:32618",
               "transform": rasterio.transform.from_origin(436000, 4179000, 10, 10)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.arange(64, dtype=np.uint8).reshape(1, 8, 8) % 3)
    classes = ["background", "building", "my crop"]
    layer = segmentation_layer(str(path), classes, "land cover", {"building": "1,200 m² (0.12 ha)"})
    renderer = layer.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    assert [c.value for c in renderer.classes()] == [0, 1, 2]
    assert [c.label for c in renderer.classes()] == ["background", "building (1,200 m² (0.12 ha))", "my crop"]
    assert renderer.classes()[1].color == class_color("building")
    assert class_color("background").alpha() == 0  # background stays see-through
    assert class_color("my crop") == class_color("my crop")  # unknown classes get a stable colour
    assert len(renderer.legendSymbologyItems()) == 3

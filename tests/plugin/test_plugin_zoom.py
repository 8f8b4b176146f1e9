"""Zooming to what "find" found: the union of the results, never closer than 1:MIN_SCALE, in any canvas CRS."""

from __future__ import annotations

import pytest
from plugin_helpers import show_layer
from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsProject, QgsRectangle

from core.results import Box, FoundObject, GroundResult, Provenance
from plugin.engine_calls import TurnInput
from plugin.zoom import MIN_SCALE, zoom_canvas_to

pytestmark = pytest.mark.qgis
UTM = QgsCoordinateReferenceSystem("EPSG:32618")
PROV = Provenance(raster="/data/utm.tif", crs="EPSG:32618", tiles=1, device="cpu", model_id="tiny-random")
CANVAS_CRS = ["EPSG:32618", "EPSG:3857", "EPSG:4326"]


def _object(x: float, y: float, w: float, h: float, label: str = "water") -> FoundObject:
    ring = [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]
    wkt = "POLYGON((" + ", ".join(f"{a} {b}" for a, b in ring) + "))"
    return FoundObject(label, w * h, 1.0, "rule", wkt, Box(x, y, x + w, y + h, label, 1.0), ring, "centre")


def _feed(plugin, layer, result: GroundResult) -> int:
    """A finished "find" turn over ``layer``, as the engine would hand it back: adds its layer and zooms."""
    controller = plugin.controller
    turn = controller.conversation.add("ground", f"find {result.prompt}", "map view", layer.name())
    e = layer.extent()
    controller.inputs[turn.id] = TurnInput(layer.id(), layer.source(), layer.crs(),
                                           [e.xMinimum(), e.yMinimum(), e.xMaximum(), e.yMaximum()], result.prompt)
    plugin.dock.add_turn(turn)
    controller._done(turn, result)
    return turn.id


def _in_canvas(iface, rect: QgsRectangle) -> QgsRectangle:
    crs = iface.mapCanvas().mapSettings().destinationCrs()
    return QgsCoordinateTransform(UTM, crs, QgsProject.instance()).transformBoundingBox(rect)


def _centre(utm_layer) -> tuple[float, float]:
    c = utm_layer.extent().center()
    return c.x(), c.y()


@pytest.mark.parametrize("crs", CANVAS_CRS)
@pytest.mark.parametrize("size", [30.0, 1.0], ids=["small-box", "point-like"])
def test_one_small_result_is_shown_at_the_minimum_scale(plugin, iface, utm_layer, crs: str, size: float) -> None:
    show_layer(iface, utm_layer, QgsCoordinateReferenceSystem(crs))
    x, y = _centre(utm_layer)
    found = _object(x, y, size, size)
    result = GroundResult("the pond", [found.box], None, [], PROV, source="measured", objects=[found])
    _feed(plugin, utm_layer, result)
    canvas = iface.mapCanvas()
    assert MIN_SCALE * 0.99 <= canvas.scale() <= MIN_SCALE * 1.5, canvas.scale()  # never 1:206
    assert canvas.extent().contains(_in_canvas(iface, QgsRectangle(x, y, x + size, y + size)))


@pytest.mark.parametrize("crs", CANVAS_CRS)
def test_a_small_model_box_is_shown_at_the_minimum_scale(plugin, iface, utm_layer, crs: str) -> None:
    show_layer(iface, utm_layer, QgsCoordinateReferenceSystem(crs))
    x, y = _centre(utm_layer)
    box = Box(x, y, x + 12.0, y + 8.0, "car", 0.7)
    _feed(plugin, utm_layer, GroundResult("the cars", [box], None, [], PROV))  # the model's boxes
    canvas = iface.mapCanvas()
    assert MIN_SCALE * 0.99 <= canvas.scale() <= MIN_SCALE * 1.5, canvas.scale()
    assert canvas.extent().contains(_in_canvas(iface, QgsRectangle(box.x1, box.y1, box.x2, box.y2)))


def test_results_far_apart_are_all_in_view(plugin, iface, utm_layer) -> None:
    show_layer(iface, utm_layer)
    e = utm_layer.extent()
    first = _object(e.xMinimum() + 10, e.yMinimum() + 10, 20, 20)
    last = _object(e.xMaximum() - 30, e.yMaximum() - 30, 20, 20)
    result = GroundResult("the ponds", [first.box, last.box], None, [], PROV, source="measured",
                          objects=[first, last])
    turn_id = _feed(plugin, utm_layer, result)
    canvas = iface.mapCanvas()
    union = QgsRectangle(first.box.x1, first.box.y1, last.box.x2, last.box.y2)
    assert canvas.extent().contains(union) and canvas.extent().width() < 2 * union.width()
    canvas.setExtent(QgsRectangle(0, 0, 10, 10))  # the user looks elsewhere; the card's Zoom comes back
    plugin.dock.turn_widgets[turn_id].zoom_button.click()
    assert canvas.extent().contains(union)


def test_nothing_to_zoom_to_leaves_the_canvas_alone(iface, utm_layer) -> None:
    show_layer(iface, utm_layer)
    canvas = iface.mapCanvas()
    before = canvas.extent()
    empty = QgsRectangle()
    empty.setNull()
    assert zoom_canvas_to(canvas, empty) is False
    assert zoom_canvas_to(canvas, QgsRectangle(float("nan"), 0, 1, 1)) is False
    assert canvas.extent() == before

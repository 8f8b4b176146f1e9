"""The draw-box tool with simulated mouse events, in a project CRS (Web Mercator) unlike the raster's (UTM)."""

from __future__ import annotations

import pytest
from plugin_helpers import ask, show_layer, wait_for_task
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QPoint, Qt

from plugin.conversation import DONE
from plugin.targets import BOX, VIEW

pytestmark = pytest.mark.qgis
MERCATOR = QgsCoordinateReferenceSystem("EPSG:3857")
PIXEL = 10.0  # metres, the fixture raster's pixel size


def _draw(qtbot, canvas, p1: QPoint, p2: QPoint) -> QgsRectangle:
    """Drag from p1 to p2 on the canvas; returns the rectangle the drag covers in map coordinates."""
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=p1)
    qtbot.mouseMove(viewport, QPoint((p1.x() + p2.x()) // 2, (p1.y() + p2.y()) // 2))
    qtbot.mouseMove(viewport, p2)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=p2)
    to_map = canvas.getCoordinateTransform()
    rect = QgsRectangle(to_map.toMapCoordinates(p1.x(), p1.y()), to_map.toMapCoordinates(p2.x(), p2.y()))
    rect.normalize()
    return rect


def _close(a: QgsRectangle, b: QgsRectangle, tol: float) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(
        (a.xMinimum(), a.yMinimum(), a.xMaximum(), a.yMaximum()),
        (b.xMinimum(), b.yMinimum(), b.xMaximum(), b.yMaximum())))


def _to_raster(rect: QgsRectangle, raster: QgsRasterLayer) -> QgsRectangle:
    transform = QgsCoordinateTransform(MERCATOR, raster.crs(), QgsProject.instance())
    return transform.transformBoundingBox(rect).intersect(raster.extent())


def test_drawn_box_becomes_the_target_and_gives_layers_in_the_project_crs(plugin, iface, utm_layer, qtbot) -> None:
    show_layer(iface, utm_layer, MERCATOR)
    canvas = iface.mapCanvas()
    qtbot.waitUntil(lambda: canvas.width() > 100 and canvas.height() > 100)
    plugin.dock.draw_button.click()
    assert canvas.mapTool() is plugin.tool and plugin.dock.draw_button.isChecked()

    w, h = canvas.width(), canvas.height()
    drawn = _draw(qtbot, canvas, QPoint(w // 4, h // 4), QPoint(3 * w // 4, 2 * h // 3))
    assert plugin.tool.box is not None and _close(plugin.tool.box, drawn, 1e-6 * drawn.width())
    assert plugin.dock.target_kind() == BOX and "drawn box" in plugin.dock.target_label.text()
    expected = _to_raster(drawn, utm_layer)  # what the engine should be asked about, in UTM

    # Land cover of the box: a raster layer (UTM) that covers the box, up to one pixel.
    ask(qtbot, plugin, "segment this box")
    wait_for_task(qtbot, plugin.controller)
    seg = plugin.controller.conversation.turns[-1]
    assert seg.kind == "segment" and seg.status == DONE and seg.target == "drawn box", seg.error
    assert _close(QgsRectangle(*seg.result["provenance"]["aoi"]), expected, PIXEL)
    [layer] = [lyr for lyr in QgsProject.instance().mapLayers().values()
               if isinstance(lyr, QgsRasterLayer) and lyr is not utm_layer]
    assert _close(layer.extent(), expected, PIXEL)
    shown = QgsCoordinateTransform(layer.crs(), MERCATOR, QgsProject.instance()).transformBoundingBox(layer.extent())
    assert shown.contains(drawn.buffered(-2 * PIXEL))  # on the map it covers the drawn box

    # "find" in the box, naming the class the box's segmentation measured most of: its objects come back
    # outlined in the raster CRS, inside the box asked about.
    stats = sorted(seg.result["provenance"]["class_stats"], key=lambda c: -c["area_m2"])
    cls = next(c["name"] for c in stats if c["name"] != "background")
    ask(qtbot, plugin, f"find all {cls}")
    wait_for_task(qtbot, plugin.controller)
    turn = plugin.controller.conversation.turns[-1]
    assert turn.kind == "ground" and turn.status == DONE, turn.error
    assert _close(QgsRectangle(*turn.result["provenance"]["aoi"]), expected, PIXEL)
    objects = turn.result_obj.objects
    assert turn.result_obj.source == "measured" and len(objects) > 0
    [found] = [lyr for lyr in QgsProject.instance().mapLayers().values() if isinstance(lyr, QgsVectorLayer)]
    assert found.crs() == utm_layer.crs() and found.featureCount() == len(objects)
    union = QgsRectangle()
    for o in objects:
        union.combineExtentWith(QgsRectangle(o.box.x1, o.box.y1, o.box.x2, o.box.y2))
    assert _close(found.extent(), union, 0.5)
    assert expected.buffered(PIXEL).contains(found.extent())  # inside the drawn box, up to one pixel
    assert all(f.geometry().area() > 0 and f["label"] == cls for f in found.getFeatures())


def test_panel_and_tool_agree_on_the_target(plugin, iface, utm_layer, qtbot) -> None:
    show_layer(iface, utm_layer, MERCATOR)
    canvas = iface.mapCanvas()
    dock, tool = plugin.dock, plugin.tool
    # Picking "Drawn box" without a box starts the tool and says what to do.
    dock.target_combo.setCurrentIndex(dock.target_combo.findData(BOX))
    assert canvas.mapTool() is tool and "Draw a box" in dock.target_label.text()
    w, h = canvas.width(), canvas.height()
    drawn = _draw(qtbot, canvas, QPoint(w // 3, h // 3), QPoint(w // 2, h // 2))
    assert tool._band.isVisible() and "drawn box" in dock.target_label.text()
    # Back to the map view: the box hides (but is kept) and the tool is put down.
    dock.target_combo.setCurrentIndex(dock.target_combo.findData(VIEW))
    assert not tool._band.isVisible() and canvas.mapTool() is not tool and not dock.draw_button.isChecked()
    assert dock.target_label.text().startswith("Target: map view")
    dock.target_combo.setCurrentIndex(dock.target_combo.findData(BOX))
    assert tool._band.isVisible() and _close(tool.box, drawn, 1e-6 * drawn.width())
    # A click (no drag) keeps the box; a new CRS moves the box onto the same ground.
    plugin.controller.activate_tool()
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(10, 10))
    assert _close(tool.box, drawn, 1e-6 * drawn.width())
    canvas.setDestinationCrs(utm_layer.crs())
    moved = QgsCoordinateTransform(MERCATOR, utm_layer.crs(), QgsProject.instance()).transformBoundingBox(drawn)
    assert _close(tool.box, moved, 1e-3)


def test_boxes_found_in_a_drawn_box_become_a_layer_in_the_project_crs(plugin, iface, utm_layer, qtbot,
                                                                    tmp_path) -> None:
    """The step after the engine: a GroundResult (boxes in UTM) -> memory layer in Web Mercator, zoom, GeoPackage.

    The random tiny model rarely finds boxes, so this feeds the controller a result with known boxes.
    """
    from core.results import Box, GroundResult, Provenance

    show_layer(iface, utm_layer, MERCATOR)
    canvas = iface.mapCanvas()
    plugin.controller.activate_tool()
    w, h = canvas.width(), canvas.height()
    drawn = _draw(qtbot, canvas, QPoint(w // 4, h // 4), QPoint(3 * w // 4, 3 * h // 4))
    aoi = _to_raster(drawn, utm_layer)
    inner = [Box(aoi.xMinimum() + 50, aoi.yMinimum() + 50, aoi.center().x(), aoi.center().y(), "playground", 0.9),
             Box(aoi.center().x(), aoi.center().y(), aoi.xMaximum() - 50, aoi.yMaximum() - 50, "playground", 0.6)]
    controller = plugin.controller
    turn = controller.conversation.add("ground", "find all playgrounds", "drawn box", utm_layer.name())
    from plugin.controller import TurnInput

    controller.inputs[turn.id] = TurnInput(utm_layer.id(), utm_layer.source(), utm_layer.crs(),
                                           [aoi.xMinimum(), aoi.yMinimum(), aoi.xMaximum(), aoi.yMaximum()],
                                           "playgrounds")
    plugin.dock.add_turn(turn)
    prov = Provenance(raster=utm_layer.source(), crs="EPSG:32618", tiles=2, device="cpu", model_id="tiny-random")
    controller._done(turn, GroundResult("playgrounds", inner, None, [], prov))

    [layer] = [lyr for lyr in QgsProject.instance().mapLayers().values() if isinstance(lyr, QgsVectorLayer)]
    assert layer.crs() == MERCATOR and layer.featureCount() == 2
    to_map = QgsCoordinateTransform(utm_layer.crs(), MERCATOR, QgsProject.instance())
    union = QgsRectangle()
    for b in inner:
        union.combineExtentWith(to_map.transformBoundingBox(QgsRectangle(b.x1, b.y1, b.x2, b.y2)))
    assert _close(layer.extent(), union, 0.5)
    assert drawn.contains(layer.extent())
    assert canvas.extent().contains(layer.extent())  # zoomed to the results
    assert "Found 2 boxes: playground" in plugin.dock.turn_widgets[turn.id].answer
    widget = plugin.dock.turn_widgets[turn.id]
    assert widget.boxes_button.isEnabled() and widget.save_button.isEnabled()
    saved = plugin.controller.save_boxes(turn.id, str(tmp_path / "playgrounds.gpkg"))
    gpkg = QgsVectorLayer(saved, "saved", "ogr")
    assert gpkg.featureCount() == 2 and gpkg.crs() == MERCATOR
    assert {f["prompt"] for f in gpkg.getFeatures()} == {"playgrounds"}

"""What "find" puts on the map: measured polygons styled by class, oriented boxes, model boxes, and the zoom."""

from __future__ import annotations

import processing
import pytest
from plugin_helpers import show_layer
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProcessingContext,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsScaleCalculator,
    QgsSettings,
    QgsVectorLayer,
)

from core.results import Box, FoundObject, GroundResult, Provenance
from plugin.controller import TurnInput
from plugin.found_layers import FILL_ALPHA, found_layers
from plugin.layers import class_color
from plugin.processing_provider.engine_algorithms import GroundAlgorithm
from plugin.zoom import MIN_SCALE, zoom_extent

pytestmark = pytest.mark.qgis
UTM = QgsCoordinateReferenceSystem("EPSG:32618")
MERCATOR = QgsCoordinateReferenceSystem("EPSG:3857")
FIELDS = ["label", "area_m2", "area_ha", "position", "rule", "score"]
PROV = Provenance(raster="/data/utm.tif", crs="EPSG:32618", tiles=2, device="cpu", model_id="tiny-random")


def _rect(x: float, y: float, w: float, h: float, label: str, rule: str, position: str) -> FoundObject:
    """A rectangular object with its lower-left corner at (x, y), w x h metres (UTM 18N)."""
    ring = [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]
    wkt = "POLYGON((" + ", ".join(f"{a} {b}" for a, b in ring) + "))"
    return FoundObject(label, w * h, 1.0, rule, wkt, Box(x, y, x + w, y + h, label, 1.0), ring, position)


WATER = _rect(435900.0, 4178700.0, 200.0, 120.0, "water", "water objects of at least 100 m2, largest first",
              "south-west")
BUILDING = _rect(436600.0, 4179200.0, 40.0, 30.0, "building", "building objects of at least 100 m2", "north-east")
TINY = _rect(436300.0, 4178900.0, 25.0, 35.0, "water", "the largest water object", "centre")


def _measured(objects: list[FoundObject], prompt: str = "the water bodies") -> GroundResult:
    return GroundResult(prompt, [o.box for o in objects], None, [], PROV, source="measured",
                        query={"kind": "find", "classes": sorted({o.label for o in objects})}, objects=objects)


def test_objects_layer_in_the_raster_crs_with_fields_and_class_colours() -> None:
    [layer] = found_layers(_measured([WATER, BUILDING]), UTM, MERCATOR, "/data/utm.tif")
    assert layer.isValid() and layer.crs() == UTM and layer.featureCount() == 2
    assert layer.name() == "find: the water bodies (measured, 2 objects)"
    assert layer.fields().names() == FIELDS
    water = next(f for f in layer.getFeatures() if f["label"] == "water")
    assert water["area_m2"] == pytest.approx(24000.0) and water["area_ha"] == pytest.approx(2.4)
    assert water["position"] == "south-west" and water["rule"].startswith("water objects") and water["score"] == 1.0
    assert water.geometry().area() == pytest.approx(24000.0)
    renderer = layer.renderer()
    assert isinstance(renderer, QgsCategorizedSymbolRenderer) and renderer.classAttribute() == "label"
    categories = {c.value(): c for c in renderer.categories()}
    assert set(categories) == {"water", "building"}
    for label, category in categories.items():
        fill = category.symbol().symbolLayer(0).fillColor()
        assert fill.rgb() == class_color(label).rgb() and fill.alpha() == FILL_ALPHA  # class colour, see-through


def test_oriented_boxes_are_a_second_layer_when_asked() -> None:
    tilted = _rect(436000.0, 4179000.0, 50.0, 20.0, "road", "road objects", "north")
    tilted.oriented_box = [(436000.0, 4179000.0), (436040.0, 4179030.0), (436034.0, 4179038.0),
                           (435994.0, 4179008.0), (436000.0, 4179000.0)]
    layers = found_layers(_measured([tilted], "roads"), UTM, MERCATOR, "/data/utm.tif", oriented_boxes=True)
    assert [lyr.name() for lyr in layers] == ["find: roads (measured, 1 object)",
                                              "find: roads (measured, 1 object) oriented boxes"]
    oriented = next(layers[1].getFeatures())
    assert layers[1].crs() == UTM and layers[1].fields().names() == FIELDS
    assert oriented.geometry().area() == pytest.approx(500.0, rel=1e-6)  # 50 m x 10 m, rotated


def test_model_path_keeps_the_box_layer_in_the_project_crs() -> None:
    result = GroundResult("playgrounds", [WATER.box], None, [], PROV)  # source "model"
    [layer] = found_layers(result, UTM, MERCATOR, "/data/utm.tif")
    assert layer.crs() == MERCATOR and layer.featureCount() == 1
    assert layer.name() == "find: playgrounds (model, 1 box)" and "prompt" in layer.fields().names()


@pytest.mark.parametrize("width", [25.0, 0.0])
def test_zoom_extent_keeps_a_tiny_object_at_the_minimum_scale(width: float) -> None:
    rect = QgsRectangle(436300.0, 4178900.0, 436300.0 + width, 4178900.0 + (35.0 if width else 0.0))
    out = zoom_extent(rect, UTM, 400, 300, 96.0)
    assert out.contains(rect) and out.center() == rect.center()
    fitted = max(out.width(), out.height() * 400 / 300)  # what a 400 x 300 canvas shows across
    scale = QgsScaleCalculator(96.0, UTM.mapUnits()).calculate(QgsRectangle(0, 0, fitted, 1), 400)
    assert scale == pytest.approx(MIN_SCALE, rel=1e-6)


def test_zoom_extent_of_large_objects_is_their_union_with_a_margin() -> None:
    union = QgsRectangle(435900.0, 4178700.0, 436640.0, 4179230.0)
    out = zoom_extent(union, UTM, 400, 300, 96.0)
    assert out.width() == pytest.approx(1.2 * union.width()) and out.height() == pytest.approx(1.2 * union.height())


def _feed(controller, dock, layer: QgsRasterLayer, result: GroundResult):
    turn = controller.conversation.add("ground", f"find {result.prompt}", "map view", layer.name())
    e = layer.extent()
    controller.inputs[turn.id] = TurnInput(layer.id(), layer.source(), layer.crs(),
                                           [e.xMinimum(), e.yMinimum(), e.xMaximum(), e.yMaximum()], result.prompt)
    dock.add_turn(turn)
    controller._done(turn, result)
    return turn


def _vectors() -> list[QgsVectorLayer]:
    return [lyr for lyr in QgsProject.instance().mapLayers().values() if isinstance(lyr, QgsVectorLayer)]


def test_measured_find_adds_polygons_and_zooms_to_their_union_in_the_canvas_crs(plugin, iface, utm_layer,
                                                                               tmp_path) -> None:
    show_layer(iface, utm_layer, MERCATOR)  # the project and canvas are in Web Mercator, the raster in UTM
    canvas = iface.mapCanvas()
    turn = _feed(plugin.controller, plugin.dock, utm_layer, _measured([WATER, BUILDING]))
    [layer] = _vectors()
    assert layer.crs() == UTM and layer.featureCount() == 2
    to_map = QgsCoordinateTransform(UTM, MERCATOR, QgsProject.instance())
    assert canvas.extent().contains(to_map.transformBoundingBox(layer.extent()))
    assert canvas.extent().width() < 3 * to_map.transformBoundingBox(layer.extent()).width()
    widget = plugin.dock.turn_widgets[turn.id]
    assert widget.answer.startswith("Found 2 objects of building, water")
    assert widget.source == "Measured from the land-cover map"
    assert any("water objects of at least 100 m2" in line for line in widget.figures)
    assert widget.boxes_button.text() == "Objects" and widget.save_button.isEnabled()
    saved = QgsVectorLayer(plugin.controller.save_boxes(turn.id, str(tmp_path / "water.gpkg")), "saved", "ogr")
    assert saved.featureCount() == 2 and saved.crs() == UTM and saved.fields().names()[1:] == FIELDS
    QgsProject.instance().removeMapLayer(layer.id())
    plugin.controller.zoom_to(turn.id)  # the layer is gone: zooms to the area asked about
    assert canvas.extent().contains(to_map.transformBoundingBox(utm_layer.extent()))


def test_one_tiny_object_is_not_zoomed_closer_than_the_minimum_scale(plugin, iface, utm_layer) -> None:
    show_layer(iface, utm_layer, MERCATOR)
    QgsSettings().setValue("earthask/oriented_boxes", True)
    _feed(plugin.controller, plugin.dock, utm_layer, _measured([TINY]))
    canvas = iface.mapCanvas()
    assert len(_vectors()) == 2  # outlines and oriented boxes
    assert canvas.scale() >= 0.99 * MIN_SCALE  # not 1:206
    assert canvas.scale() <= 1.5 * MIN_SCALE
    to_map = QgsCoordinateTransform(UTM, MERCATOR, QgsProject.instance())
    tiny = QgsRectangle(TINY.box.x1, TINY.box.y1, TINY.box.x2, TINY.box.y2)
    assert canvas.extent().contains(to_map.transformBoundingBox(tiny))


def test_processing_ground_writes_measured_polygons_and_oriented_boxes(utm_layer) -> None:
    class MeasuredGround(GroundAlgorithm):
        def run_engine(self, parameters, context, feedback, method, **kwargs):  # no model run: a known result
            return _measured([WATER, BUILDING], kwargs["prompt"])

    context = QgsProcessingContext()
    out = processing.run(MeasuredGround(), {"RASTER": utm_layer, "PROMPT": "the water bodies", "OUTPUT": "memory:",
                                            "ORIENTED": "memory:"}, context=context)
    assert out["SOURCE"] == "measured"
    for key in ("OUTPUT", "ORIENTED"):  # an unregistered instance returns layer ids held by the context
        layer = out[key] = context.takeResultLayer(out[key])
        assert layer.crs() == UTM and layer.featureCount() == 2 and layer.fields().names() == FIELDS
    assert {f["label"] for f in out["OUTPUT"].getFeatures()} == {"water", "building"}

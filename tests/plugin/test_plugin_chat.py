"""The chat panel with the real engine (tiny model): questions, commands, provenance, layers, bad input."""

from __future__ import annotations

import os

import pytest
from plugin_helpers import ask, show_layer, wait_for_task
from qgis.core import QgsPalettedRasterRenderer, QgsProject, QgsRasterLayer, QgsVectorLayer

from plugin.conversation import CANCELLED, DONE, FAILED
from plugin.targets import BOX, VIEW

pytestmark = pytest.mark.qgis


def test_typed_question_streams_an_answer_with_provenance(plugin, iface, utm_layer, qtbot) -> None:
    show_layer(iface, utm_layer)
    assert plugin.dock.raster_combo.currentLayer() is utm_layer  # follows the active raster layer
    ask(qtbot, plugin, "What is unusual in this picture?")  # no figure to measure: the language model answers
    controller = plugin.controller
    assert controller.task is not None, iface.messages()
    pieces: list[str] = []
    controller.task.textReceived.connect(pieces.append)
    wait_for_task(qtbot, controller)

    turn = controller.conversation.turns[-1]
    assert turn.status == DONE, turn.error
    assert turn.kind == "ask" and turn.target == "map view"
    widget = plugin.dock.turn_widgets[turn.id]
    assert widget.answer == (turn.answer or "(no answer)")  # the random tiny model may say nothing readable
    assert pieces  # the answer streamed in, piece by piece
    assert turn.result["source"] in ("model", "checked")  # the random model may happen to state a figure
    assert widget.source.startswith({"model": "Written by the language model",
                                     "checked": "Checked against the land-cover map"}[turn.result["source"]])
    prov = turn.result["provenance"]
    assert prov["tiles"] >= 1 and prov["device"] == "cpu"
    assert prov["class_stats"], "the segmentation measured no class"
    shown = widget.provenance
    assert "m²" in shown and " ha)" in shown and "patch" in shown  # class areas and counts
    assert f"{prov['tiles']} tiles" in shown and "device cpu" in shown and " s" in shown
    for r in prov["retrieved"]:
        assert f"({r['score']:.2f})" in shown
    assert widget.segmentation_button.isEnabled() and widget.zoom_button.isEnabled()
    assert plugin.dock.input.text() == ""


def test_measured_question_says_so_and_shows_its_figures(plugin, iface, utm_layer, qtbot) -> None:
    show_layer(iface, utm_layer)
    ask(qtbot, plugin, "How much of this area is forest?")
    wait_for_task(qtbot, plugin.controller)
    turn = plugin.controller.conversation.turns[-1]
    assert turn.status == DONE, turn.error
    assert turn.result["source"] == "measured" and turn.result["query"]["kind"] == "share"
    widget = plugin.dock.turn_widgets[turn.id]
    assert widget.source == "Measured from the land-cover map"
    assert widget.figures and all(f["text"] in " ".join(widget.figures) for f in turn.result["figures"])
    assert widget.explanation == turn.result["explanation"]
    assert widget.provenance  # the provenance section stays


def _measured_classes(provenance: dict) -> list[str]:
    """The land-cover classes the segmentation measured in the area, largest first ("find" can name them)."""
    stats = sorted(provenance["class_stats"], key=lambda c: -c["area_m2"])
    return [c["name"] for c in stats if c["name"] != "background" and c["area_m2"] > 0]


def _vector_layers() -> list[QgsVectorLayer]:
    return [lyr for lyr in QgsProject.instance().mapLayers().values() if isinstance(lyr, QgsVectorLayer)]


def test_plain_word_commands_caption_and_ground(plugin, iface, utm_layer, qtbot) -> None:
    show_layer(iface, utm_layer)
    controller = plugin.controller
    ask(qtbot, plugin, "describe this")
    wait_for_task(qtbot, controller)
    caption = controller.conversation.turns[-1]
    assert caption.kind == "caption" and caption.status == DONE, caption.error
    assert caption.answer == caption.result["caption"]
    present = _measured_classes(caption.result["provenance"])
    assert present, "the segmentation measured no class to find"

    ask(qtbot, plugin, f"find all {present[0]}")  # the class covering most of the scene: there is something
    wait_for_task(qtbot, controller)
    ground = controller.conversation.turns[-1]
    assert ground.kind == "ground" and ground.status == DONE, ground.error
    assert ground.result["prompt"] == present[0] and ground.result["source"] == "measured"
    objects = ground.result["objects"]
    assert len(objects) > 0 and {o["label"] for o in objects} == {present[0]}
    [layer] = _vector_layers()
    assert layer.featureCount() == len(objects) > 0 and layer.crs() == utm_layer.crs()
    assert layer.name() == f"find: {present[0]} (measured, {len(objects)} object{'s' * (len(objects) > 1)})"
    scene = utm_layer.extent()
    for feature in layer.getFeatures():
        geometry = feature.geometry()
        assert geometry.area() > 0 and scene.contains(geometry.boundingBox())  # a real outline, inside the raster
    assert sum(o["area_m2"] for o in objects) <= next(
        c["area_m2"] for c in ground.result["provenance"]["class_stats"] if c["name"] == present[0]) + 1e-6
    assert plugin.dock.turn_widgets[ground.id].boxes_button.isEnabled()


def test_find_of_a_class_not_in_the_area_says_so_and_adds_no_layer(plugin, iface, utm_layer, qtbot) -> None:
    show_layer(iface, utm_layer)
    controller = plugin.controller
    ask(qtbot, plugin, "describe this")
    wait_for_task(qtbot, controller)
    present = _measured_classes(controller.conversation.turns[-1].result["provenance"])
    absent = next(c for c in ("playground", "water", "building", "forest", "agriculture") if c not in present)
    ask(qtbot, plugin, f"find all {absent}")
    wait_for_task(qtbot, controller)
    ground = controller.conversation.turns[-1]
    assert ground.status == DONE and ground.result["source"] == "measured" and not ground.result["objects"]
    assert not _vector_layers() and any(f"Nothing like \u201c{absent}\u201d" in m for m in iface.messages())
    assert not plugin.dock.turn_widgets[ground.id].boxes_button.isEnabled()


def test_segmentation_button_adds_a_styled_layer_with_legend(plugin, iface, utm_layer, qtbot) -> None:
    show_layer(iface, utm_layer)
    controller = plugin.controller
    ask(qtbot, plugin, "Is there water?")
    wait_for_task(qtbot, controller)
    asked = controller.conversation.turns[-1]
    assert asked.status == DONE, asked.error
    plugin.dock.turn_widgets[asked.id].segmentation_button.click()  # the same area: segmented for the answer
    messages: list[str] = []
    controller.task.messageChanged.connect(messages.append)
    wait_for_task(qtbot, controller)
    seg = controller.conversation.turns[-1]
    assert seg.kind == "segment" and seg.status == DONE, seg.error
    assert "segmentation reused" in messages and not any(m.startswith(("tile", "segmenting")) for m in messages)
    assert seg.result["provenance"]["class_stats"] == asked.result["provenance"]["class_stats"]
    rasters = [lyr for lyr in QgsProject.instance().mapLayers().values()
               if isinstance(lyr, QgsRasterLayer) and lyr is not utm_layer]
    assert len(rasters) == 1
    renderer = rasters[0].renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    names = [c.label.split(" (")[0] for c in renderer.classes()]
    assert names == seg.result["classes"]
    legend = [text for text, _ in renderer.legendSymbologyItems()]
    assert len(legend) == len(names)
    group = QgsProject.instance().layerTreeRoot().findGroup("EarthAsk")
    assert group is not None and group.findLayer(rasters[0].id()) is not None


def test_export_conversation_to_markdown_and_json(plugin, iface, utm_layer, qtbot, tmp_path) -> None:
    show_layer(iface, utm_layer)
    ask(qtbot, plugin, "What is the main land cover?")
    wait_for_task(qtbot, plugin.controller)
    plugin.dock.exportRequested.emit(str(tmp_path / "chat.md"))
    plugin.dock.exportRequested.emit(str(tmp_path / "chat.json"))
    md = (tmp_path / "chat.md").read_text(encoding="utf-8")
    assert "What is the main land cover?" in md and "tiles · device cpu" in md
    assert '"provenance"' in (tmp_path / "chat.json").read_text(encoding="utf-8")
    assert any("Saved the conversation" in m for m in iface.messages())


@pytest.mark.parametrize(
    ("setup", "text", "message"),
    [
        ("no_raster", "describe this", "Add a raster layer"),
        ("raster", "   ", "Type a question"),
        ("box_without_box", "describe this", "Draw a box on the map first"),
        ("selection_without_selection", "describe this", "Select a feature"),
        ("view_elsewhere", "describe this", "does not overlap the raster layer"),
    ],
)
def test_bad_input_gives_a_message_not_an_exception(plugin, iface, utm_raster, qtbot, setup, text, message) -> None:
    if setup != "no_raster":
        layer = QgsRasterLayer(utm_raster, "utm scene")
        QgsProject.instance().addMapLayer(layer)
        show_layer(iface, layer)
        plugin.dock.raster_combo.setLayer(layer)
    if setup == "box_without_box":
        plugin.dock.set_target(BOX, "")
    elif setup == "selection_without_selection":
        plugin.dock.target_combo.setCurrentIndex(plugin.dock.target_combo.findData("selection"))
    elif setup == "view_elsewhere":
        extent = layer.extent()
        extent.setXMinimum(extent.xMaximum() + 10_000)
        extent.setXMaximum(extent.xMaximum() + 20_000)
        iface.mapCanvas().setExtent(extent)
    ask(qtbot, plugin, text)
    assert plugin.controller.task is None and not plugin.controller.conversation.turns
    assert any(message in m for m in iface.messages()), iface.messages()


def test_engine_input_error_is_one_sentence_in_the_message_bar(plugin, iface, utm_raster, qtbot, tmp_path) -> None:
    layer = QgsRasterLayer(utm_raster, "soon gone")
    QgsProject.instance().addMapLayer(layer)
    show_layer(iface, layer)
    os.remove(utm_raster)  # the engine cannot read it any more
    ask(qtbot, plugin, "describe this")
    wait_for_task(qtbot, plugin.controller)
    turn = plugin.controller.conversation.turns[-1]
    assert turn.status == FAILED and turn.error and "\n" not in turn.error and "Traceback" not in turn.error
    assert turn.error in iface.messages()
    assert plugin.dock.turn_widgets[turn.id].answer.startswith("Failed:")


def test_cancel_button_stops_a_running_segmentation(plugin, iface, tmp_path, qtbot) -> None:
    from rasters import make_raster

    path = make_raster(tmp_path / "big.tif", width=640, height=640, seed=3)
    layer = QgsRasterLayer(path, "big")
    QgsProject.instance().addMapLayer(layer)
    show_layer(iface, layer)
    before = set(os.listdir(plugin.controller.out_dir))
    ask(qtbot, plugin, "segment")
    seen: list[float] = []
    plugin.controller.task.progressChanged.connect(seen.append)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1] > 0, timeout=120000)
    assert plugin.dock.cancel_button.isVisible()
    plugin.dock.cancel_button.click()
    wait_for_task(qtbot, plugin.controller, timeout=30000)
    turn = plugin.controller.conversation.turns[-1]
    assert turn.status == CANCELLED
    assert plugin.dock.turn_widgets[turn.id].answer.startswith("Cancelled.")  # not "Failed"
    assert "Cancelled." in iface.messages() and not any("failed" in m.lower() for m in iface.messages())
    assert max(seen) < 100  # stopped before the last tile
    assert set(os.listdir(plugin.controller.out_dir)) == before, "a partial land-cover file was left behind"
    assert not plugin.dock.cancel_button.isVisible()
    assert plugin.dock.target_kind() == VIEW

"""The panel's Labels section with real QGIS and the engine's command line (tiny models): check, teach, use, cancel;
and every answer card names the model that answered."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import torch
from plugin_helpers import ask, show_layer, wait_for_task
from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer
from shapely.geometry import box

from models.config import VLMConfig
from models.vlm import EarthVLM
from plugin.chat_widgets import TurnWidget
from plugin.conversation import DONE, Conversation
from plugin.settings import PluginSettings
from tests.rasters import UTM_CRS, UTM_TRANSFORM, make_raster

pytestmark = pytest.mark.qgis


def labelled_scene(tmp_path: Path) -> tuple[QgsRasterLayer, QgsVectorLayer]:
    """A seeded 64 x 64 UTM raster and 16 square label polygons (water / solar panels), stored in WGS 84."""
    raster = QgsRasterLayer(make_raster(tmp_path / "scene.tif", width=64, height=64, seed=3), "scene")
    x0, y0 = UTM_TRANSFORM.c, UTM_TRANSFORM.f
    rows = [("water" if c % 2 else "solar panels",
             box(x0 + 10 * (4 + 16 * c), y0 - 10 * (14 + 16 * r), x0 + 10 * (14 + 16 * c), y0 - 10 * (4 + 16 * r)))
            for r in range(4) for c in range(4)]
    frame = gpd.GeoDataFrame({"n": list(range(16)), "kind": [n for n, _ in rows]}, geometry=[g for _, g in rows],
                             crs=UTM_CRS)
    frame.to_crs("EPSG:4326").to_file(tmp_path / "labels.gpkg", driver="GPKG")
    labels = QgsVectorLayer(str(tmp_path / "labels.gpkg"), "my labels", "ogr")
    assert raster.isValid() and labels.isValid()
    QgsProject.instance().addMapLayers([raster, labels])
    return raster, labels


def pick(plugin, raster: QgsRasterLayer, labels: QgsVectorLayer) -> None:
    dock = plugin.dock
    dock.labels_button.setChecked(True)
    dock.raster_combo.setLayer(raster)
    dock.labels_panel.layer_combo.setLayer(labels)


def tiny_checkpoint(folder: Path) -> str:
    torch.manual_seed(0)
    EarthVLM(VLMConfig.tiny()).save_pretrained(folder)
    return str(folder)


def test_the_section_lists_polygon_layers_and_their_fields(plugin, tmp_path: Path) -> None:
    raster, labels = labelled_scene(tmp_path)
    points = QgsVectorLayer("Point?crs=EPSG:4326&field=name:string", "points", "memory")
    QgsProject.instance().addMapLayer(points)
    panel = plugin.dock.labels_panel
    assert not panel.isVisible()  # folded away until the Labels button is pressed
    pick(plugin, raster, labels)
    assert panel.isVisible()
    listed = [panel.layer_combo.layer(i) for i in range(panel.layer_combo.count())]
    assert listed == [labels]  # neither the raster nor the point layer
    fields = [panel.field_combo.itemText(i) for i in range(panel.field_combo.count())]
    assert {"n", "kind"} <= set(fields)
    assert panel.field_combo.currentField() == "kind"  # the first text field: where classes usually are
    assert panel.model_label.text().endswith("Active model: tiny</small>")


def test_check_shows_per_class_iou_and_the_report(plugin, qtbot, tmp_path: Path) -> None:
    raster, labels = labelled_scene(tmp_path)
    pick(plugin, raster, labels)
    panel, runner = plugin.dock.labels_panel, plugin.controller.labels
    panel.mapping_edit.setText("solar panels=building")
    panel.check_button.click()
    assert runner.task is not None, panel.status_label.text()
    assert not panel.check_button.isEnabled() and not panel.cancel_button.isHidden()
    qtbot.waitUntil(lambda: runner.task is None, timeout=180000)

    assert panel.scores, panel.status_label.text()
    shown = panel.result_block.text()
    report = next(line.split("Report: ", 1)[1] for line in shown.splitlines() if "Report: " in line)
    scores = json.loads((Path(report).parent / "scores.json").read_text())["model"]
    assert panel.scores["miou"] == pytest.approx(scores["miou"])
    assert f"mean IoU {scores['miou']:.3f}" in shown
    for name in ("water", "solar panels"):
        assert f"{name}: IoU {scores['classes'][name]['iou']:.3f}" in shown
    assert Path(report).is_file() and not panel.use_button.isVisibleTo(panel)  # nothing to switch to
    assert panel.check_button.isEnabled()


def test_check_without_labels_says_what_to_pick(plugin, utm_layer) -> None:
    plugin.dock.raster_combo.setLayer(utm_layer)
    plugin.dock.labels_panel.check_button.click()
    assert plugin.controller.labels.task is None
    assert plugin.dock.labels_panel.status_label.text() == "Pick a polygon layer of labels."


def test_a_failed_check_says_why_in_one_sentence(plugin, qtbot, tmp_path: Path) -> None:
    raster, labels = labelled_scene(tmp_path)
    pick(plugin, raster, labels)
    panel, runner = plugin.dock.labels_panel, plugin.controller.labels
    panel.mapping_edit.setText("water=no such class")
    panel.check_button.click()
    qtbot.waitUntil(lambda: runner.task is None, timeout=180000)
    status = panel.status_label.text()
    assert status.startswith("Failed: ") and "no such class" in status and "Traceback" not in status
    assert not panel.scores and panel.check_button.isEnabled() and panel.card.isHidden()


def ready_to_teach(plugin: Any, tmp_path: Path, monkeypatch: Any) -> tuple[Any, Any, str, Path]:
    """A labelled scene picked in the panel, a tiny base model as the active one, and an empty folder that the
    teach dialog will pick: (panel, runner, base model, that folder)."""
    raster, labels = labelled_scene(tmp_path)
    base = tiny_checkpoint(tmp_path / "base")
    replace(PluginSettings.load(), model=base).save()
    parent = tmp_path / "models"
    parent.mkdir()
    pick(plugin, raster, labels)
    panel = plugin.dock.labels_panel
    monkeypatch.setattr(panel, "ask_parent_folder", lambda: str(parent))
    return panel, plugin.controller.labels, base, parent


def test_teach_writes_a_model_and_use_this_model_switches_the_setting(plugin, qtbot, tmp_path: Path,
                                                                      monkeypatch) -> None:
    panel, runner, base, parent = ready_to_teach(plugin, tmp_path, monkeypatch)
    panel.steps_spin.setValue(3)
    panel.teach_button.click()
    assert runner.task is not None, panel.status_label.text()
    progress: list[float] = []
    runner.task.progressChanged.connect(progress.append)
    qtbot.waitUntil(lambda: runner.task is None, timeout=240000)
    assert progress and max(progress) >= 95.0  # from the command's "step 3/3" line

    made = list(parent.iterdir())
    assert len(made) == 1 and panel.new_model == str(made[0]), panel.status_label.text()
    assert (made[0] / "model.safetensors").is_file()
    assert VLMConfig.load(made[0]).seg_classes[-1] == "solar panels"  # the class the base model lacked
    assert "Taught a new model" in panel.result_block.text() and panel.use_button.isVisibleTo(panel)
    assert PluginSettings.load().model == base  # nothing switches until the user says so
    panel.use_button.click()
    assert PluginSettings.load().model == str(made[0])
    assert str(made[0]) in panel.model_label.text()


def test_teach_refuses_the_random_tiny_model(plugin, tmp_path: Path, monkeypatch) -> None:
    raster, labels = labelled_scene(tmp_path)
    pick(plugin, raster, labels)
    panel = plugin.dock.labels_panel
    monkeypatch.setattr(panel, "ask_parent_folder", lambda: str(tmp_path))
    panel.teach_button.click()
    assert plugin.controller.labels.task is None
    assert "not 'tiny'" in panel.status_label.text()


def test_cancelled_teaching_leaves_no_model_folder(plugin, qtbot, tmp_path: Path, monkeypatch) -> None:
    panel, runner, base, parent = ready_to_teach(plugin, tmp_path, monkeypatch)
    panel.steps_spin.setValue(100000)
    panel.teach_button.click()
    task = runner.task
    assert task is not None, panel.status_label.text()
    qtbot.waitUntil(lambda: any("step" in line for line in task.log), timeout=180000)  # training has begun
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: runner.task is None, timeout=60000)
    assert panel.status_label.text() == "Cancelled."
    assert list(parent.iterdir()) == []
    assert PluginSettings.load().model == base and not panel.new_model


@pytest.mark.parametrize("result", [
    {"source": "measured", "answer": "12%", "figures": [], "provenance": {"model_id": "my_model"}},
    {"source": "model", "answer": "a farm", "provenance": {"model_id": "my_model"}},
    {"source": "model", "prompt": "cars", "boxes": [], "provenance": {"model_id": "my_model"}},
    {"classes": ["water"], "mask_path": "x.tif", "provenance": {"model_id": "my_model"}},
])
def test_every_answer_card_names_the_model(qgis_app, result: dict) -> None:
    turn = Conversation().add("ask", "q", "map view", "scene")
    widget = TurnWidget(turn)
    turn.status, turn.answer, turn.result = DONE, "answer", result
    widget.show_result(turn, [])
    assert widget.model == "Model: my_model"
    turn.result = {k: v for k, v in result.items() if k != "provenance"}
    widget.show_result(turn, [])
    assert widget.model == ""  # a result that names no model shows no model line


def test_a_real_answer_names_the_tiny_model(plugin, iface, utm_layer, qtbot) -> None:
    show_layer(iface, utm_layer)
    ask(qtbot, plugin, "How much of this scene is water?")
    wait_for_task(qtbot, plugin.controller)
    turn = plugin.controller.conversation.turns[-1]
    assert turn.status == DONE, turn.error
    widget = plugin.dock.turn_widgets[turn.id]
    assert widget.model == f"Model: {turn.result['provenance']['model_id']}" and widget.model != "Model: "

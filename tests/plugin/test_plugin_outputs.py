"""What the panel writes goes to one folder: the chosen one, else beside the saved project, else the profile's
data folder; never the system temp folder. A saved project reopens with its land cover and found objects."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from plugin_helpers import ask, show_layer, wait_for_task
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsSettings, QgsVectorLayer

from core.errors import InputError
from core.results import Box, FoundObject, GroundResult, Provenance
from plugin.conversation import DONE, FAILED
from plugin.engine_calls import TurnInput
from plugin.output_folder import OUTPUT_DIR_KEY, PROJECT_FOLDER, output_dir, output_path, suggested_path

pytestmark = pytest.mark.qgis


@pytest.fixture(autouse=True)
def no_chosen_folder():
    """Each test starts (and ends) without a folder chosen in the settings."""
    QgsSettings().remove(OUTPUT_DIR_KEY)
    yield
    QgsSettings().remove(OUTPUT_DIR_KEY)


def _save_project(folder: Path) -> Path:
    path = folder / "survey.qgz"
    project = QgsProject.instance()
    project.setFileName(str(path))
    assert project.write(), project.error()
    return path


def test_without_a_saved_project_outputs_go_to_the_profile_data_folder() -> None:
    folder = output_dir()
    assert folder == os.path.join(QgsApplication.qgisSettingsDirPath(), "earthask", "outputs").rstrip("/")
    assert os.path.isdir(folder) and folder != tempfile.gettempdir()
    path = output_path("landcover_scene", ".tif")
    assert os.path.dirname(path) == folder and os.path.basename(path).startswith("landcover_scene_")
    assert path.endswith(".tif") and output_path("landcover_scene", ".tif") != path  # a new name each time


def test_with_a_saved_project_outputs_go_beside_it(tmp_path) -> None:
    _save_project(tmp_path)
    assert output_dir() == str(tmp_path / PROJECT_FOLDER)
    assert suggested_path("earthask_found.gpkg") == str(tmp_path / PROJECT_FOLDER / "earthask_found.gpkg")


def test_a_chosen_folder_wins_and_a_folder_that_cannot_be_made_is_one_sentence(tmp_path) -> None:
    _save_project(tmp_path)
    QgsSettings().setValue(OUTPUT_DIR_KEY, str(tmp_path / "mine"))
    assert output_dir() == str(tmp_path / "mine") and (tmp_path / "mine").is_dir()
    (tmp_path / "a_file").write_text("x")
    QgsSettings().setValue(OUTPUT_DIR_KEY, str(tmp_path / "a_file" / "out"))
    with pytest.raises(InputError, match="Cannot write to the EarthAsk output folder"):
        output_dir()


def test_a_land_cover_request_with_an_unusable_folder_fails_in_one_sentence(plugin, iface, utm_layer, qtbot,
                                                                           tmp_path) -> None:
    (tmp_path / "a_file").write_text("x")
    QgsSettings().setValue(OUTPUT_DIR_KEY, str(tmp_path / "a_file" / "out"))
    show_layer(iface, utm_layer)
    ask(qtbot, plugin, "segment")
    turn = plugin.controller.conversation.turns[-1]
    assert turn.status == FAILED and plugin.controller.task is None
    assert turn.error.startswith("Cannot write to the EarthAsk output folder") and turn.error in iface.messages()


def _water(layer: QgsRasterLayer) -> GroundResult:
    c = layer.extent().center()
    x, y = c.x(), c.y()
    ring = [(x, y), (x + 60, y), (x + 60, y + 40), (x, y + 40), (x, y)]
    wkt = "POLYGON((" + ", ".join(f"{a} {b}" for a, b in ring) + "))"
    found = FoundObject("water", 2400.0, 1.0, "water objects", wkt, Box(x, y, x + 60, y + 40, "water", 1.0), ring,
                        "centre")
    prov = Provenance(raster=layer.source(), crs="EPSG:32618", tiles=1, device="cpu", model_id="tiny-random")
    return GroundResult("the water", [found.box], None, [], prov, source="measured", objects=[found])


def test_a_saved_project_reopens_with_its_land_cover_and_found_objects(plugin, iface, utm_layer, qtbot,
                                                                      tmp_path) -> None:
    project_file = _save_project(tmp_path)
    outputs = tmp_path / PROJECT_FOLDER
    show_layer(iface, utm_layer)
    controller = plugin.controller
    ask(qtbot, plugin, "Is there water?")
    wait_for_task(qtbot, controller)
    asked = controller.conversation.turns[-1]
    assert asked.status == DONE, asked.error
    plugin.dock.turn_widgets[asked.id].segmentation_button.click()  # the land cover of the same area
    wait_for_task(qtbot, controller)
    seg = controller.conversation.turns[-1]
    assert seg.kind == "segment" and seg.status == DONE, seg.error
    assert Path(seg.result["mask_path"]).parent == outputs and Path(seg.result["mask_path"]).is_file()

    turn = controller.conversation.add("ground", "find the water", "map view", utm_layer.name())
    e = utm_layer.extent()
    controller.inputs[turn.id] = TurnInput(utm_layer.id(), utm_layer.source(), utm_layer.crs(),
                                           [e.xMinimum(), e.yMinimum(), e.xMaximum(), e.yMaximum()], "the water")
    plugin.dock.add_turn(turn)
    controller._done(turn, _water(utm_layer))  # what "find" hands back: its layer is added
    added = {lyr.name(): lyr for lyr in QgsProject.instance().mapLayers().values() if lyr is not utm_layer}
    found = next(lyr for lyr in added.values() if isinstance(lyr, QgsVectorLayer))
    assert found.providerType() == "ogr" and found.featureCount() == 1
    assert Path(found.source().split("|")[0]).parent == outputs  # a GeoPackage, not a memory layer
    assert found.renderer().type() == "categorizedSymbol"  # styled by class, as before
    tmp = tempfile.gettempdir()
    for layer in added.values():
        assert os.path.dirname(layer.source().split("|")[0]) != tmp
    assert QgsProject.instance().write()

    project = QgsProject.instance()
    project.clear()
    assert project.read(str(project_file))
    reopened = {lyr.name(): lyr for lyr in project.mapLayers().values()}
    for name in added:
        assert name in reopened and reopened[name].isValid(), name  # the files are still there
    assert any(isinstance(lyr, QgsRasterLayer) and lyr.source() == seg.result["mask_path"]
               for lyr in reopened.values())

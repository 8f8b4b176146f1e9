"""Which bands are red, green, blue (issue 13, bands): Processing's BANDS and SENSOR, the per-layer choice kept in the
project and sent with every chat call, the "Bands of this layer…" dialog, and the bands shown in the card.

Rasters are 6-band uint16 GeoTIFFs without band names: a Landsat TM/ETM+ stack is the engine's stated guess.
"""

from __future__ import annotations

import json
from pathlib import Path

import processing
import pytest
from plugin_helpers import ask, show_layer, wait_for_task
from qgis.core import Qgis, QgsApplication, QgsProcessingException, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QDialogButtonBox

from core.imagery import SENSORS, choose_bands
from plugin.conversation import DONE, provenance_lines
from plugin.engine_calls import engine_call
from plugin.intent import parse_intent
from plugin.layer_bands import BANDS_KEY, SENSOR_KEY, LayerBands, layer_bands, set_layer_bands
from plugin.true_color import shown_bands

pytestmark = pytest.mark.qgis
ENGINE_ALGORITHMS = ["earthask:caption_rasters", "earthask:caption_grid", "earthask:segment", "earthask:ask",
                     "earthask:ground"]
QUESTION = "How much of this area is water?"


@pytest.fixture
def six_band(tmp_path: Path) -> str:
    """A 6-band uint16 GeoTIFF with no band names (ambiguous: read as Landsat TM/ETM+ by its band count)."""
    from rasters import make_raster

    return make_raster(tmp_path / "stack.tif", width=96, height=80, count=6, dtype="uint16", seed=3)


def _ask_profile(tmp_path: Path, raster: object, **params: str) -> dict:
    """The band profile recorded by ``earthask:ask`` (its JSON output) with these extra parameters."""
    out = tmp_path / f"answer_{len(list(tmp_path.iterdir()))}.json"
    processing.run("earthask:ask", {"RASTER": raster, "QUESTION": QUESTION, "OUTPUT_JSON": str(out), **params})
    return json.loads(out.read_text(encoding="utf-8"))["provenance"]["band_profile"]


def test_every_engine_algorithm_takes_bands_and_a_sensor_and_lists_the_sensors(qgis_app) -> None:
    registry = QgsApplication.processingRegistry()
    for alg_id in ENGINE_ALGORITHMS:
        alg = registry.algorithmById(alg_id)
        bands, sensor = alg.parameterDefinition("BANDS"), alg.parameterDefinition("SENSOR")
        assert bands is not None and sensor is not None, alg_id
        assert bands.flags() & sensor.flags() & Qgis.ProcessingParameterFlag.Optional
        assert sensor.options() == list(SENSORS) and sensor.usesStaticStrings()
        help_text = alg.shortHelpString()
        assert all(name in help_text for name in SENSORS), alg_id
        assert "BANDS" in help_text and "3,2,1" in help_text


def test_processing_sensor_and_bands_decide_the_bands_recorded(six_band, tmp_path) -> None:
    guess = _ask_profile(tmp_path, six_band)
    assert guess["rgb_bands"] == [3, 2, 1] and guess["detected_from"] == "band count"
    assert guess["note"] == choose_bands(6).note  # the guess is stated

    landsat = _ask_profile(tmp_path, six_band, SENSOR="landsat7")
    assert landsat["rgb_bands"] == [3, 2, 1]
    assert (landsat["name"], landsat["detected_from"], landsat["note"]) == ("landsat7", "sensor", "")

    given = _ask_profile(tmp_path, six_band, BANDS="4, 3, 2")
    assert given["rgb_bands"] == [4, 3, 2] and given["detected_from"] == "override"

    both = _ask_profile(tmp_path, six_band, BANDS="5,4,3", SENSOR="landsat7")  # BANDS wins, as in the engine
    assert both["rgb_bands"] == [5, 4, 3]


def test_processing_segment_takes_bands(six_band, tmp_path) -> None:
    out = processing.run("earthask:segment", {"RASTER": six_band, "BANDS": "4,3,2",
                                              "OUTPUT": str(tmp_path / "lc.tif")})
    assert Path(out["OUTPUT"]).is_file() and out["CLASSES"]
    with pytest.raises(QgsProcessingException, match=r"Landsat 8/9 OLI comes as .* but this raster has 6"):
        processing.run("earthask:segment", {"RASTER": six_band, "SENSOR": "landsat8",
                                            "OUTPUT": str(tmp_path / "lc2.tif")})


@pytest.mark.parametrize(("bands", "match"), [
    ("red", r"^BANDS takes three band numbers from 1, red,green,blue \(e\.g\. 3,2,1\); got 'red'\.$"),
    ("3,2", r"^BANDS takes three band numbers"),
    ("0,1,2", r"^BANDS takes three band numbers"),
    ("9,2,1", r"^Bands \[9, 2, 1\] were asked for red, green, blue, but the raster has 6 bands\.$"),
])
def test_bad_bands_is_one_sentence(six_band, bands: str, match: str) -> None:
    with pytest.raises(QgsProcessingException, match=match) as caught:
        processing.run("earthask:ask", {"RASTER": six_band, "QUESTION": QUESTION, "BANDS": bands})
    text = str(caught.value)
    assert text.endswith(".") and "\n" not in text and "Traceback" not in text


def test_processing_uses_the_layers_own_choice_when_no_parameter_is_given(six_band, tmp_path) -> None:
    layer = QgsRasterLayer(six_band, "stack")
    QgsProject.instance().addMapLayer(layer)
    set_layer_bands(layer, LayerBands((5, 4, 3)))
    assert _ask_profile(tmp_path, layer.id())["rgb_bands"] == [5, 4, 3]
    assert _ask_profile(tmp_path, layer.id(), BANDS="4,3,2")["rgb_bands"] == [4, 3, 2]  # the parameter wins
    assert _ask_profile(tmp_path, layer.id(), SENSOR="landsat7")["detected_from"] == "sensor"
    set_layer_bands(layer, LayerBands(sensor="landsat7"))
    assert _ask_profile(tmp_path, layer.id())["name"] == "landsat7"
    out = processing.run("earthask:caption_rasters", {"INPUT": [layer.id()], "OUTPUT": "memory:"})
    assert out["OUTPUT"].featureCount() == 1


def test_layer_choice_is_kept_as_custom_properties(six_band) -> None:
    layer = QgsRasterLayer(six_band, "stack")
    assert layer_bands(layer) == LayerBands() and not layer_bands(layer).is_set
    set_layer_bands(layer, LayerBands((3, 2, 1), "landsat7"))
    assert layer.customProperty(BANDS_KEY) == "3,2,1" and layer.customProperty(SENSOR_KEY) == "landsat7"
    assert layer_bands(layer).engine_kwargs() == {"bands": [3, 2, 1], "sensor": "landsat7"}
    layer.setCustomProperty(BANDS_KEY, "not bands")  # edited by hand: ignored, the sensor stays
    assert layer_bands(layer) == LayerBands(sensor="landsat7")
    set_layer_bands(layer, LayerBands())
    assert layer.customProperty(BANDS_KEY) is None and layer.customProperty(SENSOR_KEY) is None


def test_engine_call_passes_the_layer_bands_only_when_chosen() -> None:
    intent = parse_intent(QUESTION)
    _, plain = engine_call(intent, "/data/stack.tif", None, "")
    assert "bands" not in plain and "sensor" not in plain
    _, chosen = engine_call(intent, "/data/stack.tif", None, "", LayerBands((4, 3, 2)))
    assert chosen["bands"] == [4, 3, 2] and "sensor" not in chosen
    _, by_sensor = engine_call(parse_intent("describe this"), "/data/stack.tif", None, "", LayerBands(None, "naip"))
    assert by_sensor["sensor"] == "naip" and "bands" not in by_sensor


def test_provenance_lines_show_the_bands_and_the_guess_note_once() -> None:
    note = choose_bands(6).note
    profile = {"name": "landsat7", "rgb_bands": [3, 2, 1], "detected_from": "sensor", "note": ""}
    lines = provenance_lines({"band_profile": profile, "tiles": 1})
    assert "bands: red 3, green 2, blue 1 (landsat7, from sensor)" in lines
    guessed = {**profile, "detected_from": "band count", "note": note}
    assert provenance_lines({"band_profile": guessed, "notes": []}).count(f"note: {note}") == 1
    assert provenance_lines({"band_profile": guessed, "notes": [note]}).count(f"note: {note}") == 1
    assert not any(line.startswith("bands:") for line in provenance_lines({"tiles": 1}))


def test_bands_dialog_shows_the_guess_and_its_note_and_saves_the_choice(plugin, iface, six_band, qtbot) -> None:
    layer = QgsRasterLayer(six_band, "stack")
    QgsProject.instance().addMapLayer(layer)
    show_layer(iface, layer)
    assert "Bands of this layer…" in [a.text() for a in iface.menus["&EarthAsk"].actions()]
    dialog = plugin.controller.edit_bands(layer)
    assert dialog is not None and dialog.isVisible() and dialog.layer is layer
    assert "red 3, green 2, blue 1 (landsat7, from band count)" in dialog.guess_label.text()
    assert dialog.note_label.text() == f"Note: {choose_bands(6).note}."
    sensors = [dialog.sensor_combo.itemData(i) for i in range(dialog.sensor_combo.count())]
    assert sensors[0] == "" and {"landsat5", "landsat7"} <= set(sensors)
    assert "sentinel2" not in sensors  # no 6-band Sentinel-2 stack
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)

    dialog.bands_edit.setText("1,2")
    assert not ok.isEnabled() and dialog.result_label.text().startswith("Bands take three band numbers")
    dialog.bands_edit.setText("4,3,2")
    assert ok.isEnabled() and "red 4, green 3, blue 2 (custom, from override)" in dialog.result_label.text()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert layer.customProperty(BANDS_KEY) == "4,3,2" and layer.customProperty(SENSOR_KEY) is None
    assert shown_bands(layer) == (4, 3, 2)  # drawn with the chosen bands
    assert any("with its bands 4,3,2" in m for m in iface.messages())

    again = plugin.controller.edit_bands()  # the panel's raster; the saved choice is shown
    assert again.bands_edit.text() == "4,3,2"
    again.bands_edit.clear()
    again.sensor_combo.setCurrentIndex(again.sensor_combo.findData("landsat7"))
    again.accept()
    assert layer_bands(layer) == LayerBands(None, "landsat7") and shown_bands(layer) == (3, 2, 1)


def test_chat_sends_the_layer_bands_and_they_survive_a_project_reload(plugin, iface, six_band, qtbot,
                                                                       tmp_path) -> None:
    layer = QgsRasterLayer(six_band, "stack")
    QgsProject.instance().addMapLayer(layer)
    dialog = plugin.controller.edit_bands(layer)
    dialog.bands_edit.setText("5,4,3")
    dialog.accept()
    project_file = tmp_path / "bands.qgz"
    assert QgsProject.instance().write(str(project_file))
    QgsProject.instance().clear()
    assert QgsProject.instance().read(str(project_file))
    reloaded = QgsProject.instance().mapLayersByName("stack")[0]
    assert layer_bands(reloaded) == LayerBands((5, 4, 3))
    assert shown_bands(reloaded) == (5, 4, 3)  # the style was saved too

    show_layer(iface, reloaded)
    plugin.dock.raster_combo.setLayer(reloaded)
    ask(qtbot, plugin, QUESTION)
    controller = plugin.controller
    assert controller.last_call is not None and controller.last_call[1]["bands"] == [5, 4, 3], iface.messages()
    wait_for_task(qtbot, controller)
    turn = controller.conversation.turns[-1]
    assert turn.status == DONE, turn.error
    profile = turn.result["provenance"]["band_profile"]
    assert profile["rgb_bands"] == [5, 4, 3] and profile["detected_from"] == "override"
    shown = plugin.dock.turn_widgets[turn.id].provenance
    assert "bands: red 5, green 4, blue 3 (custom, from override)" in shown
    assert choose_bands(6).note not in shown  # the user said: no guess to note

"""The chat panel's "compare with" picker: a change question runs Engine.change between the panel's raster and the
picked one, the card states the measured from-to figures and their source, the layers are styled from-to."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import ask, show_layer, wait_for_task
from qgis.core import QgsCategorizedSymbolRenderer, QgsPalettedRasterRenderer, QgsProject, QgsRasterLayer

from plugin.compare_picker import is_change_question
from plugin.conversation import DONE

pytestmark = pytest.mark.qgis
HERE = Path(__file__).resolve().parent


@pytest.fixture
def dates(tmp_path: Path) -> tuple[QgsRasterLayer, QgsRasterLayer]:
    from change_rule_engine import two_dates

    before, after = two_dates(tmp_path)
    layers = QgsRasterLayer(before, "2019"), QgsRasterLayer(after, "2024")
    for layer in layers:
        assert layer.isValid()
        QgsProject.instance().addMapLayer(layer)
    return layers


@pytest.fixture
def rule_holder():  # noqa: ANN201
    """An engine process whose segmenter is a colour rule (red barren, green forest, blue water)."""
    from plugin.engine_client import EngineHolder

    holder = EngineHolder(factory="change_rule_engine:RuleEngine", extra_path=(str(HERE),))
    yield holder
    holder.shutdown()


@pytest.mark.parametrize(("text", "expected"), [
    ("how much forest was lost?", True), ("where did new buildings appear?", True), ("what changed?", True),
    ("did the water area grow?", True), ("what did the farmland become?", True),
    ("How much of this area is forest?", False), ("find the ponds", False), ("describe this", False),
])
def test_change_questions_are_told_from_other_questions(text: str, expected: bool) -> None:
    assert is_change_question(text) is expected


def test_picker_is_empty_and_never_lists_the_panel_raster(plugin, iface, dates) -> None:
    before, after = dates
    show_layer(iface, before)
    plugin.dock.raster_combo.setLayer(before)
    picker = plugin.dock.compare_picker
    assert picker.layer_id() == ""  # nothing compared unless a second date is picked
    assert before in picker.combo.exceptedLayerList()
    picker.combo.setLayer(after)
    assert picker.layer_id() == after.id()


def ask_about_change(plugin, iface, dates, rule_holder, qtbot, question: str):
    """Ask ``question`` about the first date with the second picked under "Compare with"; the finished turn."""
    before, after = dates
    show_layer(iface, before)
    plugin.dock.raster_combo.setLayer(before)
    plugin.dock.compare_picker.combo.setLayer(after)
    plugin.controller.holder = rule_holder
    ask(qtbot, plugin, question)
    assert plugin.controller.task is not None, iface.messages()
    wait_for_task(qtbot, plugin.controller)
    turn = plugin.controller.conversation.turns[-1]
    assert turn.status == DONE, turn.error
    return turn


def test_change_question_with_a_picked_date_answers_from_the_measured_matrix(plugin, iface, dates, rule_holder,
                                                                             qtbot) -> None:
    turn = ask_about_change(plugin, iface, dates, rule_holder, qtbot, "how much forest was lost?")
    assert turn.kind == "change" and turn.raster == "2019 -> 2024"
    result = turn.result_obj
    lost = result.area("forest", "barren")
    assert lost == pytest.approx(72_000.0, rel=0.1)  # 720 px of 100 m² cleared, read across CRSs
    card = turn.result
    assert card["source"] == "measured" and card["change_answer"]["source"] == "measured"
    widget = plugin.dock.turn_widgets[turn.id]
    assert widget.source == "Measured from the land-cover map"
    assert "measured from the land-cover maps of the two dates" in widget.explanation
    shown = " ".join(widget.figures)
    assert "forest -> barren" in shown and f"{lost:,.0f} m²" in shown and "noise floor" in shown
    layers = {lyr.name(): lyr for lyr in QgsProject.instance().mapLayers().values()}
    mask, polygons = layers["change (2019 -> 2024)"], layers["change polygons (2019 -> 2024)"]
    assert isinstance(mask.renderer(), QgsPalettedRasterRenderer)
    assert any(c.label.startswith("forest -> barren") for c in mask.renderer().classes())
    assert isinstance(polygons.renderer(), QgsCategorizedSymbolRenderer)
    assert "forest -> barren" in {c.value() for c in polygons.renderer().categories()}
    assert polygons.featureCount() >= 1


def test_other_questions_go_the_usual_way_even_with_a_date_picked(plugin, iface, dates) -> None:
    from plugin.chat_dock import ChatRequest

    before, after = dates
    show_layer(iface, before)
    calls: list[object] = []
    plugin.controller._start = lambda turn, intent: calls.append(intent.kind)  # no engine run needed
    turn = plugin.controller.submit(ChatRequest("How much of this area is forest?", "view", before.id(), after.id()))
    assert turn is not None and turn.kind == "ask" and calls == ["ask"]


def test_what_changed_gets_the_model_narrative_checked_beside_the_measured_figures(plugin, iface, dates, rule_holder,
                                                                                   qtbot) -> None:
    turn = ask_about_change(plugin, iface, dates, rule_holder, qtbot, "what changed?")
    caption = turn.result_obj.caption
    assert caption is not None and turn.result["caption"] == caption
    assert turn.answer == caption["caption"] and turn.result["source"] == caption["source"]
    widget = plugin.dock.turn_widgets[turn.id]
    said = {"model": "Written by the language model", "measured": "Measured from the land-cover map",
            "checked": "Checked against the land-cover map"}
    assert widget.source.startswith(said[caption["source"]])
    assert "forest -> barren" in " ".join(widget.figures)  # the measured figures stay beside the narrative
    assert "measured from the land-cover maps of the two dates" in widget.explanation

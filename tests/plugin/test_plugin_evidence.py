"""Answer cards say where an answer comes from: source line, explanation, figures; cards grow with their text."""

from __future__ import annotations

import pytest
from qgis.PyQt.QtWidgets import QApplication

from core.results import AnswerResult, Provenance, to_dict
from plugin.chat_dock import ChatDock
from plugin.conversation import DONE, Conversation, answer_text, provenance_lines

pytestmark = pytest.mark.qgis
SHARE = {"name": "water share", "value": 46.2, "unit": "%", "text": "46.2% (48.50 km2 of 104.86 km2)"}
COUNT = {"name": "building objects", "value": 43, "unit": "objects", "text": "43 objects of at least 100 m2"}
PROV = Provenance(raster="/data/utm.tif", crs="EPSG:32618", tiles=4, device="cpu", model_id="tiny-random",
                  timings={"segment": 1.5})


def _result(source: str, **kw) -> AnswerResult:
    defaults = {"measured": dict(answer="46.2%", explanation="Water covers 46.2% of the area, measured from the "
                                 "land-cover map (4 tiles).", figures=[SHARE], query={"kind": "share"}),
                "model": dict(answer="a quiet rural scene", explanation="written by the language model"),
                "checked": dict(answer="about 46% water", explanation="water share stated 46%, measured 46.2%",
                                figures=[SHARE], model_answer="about 46% water")}[source]
    return AnswerResult("How much water?", choices=None, provenance=PROV, source=source, **{**defaults, **kw})


def _card(dock: ChatDock, conversation: Conversation, result: AnswerResult, provenance: list[str] | None = None):
    turn = conversation.add("ask", result.question, "map view", "utm scene")
    dock.add_turn(turn)
    turn.result_obj, turn.result = result, to_dict(result)
    turn.answer, turn.status = answer_text("ask", turn.result), DONE
    dock.show_result(turn, provenance if provenance is not None else provenance_lines(turn.result["provenance"]))
    return dock.turn_widgets[turn.id]


@pytest.fixture
def dock(qtbot) -> ChatDock:
    panel = ChatDock()
    qtbot.addWidget(panel)
    panel.resize(320, 700)
    panel.show()
    return panel


def test_measured_card_shows_source_explanation_and_figures(dock) -> None:
    card = _card(dock, Conversation(), _result("measured"))
    assert card.answer == "46.2%"
    assert card.explanation.startswith("Water covers 46.2% of the area")
    assert card.source == "Measured from the land-cover map"
    assert card.figures == ["water share: 46.2% (48.50 km2 of 104.86 km2)"]
    assert not card.source_label.isHidden() and not card.figures_label.isHidden()
    assert "4 tiles" in card.provenance  # the provenance section is still there


def test_model_card_says_the_model_wrote_it_without_figures(dock) -> None:
    card = _card(dock, Conversation(), _result("model"))
    assert card.answer == "a quiet rural scene"
    assert card.source == "Written by the language model"
    assert card.explanation == "" and card.figures == [] and card.figures_label.isHidden()


def test_checked_card_agreeing_and_overruled(dock) -> None:
    conversation = Conversation()
    agreed = _card(dock, conversation, _result("checked", figures=[SHARE, COUNT]))
    assert agreed.source == "Checked against the land-cover map"
    assert agreed.figures == ["water share: 46.2% (48.50 km2 of 104.86 km2)",
                              "building objects: 43 objects of at least 100 m2"]
    overruled = _card(dock, conversation, _result("checked", answer="46.2%", overruled=True,
                                                  model_answer="about 90% water"))
    assert overruled.answer == "46.2%"
    assert overruled.source.startswith("Checked against the land-cover map")
    assert "The model said \u201cabout 90% water\u201d" in overruled.source
    assert "the measurement disagreed, so the measured answer is shown" in overruled.source


def test_markdown_export_keeps_source_and_figures(dock) -> None:
    conversation = Conversation()
    _card(dock, conversation, _result("measured"))
    md = conversation.to_markdown()
    assert "*Measured from the land-cover map.*" in md and "- water share: 46.2% (48.50 km2" in md


def test_cards_grow_with_their_text_and_sit_without_gaps(dock, qtbot) -> None:
    """Long provenance wraps inside its card at the panel's width: nothing clipped, no blank space between cards."""
    long = [f"retrieved (0.8{i}) [scene]: " + "fields, a road and a river bending to the north-east " * 4
            for i in range(3)] + ["forest: 1,234 m² (0.12 ha), 12.0%, 3 patches"] * 4
    conversation = Conversation()
    cards = [_card(dock, conversation, _result("measured"), long), _card(dock, conversation, _result("model"), long),
             _card(dock, conversation, _result("checked"), ["4 tiles"])]
    for _ in range(5):
        QApplication.processEvents()
        qtbot.wait(20)
    spacing = dock.history_layout.spacing()
    for before, card in zip([None, *cards], cards):
        width = card.width()
        assert card.height() >= card.heightForWidth(width)  # the whole text fits
        label = card.provenance_label
        assert label.height() >= label.heightForWidth(label.width())  # the provenance is not clipped
        if before is not None:
            assert card.y() - (before.y() + before.height()) == spacing  # no blank gap between cards
    assert cards[0].y() <= dock.history_layout.contentsMargins().top() + 1

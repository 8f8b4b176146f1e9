"""Answer cards say where an answer comes from: source line, explanation, figures; cards grow with their text."""

from __future__ import annotations

import pytest
from qgis.PyQt.QtCore import QPoint, Qt
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


BLOCKS = ("question_label", "meta_label", "answer_label", "explanation_label", "source_label", "model_label",
          "figures_label", "provenance_label")


def _settle(qtbot) -> None:
    for _ in range(8):
        QApplication.processEvents()
        qtbot.wait(10)


def _parts(card) -> list:
    """The card's text blocks and button row that are shown, top to bottom."""
    return [w for w in [getattr(card, name) for name in BLOCKS] + [card.buttons] if not w.isHidden()]


def test_cards_are_as_tall_as_their_content_at_any_panel_width(dock, qtbot) -> None:
    """No blank space in or between cards, nothing clipped below or beside: at 260, 340 and 520 px."""
    long = [f"retrieved (0.8{i}) [scene]: " + "fields, a road and a river bending to the north-east " * 4
            for i in range(3)] + ["forest: 1,234 m² (0.12 ha), 12.0%, 3 patches"] * 4
    conversation = Conversation()
    cards = [_card(dock, conversation, _result("measured"), long), _card(dock, conversation, _result("model"), long),
             _card(dock, conversation, _result("checked"), ["4 tiles"])]
    heights = {}
    for width in (260, 340, 520):
        dock.setFixedWidth(width)
        _settle(qtbot)
        viewport = dock.scroll.viewport().width()
        assert cards[0].y() == dock.history_layout.contentsMargins().top()
        for before, card in zip([None, *cards], cards):
            assert 0 <= card.x() and card.x() + card.width() <= viewport  # nothing hidden beside the view
            layout, parts = card.layout(), _parts(card)
            inner = card.frameWidth()
            assert parts[0].y() == inner + layout.contentsMargins().top()
            for upper, lower in zip(parts, parts[1:]):
                assert lower.y() - (upper.y() + upper.height()) == layout.spacing()  # no blank space inside
            assert card.height() - (parts[-1].y() + parts[-1].height()) == inner + layout.contentsMargins().bottom()
            for block in parts[:-1]:
                limit = block.max_height or block.content_height()
                assert block.height() == min(block.content_height(), limit) > 0  # as tall as its text, no taller
                assert block.x() + block.width() <= card.width()
            row = card.buttons
            assert all(b.geometry().bottom() < row.height() and b.geometry().right() < row.width()
                       for b in (card.segmentation_button, card.boxes_button, card.zoom_button, card.save_button))
            if before is not None:
                assert card.y() - (before.y() + before.height()) == dock.history_layout.spacing()  # no gap
        heights[width] = cards[0].provenance_label.content_height()
    assert heights[260] > heights[340] > heights[520]  # the text wraps to the width it has


def test_long_provenance_scrolls_inside_its_card_and_every_line_can_be_read_and_copied(dock, qtbot) -> None:
    lines = [f"line {i}: " + " ".join(["retrieved words about the scene"] * 3) for i in range(30)]
    card = _card(dock, Conversation(), _result("model"), lines)
    _settle(qtbot)
    block = card.provenance_label
    assert block.scrolls() and block.height() == block.max_height < block.content_height()
    bar = block.verticalScrollBar()
    assert bar.isVisible() and bar.maximum() > 0
    bar.setValue(bar.maximum())
    _settle(qtbot)
    bottom = block.cursorForPosition(QPoint(4, block.viewport().height() - 4)).block().text()
    assert bottom.startswith("line 29")  # scrolled to the end, the last line is in view
    bar.setValue(0)
    _settle(qtbot)
    assert block.cursorForPosition(QPoint(4, 4)).block().text().startswith("line 0")
    flags = block.textInteractionFlags()
    assert flags & Qt.TextInteractionFlag.TextSelectableByMouse
    assert flags & Qt.TextInteractionFlag.TextSelectableByKeyboard
    block.selectAll()
    block.copy()
    copied = QApplication.clipboard().text()
    assert all(line in copied for line in lines)  # the whole provenance can be selected and copied
    assert block.text().splitlines() == lines

"""One chat turn on screen: question, streamed answer, provenance, and the buttons that act on its result."""

from __future__ import annotations

import html

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QFrame, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from .conversation import CANCELLED, DONE, FAILED, Turn
from .evidence import MEASURED, explanation_text, figure_lines, has_found, model_line, source_line
from .text_block import FlowRow, TextBlock

KIND_NAMES = {"ask": "Question", "ground": "Find", "caption": "Describe", "segment": "Land cover",
              "classify": "Scene class"}
PROVENANCE_LINES = 8  # the provenance shows this many lines, then scrolls inside the card
CANCELLED_TEXT = "Cancelled."


def _button(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setAutoRaise(True)
    return button


class TurnWidget(QFrame):
    """A question with its answer; the answer grows while text streams in.

    A card is exactly as tall as its text at the panel's width: every text block fixes its own height (see
    :mod:`plugin.text_block`). The provenance is selectable and scrolls inside the card beyond
    :data:`PROVENANCE_LINES` lines.

    Signals (carry the turn id):
        segmentationRequested(int), boxesRequested(int), zoomRequested(int), saveRequested(int)
    """

    segmentationRequested = pyqtSignal(int)
    boxesRequested = pyqtSignal(int)
    zoomRequested = pyqtSignal(int)
    saveRequested = pyqtSignal(int)

    def __init__(self, turn: Turn, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.turn_id = turn.id
        self.kind = turn.kind
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(2)
        lines = self.fontMetrics().lineSpacing()
        self.question_label = TextBlock(rich=True)
        self.meta_label = TextBlock(rich=True)
        self.answer_label = TextBlock()
        self.explanation_label = TextBlock()  # how a measured or checked answer was obtained
        self.source_label = TextBlock(rich=True)  # where the answer comes from: measured, the model, or checked
        self.model_label = TextBlock(rich=True)  # the model that answered (its folder or id)
        self.figures_label = TextBlock(rich=True)  # the measured figures the answer rests on
        self.provenance_label = TextBlock(max_height=PROVENANCE_LINES * lines, rich=True)
        for block in (self.question_label, self.meta_label, self.answer_label, self.explanation_label,
                      self.source_label, self.model_label, self.figures_label, self.provenance_label):
            layout.addWidget(block)
        self.question_label.set_text(f"<b>{html.escape(turn.text)}</b>")
        self.meta_label.set_text(f"<small>{KIND_NAMES.get(turn.kind, turn.kind)} · {html.escape(turn.target)} · "
                                 f"{html.escape(turn.raster)}</small>")
        self.answer_label.set_text("…")
        for block in (self.explanation_label, self.source_label, self.model_label, self.figures_label,
                      self.provenance_label):
            block.set_text("")

        self.segmentation_button = _button("Land cover", "Add the segmentation of this area as a styled raster layer")
        self.boxes_button = _button("Boxes", "Add the boxes found as a vector layer in the project CRS")
        self.zoom_button = _button("Zoom", "Zoom to the boxes found, or to the area asked about")
        self.save_button = _button("Save…", "Save the boxes as a GeoPackage")
        for button, signal in ((self.segmentation_button, self.segmentationRequested),
                               (self.boxes_button, self.boxesRequested),
                               (self.zoom_button, self.zoomRequested),
                               (self.save_button, self.saveRequested)):
            button.setEnabled(False)
            button.clicked.connect(lambda _=False, s=signal: s.emit(self.turn_id))
        self.buttons = FlowRow([self.segmentation_button, self.boxes_button, self.zoom_button, self.save_button])
        layout.addWidget(self.buttons)
        self._streamed = ""
        self._source = ""
        self._figures: list[str] = []

    def append_text(self, piece: str) -> None:
        """Add a streamed piece of the answer."""
        self._streamed += piece
        self.answer_label.set_text(self._streamed)

    @property
    def answer(self) -> str:
        """The answer text shown now."""
        return self.answer_label.text()

    @property
    def explanation(self) -> str:
        """How a measured or checked answer was obtained, as shown now ("" when hidden)."""
        return self.explanation_label.text()

    @property
    def source(self) -> str:
        """The source line shown now (plain text; "" when the result has none)."""
        return self._source

    @property
    def model(self) -> str:
        """The "Model: ..." line shown now ("" when the result names no model)."""
        return self.model_label.text()

    @property
    def figures(self) -> list[str]:
        """The figure lines shown now."""
        return list(self._figures)

    @property
    def provenance(self) -> str:
        """The provenance text shown now (plain text, one line per item)."""
        return self.provenance_label.text()

    def show_result(self, turn: Turn, provenance: list[str]) -> None:
        """Show the final answer, where it comes from, its figures and provenance; enable the buttons that apply."""
        if turn.status == DONE:
            self.answer_label.set_text(turn.answer or "(no answer)")
        elif turn.status == FAILED:
            self.answer_label.set_text(f"Failed: {turn.error}")
        elif turn.status == CANCELLED:
            self.answer_label.set_text(CANCELLED_TEXT + (f" What came before: {self._streamed.strip()}"
                                                          if self._streamed.strip() else ""))
        result = (turn.result or {}) if turn.status == DONE else {}
        self._source, self._figures = source_line(result), figure_lines(result)
        self.explanation_label.set_text(explanation_text(result))
        self.source_label.set_text(f"<small><i>{html.escape(self._source)}</i></small>" if self._source else "")
        model = model_line(result)
        self.model_label.set_text(f"<small><i>{html.escape(model)}</i></small>" if model else "")
        self.figures_label.set_text(_bullets(self._figures))
        self.provenance_label.set_text(_bullets(provenance))
        found = turn.status == DONE and turn.kind == "ground" and has_found(result)
        measured = result.get("source") == MEASURED
        self.boxes_button.setText("Objects" if measured else "Boxes")
        self.boxes_button.setToolTip("Add the objects found as a polygon layer" if measured else
                                     "Add the boxes found as a vector layer in the project CRS")
        self.save_button.setToolTip(f"Save the {'objects' if measured else 'boxes'} as a GeoPackage")
        self.segmentation_button.setEnabled(turn.status == DONE)
        self.boxes_button.setEnabled(found)
        self.zoom_button.setEnabled(turn.status == DONE)
        self.save_button.setEnabled(found)
        self.buttons.refresh()


def _bullets(lines: list[str]) -> str:
    """Small HTML list of ``lines`` ("" when there are none)."""
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f"<small><ul style='margin-top:0; margin-bottom:0'>{items}</ul></small>"

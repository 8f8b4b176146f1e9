"""One chat turn on screen: question, streamed answer, provenance, and the buttons that act on its result."""

from __future__ import annotations

import html

from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from .conversation import CANCELLED, DONE, FAILED, Turn
from .evidence import MEASURED, explanation_text, figure_lines, has_found, source_line

KIND_NAMES = {"ask": "Question", "ground": "Find", "caption": "Describe", "segment": "Land cover",
              "classify": "Scene class"}


def _button(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setAutoRaise(True)
    return button


class TurnWidget(QFrame):
    """A question with its answer; the answer grows while text streams in.

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
        # Minimum, not Maximum: a card is as tall as its wrapped text needs at the panel's width (heightForWidth),
        # so the provenance is never clipped and no blank space is handed out between cards.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(2)
        self.question_label = QLabel(f"<b>{html.escape(turn.text)}</b>")
        self.meta_label = QLabel(
            f"<small>{KIND_NAMES.get(turn.kind, turn.kind)} · {html.escape(turn.target)} · "
            f"{html.escape(turn.raster)}</small>")
        self.answer_label = QLabel("…")
        self.explanation_label = QLabel()  # how a measured or checked answer was obtained
        self.source_label = QLabel()  # where the answer comes from: measured, the model, or checked
        self.figures_label = QLabel()  # the measured figures the answer rests on
        self.provenance_label = QLabel()
        for label in (self.question_label, self.meta_label, self.answer_label, self.explanation_label,
                      self.source_label, self.figures_label, self.provenance_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                          | Qt.TextInteractionFlag.TextSelectableByKeyboard)
            label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
            layout.addWidget(label)
        self.answer_label.setTextFormat(Qt.TextFormat.PlainText)
        self.explanation_label.setTextFormat(Qt.TextFormat.PlainText)
        self.explanation_label.hide()
        for label in (self.source_label, self.figures_label, self.provenance_label):
            label.setTextFormat(Qt.TextFormat.RichText)
            label.hide()

        buttons = QHBoxLayout()
        buttons.setSpacing(2)
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
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self._streamed = ""
        self._source = ""
        self._figures: list[str] = []

    def append_text(self, piece: str) -> None:
        """Add a streamed piece of the answer."""
        self._streamed += piece
        self.answer_label.setText(self._streamed)

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
    def figures(self) -> list[str]:
        """The figure lines shown now."""
        return list(self._figures)

    @property
    def provenance(self) -> str:
        """The provenance text shown now (HTML)."""
        return self.provenance_label.text()

    def show_result(self, turn: Turn, provenance: list[str]) -> None:
        """Show the final answer, where it comes from, its figures and provenance; enable the buttons that apply."""
        if turn.status == DONE:
            self.answer_label.setText(turn.answer or "(no answer)")
        elif turn.status == FAILED:
            self.answer_label.setText(f"Failed: {turn.error}")
        elif turn.status == CANCELLED:
            self.answer_label.setText((self._streamed + " … " if self._streamed else "") + "(cancelled)")
        result = (turn.result or {}) if turn.status == DONE else {}
        self._source, self._figures = source_line(result), figure_lines(result)
        self.explanation_label.setText(explanation_text(result))
        self.explanation_label.setVisible(bool(self.explanation_label.text()))
        _set_rich(self.source_label, f"<small><i>{html.escape(self._source)}</i></small>" if self._source else "")
        _set_rich(self.figures_label, _bullets(self._figures))
        _set_rich(self.provenance_label, _bullets(provenance))
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


def _bullets(lines: list[str]) -> str:
    """Small HTML list of ``lines`` ("" when there are none)."""
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f"<small><ul style='margin:0'>{items}</ul></small>"


def _set_rich(label: QLabel, text: str) -> None:
    """Show ``text`` in ``label``, or hide the label when there is nothing to show."""
    label.setText(text)
    label.setVisible(bool(text))

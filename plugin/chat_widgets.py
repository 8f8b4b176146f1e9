"""One chat turn on screen: question, streamed answer, provenance, and the buttons that act on its result."""

from __future__ import annotations

import html

from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from .conversation import CANCELLED, DONE, FAILED, Turn

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
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(2)
        self.question_label = QLabel(f"<b>{html.escape(turn.text)}</b>")
        self.meta_label = QLabel(
            f"<small>{KIND_NAMES.get(turn.kind, turn.kind)} · {html.escape(turn.target)} · "
            f"{html.escape(turn.raster)}</small>")
        self.answer_label = QLabel("…")
        self.provenance_label = QLabel()
        for label in (self.question_label, self.meta_label, self.answer_label, self.provenance_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(label)
        self.answer_label.setTextFormat(Qt.TextFormat.PlainText)
        self.provenance_label.setTextFormat(Qt.TextFormat.RichText)
        self.provenance_label.hide()

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

    def append_text(self, piece: str) -> None:
        """Add a streamed piece of the answer."""
        self._streamed += piece
        self.answer_label.setText(self._streamed)

    @property
    def answer(self) -> str:
        """The answer text shown now."""
        return self.answer_label.text()

    @property
    def provenance(self) -> str:
        """The provenance text shown now (HTML)."""
        return self.provenance_label.text()

    def show_result(self, turn: Turn, provenance: list[str]) -> None:
        """Show the final answer and its provenance, and enable the buttons that apply."""
        if turn.status == DONE:
            self.answer_label.setText(turn.answer or "(no answer)")
        elif turn.status == FAILED:
            self.answer_label.setText(f"Failed: {turn.error}")
        elif turn.status == CANCELLED:
            self.answer_label.setText((self._streamed + " … " if self._streamed else "") + "(cancelled)")
        if provenance:
            items = "".join(f"<li>{html.escape(line)}</li>" for line in provenance)
            self.provenance_label.setText(f"<small><ul style='margin:0'>{items}</ul></small>")
            self.provenance_label.show()
        has_boxes = turn.status == DONE and turn.kind == "ground" and bool((turn.result or {}).get("boxes"))
        self.segmentation_button.setEnabled(turn.status == DONE)
        self.boxes_button.setEnabled(has_boxes)
        self.zoom_button.setEnabled(turn.status == DONE)
        self.save_button.setEnabled(has_boxes)

"""The chat panel: pick a raster and a target, type a question, read streamed answers with provenance.

The panel only shows things and emits signals; the controller decides what to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from qgis.core import Qgis, QgsSettings
from qgis.gui import QgsDockWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt, QTimer, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .chat_widgets import TurnWidget
from .conversation import Turn
from .output_folder import suggested_path
from .targets import TARGET_KINDS, TARGET_NAMES, VIEW

SHOWN_ONCE_KEY = "earthask/dock_shown_once"  # QgsSettings: the panel was opened for the user once


def show_on_first_start(dock: QgsDockWidget, iface: Any) -> bool:
    """Open the panel the first time the plugin starts in a QGIS profile, and say where it lives.

    Remembered in QgsSettings (:data:`SHOWN_ONCE_KEY`): later starts leave the panel as the user left it (QGIS
    restores docks with the window state). Returns True when the panel was opened now.
    """
    settings = QgsSettings()
    if settings.value(SHOWN_ONCE_KEY, False, type=bool):
        return False
    dock.show()
    dock.raise_()
    settings.setValue(SHOWN_ONCE_KEY, True)
    iface.messageBar().pushMessage(
        "EarthAsk", "The EarthAsk chat panel is open on the right. Close it, and open it again with the EarthAsk "
        "button in the Plugins toolbar or from Plugins \u25b8 EarthAsk.", level=Qgis.MessageLevel.Info, duration=15)
    return True


@dataclass(frozen=True)
class ChatRequest:
    """What the user submitted: the words, which target, which raster layer (id, "" when none) and which raster to
    compare it with (id, "" when none)."""

    text: str
    target_kind: str
    layer_id: str
    compare_id: str = ""


class ChatDock(QgsDockWidget):
    """Dock widget of the EarthAsk chat.

    Signals:
        requestSubmitted(ChatRequest): the user asked something.
        targetKindChanged(str): "view" | "selection" | "box" picked in the panel.
        drawBoxRequested(): the user wants to draw a box on the map.
        cancelRequested(): stop the running answer.
        segmentationRequested(int), boxesRequested(int), zoomRequested(int): act on a turn's result.
        saveBoxesRequested(int, str): save a turn's boxes to this GeoPackage path.
        exportRequested(str): save the conversation (.md or .json) to this path.
        settingsRequested(), clearRequested()
        bandsRequested(): choose the bands of the picked raster.
    """

    requestSubmitted = pyqtSignal(object)
    targetKindChanged = pyqtSignal(str)
    drawBoxRequested = pyqtSignal()
    cancelRequested = pyqtSignal()
    segmentationRequested = pyqtSignal(int)
    boxesRequested = pyqtSignal(int)
    zoomRequested = pyqtSignal(int)
    saveBoxesRequested = pyqtSignal(int, str)
    exportRequested = pyqtSignal(str)
    settingsRequested = pyqtSignal()
    clearRequested = pyqtSignal()
    bandsRequested = pyqtSignal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__("EarthAsk", parent)
        self.setObjectName("EarthAskChatDock")
        body = QWidget()
        layout = QVBoxLayout(body)

        row = QHBoxLayout()
        row.addWidget(QLabel("Raster"))
        self.raster_combo = QgsMapLayerComboBox()
        self.raster_combo.setFilters(Qgis.LayerFilter.RasterLayer)
        self.raster_combo.setAllowEmptyLayer(False)  # the first raster is picked when there is one
        row.addWidget(self.raster_combo, 1)
        self.bands_button = QToolButton()
        self.bands_button.setText("Bands…")
        self.bands_button.setToolTip("Which bands of this raster EarthAsk reads as red, green and blue")
        self.bands_button.clicked.connect(self.bandsRequested.emit)
        row.addWidget(self.bands_button)
        layout.addLayout(row)
        from .compare_picker import ComparePicker

        self.compare_picker = ComparePicker(self.raster_combo)
        layout.addWidget(self.compare_picker)

        row = QHBoxLayout()
        row.addWidget(QLabel("About"))
        self.target_combo = QComboBox()
        for kind in TARGET_KINDS:
            self.target_combo.addItem(TARGET_NAMES[kind], kind)
        self.target_combo.currentIndexChanged.connect(self._target_changed)
        row.addWidget(self.target_combo, 1)
        self.draw_button = QToolButton()
        self.draw_button.setText("Draw box")
        self.draw_button.setToolTip("Draw a box on the map to ask about it")
        self.draw_button.setCheckable(True)
        self.draw_button.clicked.connect(self.drawBoxRequested.emit)
        row.addWidget(self.draw_button)
        layout.addLayout(row)
        self.target_label = QLabel("Target: map view")
        self.target_label.setWordWrap(True)
        layout.addWidget(self.target_label)
        from .engine_setup.setup import ENGINE_STATUS

        self.engine_label = QLabel()
        self.engine_label.setWordWrap(True)
        layout.addWidget(self.engine_label)
        self.show_engine_device(ENGINE_STATUS.device())
        ENGINE_STATUS.deviceChanged.connect(self.show_engine_device)

        self.history = QWidget()
        self.history_layout = QVBoxLayout(self.history)
        self.history_layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.history_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        # Answers wrap to the panel's width; only a panel narrower than the widest button scrolls sideways.
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.scroll.setWidget(self.history)
        layout.addWidget(self.scroll, 1)

        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancelRequested.emit)
        row.addWidget(self.status_label)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.set_busy(False)

        row = QHBoxLayout()
        self.input = QLineEdit()
        self.input.setPlaceholderText("Ask about the area, e.g. Is there water? (yes|no). Or: find the ponds; "
                                      "describe this")
        self.input.returnPressed.connect(self.submit)
        self.ask_button = QPushButton("Ask")
        self.ask_button.clicked.connect(self.submit)
        row.addWidget(self.input, 1)
        row.addWidget(self.ask_button)
        layout.addLayout(row)

        row = QHBoxLayout()
        for text, slot in (("Export…", self._export), ("Clear", self.clearRequested.emit),
                           ("Settings…", self.settingsRequested.emit)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            row.addWidget(button)
        from .labels_panel import LabelsPanel

        self.labels_panel = LabelsPanel(self.raster_combo)  # check / teach the model with label polygons
        self.labels_panel.setVisible(False)
        self.labels_button = QToolButton()
        self.labels_button.setText("Labels")
        self.labels_button.setToolTip("Check the model against your label polygons, or teach it from them")
        self.labels_button.setCheckable(True)
        self.labels_button.toggled.connect(self.labels_panel.setVisible)
        row.insertWidget(2, self.labels_button)
        row.addStretch(1)
        layout.addWidget(self.labels_panel)
        layout.addLayout(row)
        self.setWidget(body)
        self.turn_widgets: dict[int, TurnWidget] = {}

    # --- what the user does -------------------------------------------------------------------------
    def submit(self) -> None:
        """Emit the typed text as a request (validation is the controller's job)."""
        layer = self.raster_combo.currentLayer()
        self.requestSubmitted.emit(ChatRequest(self.input.text(), self.target_kind(), layer.id() if layer else "",
                                               self.compare_picker.layer_id()))

    def target_kind(self) -> str:
        """The target picked in the panel."""
        return self.target_combo.currentData() or VIEW

    def _target_changed(self, _index: int) -> None:
        self.targetKindChanged.emit(self.target_kind())

    def _export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export conversation", suggested_path("earthask.md"),
                                              "Markdown (*.md);;JSON (*.json)")
        if path:
            self.exportRequested.emit(path)

    def _save_boxes(self, turn_id: int) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save what was found", suggested_path("earthask_found.gpkg"),
                                              "GeoPackage (*.gpkg)")
        if path:
            self.saveBoxesRequested.emit(turn_id, path)

    # --- what the controller shows ------------------------------------------------------------------
    def set_target(self, kind: str, description: str) -> None:
        """Select ``kind`` without re-emitting and show what the target is."""
        index = self.target_combo.findData(kind)
        if index >= 0 and index != self.target_combo.currentIndex():
            self.target_combo.blockSignals(True)
            self.target_combo.setCurrentIndex(index)
            self.target_combo.blockSignals(False)
        self.target_label.setText(f"Target: {description}")

    def set_drawing(self, active: bool) -> None:
        """Show whether the draw-box tool is the active map tool."""
        self.draw_button.setChecked(active)

    def add_turn(self, turn: Turn) -> TurnWidget:
        """Show a new pending turn at the bottom and clear the input."""
        widget = TurnWidget(turn)
        widget.segmentationRequested.connect(self.segmentationRequested.emit)
        widget.boxesRequested.connect(self.boxesRequested.emit)
        widget.zoomRequested.connect(self.zoomRequested.emit)
        widget.saveRequested.connect(self._save_boxes)
        self.history_layout.insertWidget(self.history_layout.count() - 1, widget)
        self.turn_widgets[turn.id] = widget
        self.input.clear()
        QTimer.singleShot(0, self._scroll_to_end)
        return widget

    def _scroll_to_end(self) -> None:
        bar = self.scroll.verticalScrollBar()
        bar.setValue(bar.maximum())

    def append_text(self, turn_id: int, piece: str) -> None:
        """Add a streamed piece to a turn's answer."""
        widget = self.turn_widgets.get(turn_id)
        if widget is not None:
            widget.append_text(piece)

    def show_result(self, turn: Turn, provenance: list[str]) -> None:
        """Show a turn's final state."""
        widget = self.turn_widgets.get(turn.id)
        if widget is not None:
            widget.show_result(turn, provenance)
            QTimer.singleShot(0, self._scroll_to_end)

    def clear_turns(self) -> None:
        """Remove every turn from the panel."""
        for widget in self.turn_widgets.values():
            self.history_layout.removeWidget(widget)
            widget.deleteLater()
        self.turn_widgets.clear()

    def set_busy(self, busy: bool, text: str = "") -> None:
        """Show or hide the progress row."""
        self.progress.setValue(0)
        self.status_label.setText(text)
        for widget in (self.progress, self.cancel_button, self.status_label):
            widget.setVisible(busy)

    def set_progress(self, percent: float) -> None:
        """Progress of the running task, 0..100."""
        self.progress.setValue(int(percent))

    def show_engine_device(self, device: str) -> None:
        """Where the engine runs ("CPU", "GPU <name>, <free> GiB free...") or how to set it up."""
        self.engine_label.setText(f"Engine: {device}" if device else
                                  "Engine: not set up yet (Plugins ▸ EarthAsk ▸ Set up engine…)")

"""The chat panel's "Labels" section: a polygon layer, its class field, "Check the model", "Teach the model" and
"Use this model". It only shows things and emits typed requests; :mod:`plugin.labels_runner` runs them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Optional

from qgis.core import Qgis
from qgis.gui import QgsFieldComboBox, QgsMapLayerComboBox
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .output_folder import output_dir
from .settings import PluginSettings
from .text_block import TextBlock

CHECK, TEACH = "check", "teach"
DEFAULT_STEPS = 200  # fine-tuning steps offered by default (a few minutes on a laptop CPU)


@dataclass(frozen=True)
class LabelsRequest:
    """What the user asked for: check or teach, on which raster (layer id), with which polygons (layer id) and class
    field, an optional class mapping (``lake=water; woods=forest``), and for teaching the steps and the folder the
    new model goes in (a new subfolder is made there)."""

    action: str
    raster_id: str
    labels_id: str
    class_field: str
    mapping: str = ""
    steps: int = DEFAULT_STEPS
    parent_folder: str = ""


def score_lines(result: dict[str, Any]) -> list[str]:
    """``"water: IoU 0.812 (labelled 1.20 ha, predicted 1.05 ha)"`` per class of a ``core.eval labels --json``
    result, best first."""
    classes = result.get("classes") or {}
    lines = []
    for name, c in sorted(classes.items(), key=lambda item: -float(item[1].get("iou") or 0.0)):
        lines.append(f"{name}: IoU {float(c.get('iou') or 0.0):.3f} (labelled {float(c.get('labelled_ha') or 0.0):.2f}"
                     f" ha, predicted {float(c.get('predicted_ha') or 0.0):.2f} ha)")
    return lines


class LabelsPanel(QWidget):
    """Polygon layer, class field, optional mapping; "Check the model", "Teach the model", "Use this model".

    Signals:
        requested(LabelsRequest): check or teach.
        cancelRequested(): stop the running check or teaching.
        useModelRequested(str): make this model folder the active model.
    """

    requested = pyqtSignal(object)
    cancelRequested = pyqtSignal()
    useModelRequested = pyqtSignal(str)

    def __init__(self, raster_combo: QgsMapLayerComboBox, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.raster_combo = raster_combo
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Labels"))
        self.layer_combo = QgsMapLayerComboBox()
        self.layer_combo.setFilters(Qgis.LayerFilter.PolygonLayer)
        self.layer_combo.setAllowEmptyLayer(False)
        row.addWidget(self.layer_combo, 1)
        row.addWidget(QLabel("Class"))
        self.field_combo = QgsFieldComboBox()
        row.addWidget(self.field_combo, 1)
        layout.addLayout(row)
        self.mapping_edit = QLineEdit()
        self.mapping_edit.setPlaceholderText("Optional class mapping, e.g. lake=water; woods=forest")
        layout.addWidget(self.mapping_edit)

        row = QHBoxLayout()
        self.check_button = QPushButton("Check the model")
        self.check_button.setToolTip("Score the active model's land cover against these polygons on the raster above")
        self.check_button.clicked.connect(lambda: self._request(CHECK))
        self.teach_button = QPushButton("Teach the model")
        self.teach_button.setToolTip("Fine-tune the active model on these polygons and save it as a new model folder")
        self.teach_button.clicked.connect(lambda: self._request(TEACH))
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 100000)
        self.steps_spin.setValue(DEFAULT_STEPS)
        self.steps_spin.setToolTip("Training steps for Teach")
        self.steps_spin.setSuffix(" steps")
        for widget in (self.check_button, self.teach_button, self.steps_spin):
            row.addWidget(widget)
        layout.addLayout(row)

        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancelRequested.emit)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)

        self.card = QFrame()
        self.card.setFrameShape(QFrame.Shape.StyledPanel)
        card_layout = QVBoxLayout(self.card)
        card_layout.setContentsMargins(6, 4, 6, 4)
        self.result_block = TextBlock(rich=True)
        card_layout.addWidget(self.result_block)
        self.use_button = QPushButton("Use this model")
        self.use_button.setToolTip("Make the new model the active one (EarthAsk settings)")
        self.use_button.clicked.connect(lambda: self.new_model and self.useModelRequested.emit(self.new_model))
        card_layout.addWidget(self.use_button)
        layout.addWidget(self.card)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        layout.addWidget(self.model_label)

        self.new_model = ""
        self.scores: dict[str, Any] = {}
        self.layer_combo.layerChanged.connect(self._layer_changed)
        self._layer_changed(self.layer_combo.currentLayer())
        self.show_card("")
        self.set_busy(False)
        self.show_active_model(PluginSettings.load().model)

    # --- what the user does -------------------------------------------------------------------------
    def _layer_changed(self, layer: Any) -> None:
        """Bind the field list to the picked layer; start on its first text field (where classes usually are)."""
        self.field_combo.setLayer(layer)
        text = [f.name() for f in layer.fields() if not f.isNumeric()] if layer is not None else []
        if text:
            self.field_combo.setField(text[0])

    def ask_parent_folder(self) -> str:
        """The folder the new model's folder is made in ("" when the user cancels)."""
        return QFileDialog.getExistingDirectory(self, "Where to save the taught model", output_dir())

    def _request(self, action: str) -> None:
        raster, labels = self.raster_combo.currentLayer(), self.layer_combo.currentLayer()
        parent = ""
        if action == TEACH and raster is not None and labels is not None:
            parent = self.ask_parent_folder()
            if not parent:
                return
        self.requested.emit(LabelsRequest(action, raster.id() if raster else "", labels.id() if labels else "",
                                          self.field_combo.currentField(), self.mapping_edit.text().strip(),
                                          self.steps_spin.value(), parent))

    # --- what the runner shows ----------------------------------------------------------------------
    def set_busy(self, busy: bool, text: str = "") -> None:
        """Show or hide the progress row; the buttons wait while a task runs."""
        self.progress.setValue(0)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.check_button.setEnabled(not busy)
        self.teach_button.setEnabled(not busy)
        self.set_status(text)

    def set_status(self, text: str) -> None:
        """One line under the buttons: what runs now, what went wrong, or what happened ("" hides it)."""
        self.status_label.setText(text)
        self.status_label.setVisible(bool(text))

    def show_card(self, text_html: str, new_model: str = "") -> None:
        """Show a result card (HTML; "" hides it) and, for a taught model, offer "Use this model"."""
        self.new_model = new_model
        self.result_block.set_text(text_html)
        self.card.setVisible(bool(text_html))
        self.use_button.setVisible(bool(new_model))
        self.use_button.setEnabled(bool(new_model))

    def show_scores(self, result: dict[str, Any], model: str, report: str) -> None:
        """The check's per-class IoU and mIoU, with the report's path."""
        self.scores = result
        items = "".join(f"<li>{html.escape(line)}</li>" for line in score_lines(result))
        self.show_card(f"<b>{html.escape(model)}</b> against the labels: mean IoU "
                       f"<b>{float(result.get('miou') or 0.0):.3f}</b><small><ul style='margin:0'>{items}</ul>"
                       f"Report: {html.escape(report)}</small>")

    def show_active_model(self, model: str) -> None:
        """Say which model answers now."""
        self.model_label.setText(f"<small>Active model: {html.escape(model)}</small>")

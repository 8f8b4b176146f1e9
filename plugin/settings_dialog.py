"""The settings dialog: model, device, backend, tiling, semantic database and the engine's Python (with its set-up
dialog), within core's limits."""

from __future__ import annotations

from typing import Optional

from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from core.config import BACKENDS, DEVICES, TILE_MAX, TILE_MIN, TOKENS_MAX

from .settings import PluginSettings


def _path_row(edit: QLineEdit, caption: str, parent: QWidget) -> QWidget:
    """The line edit with a "…" button that picks a folder into it."""
    from .engine_setup.dialog import browse_row

    def browse() -> None:
        path = QFileDialog.getExistingDirectory(parent, caption, edit.text())
        if path:
            edit.setText(path)

    return browse_row(edit, browse, caption, parent)


class SettingsDialog(QDialog):
    """Edits a :class:`PluginSettings`; ``values()`` returns what the user chose."""

    def __init__(self, settings: PluginSettings, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("EarthAsk settings")
        form = QFormLayout(self)
        self.model_edit = QLineEdit()
        self.model_edit.setToolTip("default (the bundled model), tiny (random, for tests) or a model directory")
        form.addRow("Model", _path_row(self.model_edit, "Model directory", self))
        self.device_combo = QComboBox()
        self.device_combo.addItems(list(DEVICES))
        form.addRow("Device", self.device_combo)
        self.backend_combo = QComboBox()
        self.backend_combo.addItems(list(BACKENDS))
        self.backend_combo.setToolTip("onnx runs the segmentation encoder with onnxruntime")
        form.addRow("Backend", self.backend_combo)
        self.tile_spin = QSpinBox()
        self.tile_spin.setRange(TILE_MIN, TILE_MAX)
        self.tile_spin.setSingleStep(64)
        self.tile_spin.setSuffix(" px")
        self.tile_spin.setKeyboardTracking(False)  # typing "1024" must not pass through 102 and cut the overlap
        form.addRow("Tile size", self.tile_spin)
        self.overlap_spin = QSpinBox()
        self.overlap_spin.setSuffix(" px")
        self.overlap_spin.setToolTip("At most half the tile size")
        self.tile_spin.valueChanged.connect(self._limit_overlap)
        self._limit_overlap(self.tile_spin.value())
        form.addRow("Tile overlap", self.overlap_spin)
        self.tokens_spin = QSpinBox()
        self.tokens_spin.setRange(1, TOKENS_MAX)
        self.tokens_spin.setSuffix(" tokens")
        form.addRow("Longest answer", self.tokens_spin)
        self.spectral_check = QCheckBox("Use near- and short-wave infrared when the raster has them")
        self.spectral_check.setToolTip("Off: land cover from the red, green and blue bands alone, as --rgb-only does")
        form.addRow("Infrared bands", self.spectral_check)
        self.db_edit = QLineEdit()
        self.db_edit.setPlaceholderText("the model's default")
        form.addRow("Semantic database", _path_row(self.db_edit, "Semantic database directory", self))
        self.python_edit = QLineEdit()
        self.python_edit.setPlaceholderText("automatic: the Python QGIS runs on")
        self.python_edit.setToolTip("The Python interpreter (with torch installed) that runs the engine process")
        python_row = QWidget(self)
        python_layout = QHBoxLayout(python_row)
        python_layout.setContentsMargins(0, 0, 0, 0)
        python_layout.addWidget(self.python_edit, 1)
        self.setup_button = QPushButton("Set up…")
        self.setup_button.setToolTip("Check a Python for the engine, or create the engine environment")
        self.setup_button.clicked.connect(self.open_engine_setup)
        python_layout.addWidget(self.setup_button)
        form.addRow("Python for the engine", python_row)
        self.oriented_check = QCheckBox("Also add the objects' oriented boxes")
        self.oriented_check.setToolTip("When \"find\" measures objects from the land-cover map, add their minimum "
                                       "rotated rectangles as a second layer")
        form.addRow("Find", self.oriented_check)
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("beside the saved project (earthask_outputs), else the QGIS profile")
        self.output_edit.setToolTip("Where land-cover GeoTIFFs and found objects are written; never the temp folder")
        form.addRow("Output folder", _path_row(self.output_edit, "Output folder", self))
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            lambda: self.set_values(PluginSettings()))
        form.addRow(self.buttons)
        self.set_values(settings)

    def open_engine_setup(self) -> None:
        """The engine set-up dialog; the Python it sets up fills the field (and is saved by the set-up)."""
        from .engine_setup.dialog import EngineSetupDialog

        dialog = EngineSetupDialog(self.values(), self)
        dialog.engineReady.connect(lambda python, _device: self.python_edit.setText(python))
        self.engine_setup = dialog
        dialog.exec()

    def _limit_overlap(self, tile: int) -> None:
        """The overlap may be at most half the tile (core's rule); a larger one is lowered with it."""
        self.overlap_spin.setRange(0, tile // 2)

    def set_values(self, s: PluginSettings) -> None:
        """Show ``s`` (validated) in the widgets."""
        s = s.validated()
        self.model_edit.setText(s.model)
        if self.device_combo.findText(s.device) < 0:  # a device core accepts beyond the list, e.g. cuda:1
            self.device_combo.addItem(s.device)
        self.device_combo.setCurrentText(s.device)
        self.backend_combo.setCurrentText(s.backend)
        self.tile_spin.setValue(s.tile)
        self.overlap_spin.setValue(s.overlap)
        self.db_edit.setText(s.semantic_db)
        self.tokens_spin.setValue(s.max_new_tokens)
        self.spectral_check.setChecked(s.spectral)
        self.python_edit.setText(s.python)
        self.oriented_check.setChecked(s.oriented_boxes)
        self.output_edit.setText(s.output_dir)

    def values(self) -> PluginSettings:
        """The settings shown now (validated)."""
        return PluginSettings(
            model=self.model_edit.text(), device=self.device_combo.currentText(),
            backend=self.backend_combo.currentText(), tile=self.tile_spin.value(),
            overlap=self.overlap_spin.value(), semantic_db=self.db_edit.text(),
            max_new_tokens=self.tokens_spin.value(), spectral=self.spectral_check.isChecked(),
            python=self.python_edit.text(),
            oriented_boxes=self.oriented_check.isChecked(), output_dir=self.output_edit.text(),
        ).validated()

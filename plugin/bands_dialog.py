"""The "Bands of this layer…" dialog: what the engine reads as red, green, blue, and the user's own choice.

It shows the engine's pick from the file (band names, wavelengths, product name or band count) with the note of a
guess, and lets the user pick a sensor or type R,G,B. :meth:`BandsDialog.save` stores the choice on the layer
(:mod:`plugin.layer_bands`) and draws the layer with it.
"""

from __future__ import annotations

from typing import Optional

from qgis.core import QgsRasterLayer
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from core.errors import InputError
from core.imagery import SENSORS

from .layer_bands import LayerBands, choice_text, engine_choice, layer_bands, parse_choice, set_layer_bands
from .true_color import apply_true_color

FROM_FILE = "From the file"


class BandsDialog(QDialog):
    """Choose the red, green and blue bands EarthAsk reads a raster layer with."""

    def __init__(self, layer: QgsRasterLayer, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.layer = layer
        self.setWindowTitle(f"Bands of {layer.name()}")
        layout = QVBoxLayout(self)
        self.guess_label = QLabel()
        self.guess_label.setWordWrap(True)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        layout.addWidget(self.guess_label)
        layout.addWidget(self.note_label)
        form = QFormLayout()
        self.sensor_combo = QComboBox()
        self.bands_edit = QLineEdit()
        self.bands_edit.setPlaceholderText("R,G,B, e.g. 3,2,1; empty for the sensor or the file")
        form.addRow("Sensor", self.sensor_combo)
        form.addRow("Bands", self.bands_edit)
        layout.addLayout(form)
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._fill(layer_bands(layer))
        self.sensor_combo.currentIndexChanged.connect(self.update_preview)
        self.bands_edit.textChanged.connect(self.update_preview)
        self.update_preview()

    def _fill(self, saved: LayerBands) -> None:
        """The engine's pick from the file, the sensors with a stack of this band count, the saved choice."""
        count = self.layer.bandCount()
        try:
            guess = engine_choice(self.layer)
            self.guess_label.setText(f"From the file, EarthAsk reads {choice_text(guess)}.")
            self.note_label.setText(f"Note: {guess.note}." if guess.note else "")
        except InputError as exc:
            self.guess_label.setText(str(exc))
        self.note_label.setVisible(bool(self.note_label.text()))
        self.sensor_combo.addItem(FROM_FILE, "")
        for sensor in SENSORS.values():
            if count in sensor.stacks or sensor.name == saved.sensor:
                self.sensor_combo.addItem(f"{sensor.title} ({sensor.name})", sensor.name)
        self.sensor_combo.setCurrentIndex(max(self.sensor_combo.findData(saved.sensor or ""), 0))
        if saved.bands is not None:
            self.bands_edit.setText(",".join(str(b) for b in saved.bands))

    def choice(self) -> LayerBands:
        """The choice in the dialog now (InputError: bands that are not three numbers from 1)."""
        return parse_choice(self.bands_edit.text(), self.sensor_combo.currentData() or "")

    def update_preview(self, *_: object) -> bool:
        """Say which bands the choice reads, or why it cannot be read; OK only for a readable choice."""
        try:
            choice = self.choice()
            picked = engine_choice(self.layer, choice)
            text, ok = f"EarthAsk will read {choice_text(picked)}.", True
        except InputError as exc:
            text, ok = str(exc).replace("--bands takes", "Bands take"), False
        self.result_label.setText(text)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        return ok

    def save(self) -> LayerBands:
        """Store the choice on the layer and draw the layer with it; returns the choice.

        Raises:
            InputError: a choice the raster cannot have.
        """
        choice = self.choice()
        engine_choice(self.layer, choice)  # raises when the raster cannot have it
        set_layer_bands(self.layer, choice)
        apply_true_color(self.layer, choice.bands, choice.sensor)
        return choice

    def accept(self) -> None:
        """OK: save the choice (a choice the raster cannot have keeps the dialog open with its sentence)."""
        try:
            self.save()
        except InputError as exc:
            self.result_label.setText(str(exc))
            return
        super().accept()

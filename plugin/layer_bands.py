"""A raster layer's own band choice: which bands are red, green, blue, kept as layer custom properties.

The choice is the engine's ``bands`` (1-based red, green, blue) and ``sensor`` (a name of
``core.imagery.SENSORS``); it is stored on the layer as ``earthask/bands`` ("3,2,1") and ``earthask/sensor``
("landsat7"), so a saved project keeps it. Every engine call the plugin makes for the layer passes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from qgis.core import QgsMapLayer, QgsRasterLayer

from core.errors import InputError
from core.imagery import BandChoice, choose_bands, parse_bands, sensor_named
from core.imagery.detect import bands_text

from .true_color import apply_true_color, layer_rgb_bands, raster_facts

BANDS_KEY = "earthask/bands"
SENSOR_KEY = "earthask/sensor"
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class LayerBands:
    """The user's band choice for a raster: explicit bands, a sensor, or neither (the file decides)."""

    bands: Optional[RGB] = None
    sensor: Optional[str] = None

    @property
    def is_set(self) -> bool:
        """True when the user chose bands or a sensor."""
        return self.bands is not None or bool(self.sensor)

    def engine_kwargs(self) -> dict[str, Any]:
        """``{"bands": [r, g, b], "sensor": name}`` with only what is set (picklable: it goes to the engine)."""
        kwargs: dict[str, Any] = {}
        if self.bands is not None:
            kwargs["bands"] = list(self.bands)
        if self.sensor:
            kwargs["sensor"] = self.sensor
        return kwargs

    def text(self) -> str:
        """``"bands 3,2,1"``, ``"sensor landsat7"`` or ``""``."""
        if self.bands is not None:
            return "bands " + ",".join(str(b) for b in self.bands)
        return f"sensor {self.sensor}" if self.sensor else ""


def parse_choice(bands_text: str = "", sensor: str = "") -> LayerBands:
    """A choice from typed text: ``"3,2,1"`` and/or a sensor name ("" for none).

    Raises:
        InputError: bands that are not three numbers from 1, or an unknown sensor (one sentence each).
    """
    bands = parse_bands(bands_text) if (bands_text or "").strip() else None
    name = (sensor or "").strip()
    if name:
        try:
            name = sensor_named(name).name
        except ValueError as exc:
            raise InputError(str(exc)) from None
    return LayerBands(bands, name or None)


def layer_bands(layer: Optional[QgsMapLayer]) -> LayerBands:
    """The choice stored on ``layer``; an empty choice for no layer or none stored (an unreadable value is
    ignored, as if none were stored)."""
    if layer is None:
        return LayerBands()
    bands_text = str(layer.customProperty(BANDS_KEY, "") or "")
    sensor = str(layer.customProperty(SENSOR_KEY, "") or "")
    try:
        return parse_choice(bands_text, sensor)
    except InputError:
        try:
            return parse_choice("", sensor)
        except InputError:
            return LayerBands()


def set_layer_bands(layer: QgsMapLayer, choice: LayerBands) -> None:
    """Store ``choice`` on ``layer`` (an empty choice removes the properties)."""
    if choice.bands is not None:
        layer.setCustomProperty(BANDS_KEY, ",".join(str(b) for b in choice.bands))
    else:
        layer.removeCustomProperty(BANDS_KEY)
    if choice.sensor:
        layer.setCustomProperty(SENSOR_KEY, choice.sensor)
    else:
        layer.removeCustomProperty(SENSOR_KEY)


def engine_choice(layer: QgsRasterLayer, choice: Optional[LayerBands] = None) -> BandChoice:
    """What the engine reads ``layer`` with under ``choice`` (``core.imagery.choose_bands`` on the layer's band
    descriptions, wavelengths and file name).

    Raises:
        InputError: bands the raster does not have, or a sensor without a stack of its band count.
    """
    choice = choice or LayerBands()
    descriptions, wavelengths, name = raster_facts(layer)
    return choose_bands(layer.bandCount(), descriptions, wavelengths, name, choice.bands, choice.sensor)


def choice_text(choice: BandChoice) -> str:
    """``"red 3, green 2, blue 1 (landsat7, from band count)"``."""
    return bands_text(choice.rgb, choice.profile, choice.source)


def engine_rgb(layer: Any) -> Optional[RGB]:
    """The bands the engine reads ``layer`` with under its own choice; None for no band composite, or a stored
    choice the raster cannot have."""
    choice = layer_bands(layer) if isinstance(layer, QgsMapLayer) else LayerBands()
    try:
        return layer_rgb_bands(layer, choice.bands, choice.sensor)
    except InputError:
        return None


def show_layer_true_color(layer: Any) -> bool:
    """Draw ``layer`` with the bands the engine reads under the layer's own choice (see
    :func:`plugin.true_color.apply_true_color`); InputError when the raster cannot have that choice."""
    choice = layer_bands(layer) if isinstance(layer, QgsMapLayer) else LayerBands()
    return apply_true_color(layer, choice.bands, choice.sensor)

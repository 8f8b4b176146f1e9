"""The message-bar offer to draw a raster in true colour, when QGIS shows other bands than the engine reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qgis.core import Qgis, QgsRasterLayer
from qgis.PyQt.QtWidgets import QPushButton

from .layer_bands import engine_rgb
from .true_color import shown_bands

OFFER_SECONDS = 15


def offer_true_color(bar: Any, layer: QgsRasterLayer, accept: Callable[[], Any]) -> bool:
    """Push "<layer> is drawn with bands 1, 2, 3 …; EarthAsk reads bands 3, 2, 1" with a "Show as true colour"
    button calling ``accept`` (the message goes away after the click). False, and nothing pushed, when QGIS already
    shows the engine's bands or the layer is no band composite. The engine's bands follow the layer's own choice
    (:mod:`plugin.layer_bands`)."""
    bands, shown = engine_rgb(layer), shown_bands(layer)
    if bands is None or shown is None or shown == bands:
        return False
    item = bar.createMessage("EarthAsk", f"{layer.name()} is drawn with bands {shown[0]}, {shown[1]}, {shown[2]} "
                             f"as red, green, blue; EarthAsk reads bands {bands[0]}, {bands[1]}, {bands[2]}.")
    button = QPushButton("Show as true colour", item)

    def clicked() -> None:
        accept()
        try:
            bar.popWidget(item)
        except RuntimeError:  # the message already went away on its own
            pass

    button.clicked.connect(clicked)
    item.layout().addWidget(button)
    bar.pushWidget(item, Qgis.MessageLevel.Info, OFFER_SECONDS)
    return True

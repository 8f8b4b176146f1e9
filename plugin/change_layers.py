"""Change layers styled from-to: the change mask as a paletted raster, the change polygons by from -> to pair."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsPalettedRasterRenderer,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

from .conversation import format_area
from .layers import class_color

UNCHANGED_COLOUR, NOISE_COLOUR = QColor(235, 235, 235, 0), QColor(170, 170, 170)
FROM_TO = "\"from_class\" || ' -> ' || \"to_class\""  # the polygons' category expression


def mask_classes(result: Any) -> list[tuple[int, str, QColor]]:
    """(mask value, legend label, colour) of a ChangeResult's change mask: each reported pair with its area,
    coloured as its second-date class, then the noise value."""
    from core.change.mask import NOISE, pair_code

    k = len(result.classes)
    items = []
    for t in result.reported():
        i, j = result.classes.index(t.from_class), result.classes.index(t.to_class)
        items.append((pair_code(i, j, k), f"{t.from_class} -> {t.to_class} ({format_area(t.area_m2)})",
                      class_color(t.to_class)))
    items.append((NOISE, "change within the noise floor (not reported)", NOISE_COLOUR))
    return items


def style_change_mask(layer: QgsRasterLayer, result: Any) -> None:
    """Paletted from-to style: reported pairs in their new class's colour, unchanged ground transparent."""
    items = [QgsPalettedRasterRenderer.Class(0, UNCHANGED_COLOUR, "no change")]
    items += [QgsPalettedRasterRenderer.Class(v, colour, label) for v, label, colour in mask_classes(result)]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, items))
    layer.triggerRepaint()


def style_change_polygons(layer: QgsVectorLayer, result: Any) -> None:
    """Categorised by from -> to, each category filled with its second-date class colour and outlined with its
    first-date class colour; labels carry the pair's area."""
    categories = []
    for t in result.reported():
        fill = class_color(t.to_class)
        symbol = QgsFillSymbol.createSimple({"color": fill.name(), "outline_color": class_color(t.from_class).name(),
                                             "outline_width": "0.6"})
        value = f"{t.from_class} -> {t.to_class}"
        categories.append(QgsRendererCategory(value, symbol, f"{value} ({format_area(t.area_m2)})"))
    layer.setRenderer(QgsCategorizedSymbolRenderer(FROM_TO, categories))
    layer.setOpacity(0.8)
    layer.triggerRepaint()

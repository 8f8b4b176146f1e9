"""True colour: a raster is drawn with the bands the engine reads as red, green, blue, stretched as the engine does.

The plugin reads band descriptions, wavelengths and the file name through GDAL (core.raster reads them with
rasterio, which plain QGIS lacks) and hands them to the engine's own rule; these tests check that both pick the same
bands, on the demo scene and on rasters of every band count, naming, wavelength and product name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from plugin_helpers import show_layer
from qgis.core import (
    QgsContrastEnhancement,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsMultiBandColorRenderer,
    QgsProject,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

import core.raster as core_raster
from plugin import true_color
from plugin.layers import add_to_project
from plugin.true_color import apply_true_color, layer_rgb_bands, shown_bands

pytestmark = pytest.mark.qgis
DEMO = str(Path(__file__).resolve().parents[2] / "resources" / "demo" / "sentinel2_demo.tif")


def _engine_bands(path: str) -> tuple[int, int, int]:
    return tuple(core_raster.detect_profile(core_raster.open_raster(path)).rgb_bands)


def _raster(path: Path, count: int, descriptions: list[str] | None = None, dtype: str = "uint16",
            wavelengths: list[str] | None = None) -> str:
    rng = np.random.default_rng(count)
    profile = {"driver": "GTiff", "width": 16, "height": 12, "count": count, "dtype": dtype, "crs": "EPSG:32618",
               "transform": rasterio.transform.from_origin(440000, 4170000, 10, 10)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(rng.integers(1, 250, (count, 12, 16)).astype(dtype))
        for i, text in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, text)
        for i, value in enumerate(wavelengths or [], start=1):
            dst.update_tags(i, WAVELENGTH=value, WAVELENGTH_UNITS="nanometers")
    return str(path)


def test_demo_scene_bands_agree_with_the_engine() -> None:
    layer = QgsRasterLayer(DEMO, "demo")
    assert layer.isValid()
    assert layer_rgb_bands(layer) == _engine_bands(DEMO) == (3, 2, 1)  # stored B2, B3, B4, B8
    assert shown_bands(layer) == (1, 2, 3)  # what QGIS shows by default: false colour


@pytest.mark.parametrize(("name", "count", "descriptions", "wavelengths"), [
    ("scene.tif", 1, None, None), ("scene.tif", 3, None, None), ("scene.tif", 4, None, None),
    ("scene.tif", 5, None, None), ("scene.tif", 6, None, None), ("scene.tif", 7, None, None),
    ("scene.tif", 8, None, None), ("scene.tif", 11, None, None), ("scene.tif", 12, None, None),
    ("scene.tif", 13, None, None),
    ("scene.tif", 4, ["B2 (blue)", "B3 (green)", "B4 (red)", "B8 (NIR)"], None),
    ("scene.tif", 3, ["Blue", "Green", "Red"], None),
    ("scene.tif", 4, ["nir", "red", "green", "blue"], None),
    ("scene.tif", 6, ["", "b04", "b03", "b02", "", ""], None),
    ("scene.tif", 4, ["red", "green", "", ""], None),  # two colours named: other clues decide
    ("scene.tif", 5, None, ["842", "665", "560", "490", "1610"]),  # band wavelengths in the metadata
    ("LE07_L2SP_014034_20000101_scene.tif", 7, None, None),  # a Landsat 7 product name (7 bands alone: Landsat 8)
])
def test_every_band_layout_agrees_with_the_engine(tmp_path, name: str, count: int, descriptions,
                                                  wavelengths) -> None:
    path = _raster(tmp_path / name, count, descriptions, wavelengths=wavelengths)
    layer = QgsRasterLayer(path, "scene")
    descriptions, read_wavelengths, source = true_color.raster_facts(layer)
    assert true_color.rgb_bands(descriptions, count, read_wavelengths, source) == _engine_bands(path)
    if wavelengths or name.startswith("LE07_"):  # cases where the band count alone would pick other bands
        assert _engine_bands(path) == {5: (2, 3, 4), 7: (3, 2, 1)}[count]
    if count >= 3:
        assert layer_rgb_bands(layer) == _engine_bands(path)
    else:
        assert layer_rgb_bands(layer) is None  # one band: nothing to compose


def _mean_rgb(layer: QgsRasterLayer, columns: slice) -> tuple[float, float, float]:
    """Mean red, green, blue of the rendered layer over some of its columns (64 x 64 px image)."""
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(layer.extent())
    settings.setOutputSize(QSize(64, 64))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    pixels = [QColor(image.pixel(x, y)) for x in range(64)[columns] for y in range(64)]
    return tuple(float(np.mean([getattr(p, c)() for p in pixels])) for c in ("red", "green", "blue"))


def test_true_colour_draws_the_ocean_blue_where_qgis_draws_it_brown() -> None:
    layer = QgsRasterLayer(DEMO, "demo")
    east = slice(58, 64)  # the Atlantic, at the east edge of the scene
    red, _, blue = _mean_rgb(layer, east)
    assert red > blue  # QGIS's default, bands 1, 2, 3: the blue band drawn as red
    assert apply_true_color(layer)
    renderer = layer.renderer()
    assert isinstance(renderer, QgsMultiBandColorRenderer)
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (3, 2, 1)
    red, _, blue = _mean_rgb(layer, east)
    assert blue > red  # water looks like water


def test_the_stretch_is_the_engines_two_to_ninety_eight_percent() -> None:
    layer = QgsRasterLayer(DEMO, "demo")
    apply_true_color(layer)
    renderer = layer.renderer()
    profile = core_raster.scene_profile(DEMO)
    for enhancement, low, high in zip((renderer.redContrastEnhancement(), renderer.greenContrastEnhancement(),
                                       renderer.blueContrastEnhancement()), profile.low, profile.high):
        assert enhancement.contrastEnhancementAlgorithm() == \
            QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum
        assert enhancement.minimumValue() == pytest.approx(low, abs=2)
        assert enhancement.maximumValue() == pytest.approx(high, abs=2)


def test_eight_bit_bands_are_shown_as_they_are_and_one_band_is_left_alone(tmp_path) -> None:
    layer = QgsRasterLayer(_raster(tmp_path / "bgr.tif", 3, ["blue", "green", "red"], dtype="uint8"), "bgr")
    assert apply_true_color(layer)
    renderer = layer.renderer()
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (3, 2, 1)
    assert renderer.redContrastEnhancement() is None  # value / 255, as the engine reads 8-bit bands
    grey = QgsRasterLayer(_raster(tmp_path / "grey.tif", 1), "grey")
    before = grey.renderer().type()
    assert not apply_true_color(grey) and grey.renderer().type() == before


def test_layers_the_plugin_adds_are_drawn_in_true_colour() -> None:
    layer = QgsRasterLayer(DEMO, "demo")
    add_to_project(layer)
    assert QgsProject.instance().mapLayer(layer.id()) is layer
    assert shown_bands(layer) == (3, 2, 1)


def test_show_as_true_colour_acts_on_the_active_raster(plugin, iface) -> None:
    layer = QgsRasterLayer(DEMO, "demo")
    QgsProject.instance().addMapLayer(layer)
    show_layer(iface, layer)
    [action] = [a for a in iface.menus["&EarthAsk"].actions() if a.text() == "Show as true colour"]
    action.trigger()
    assert shown_bands(layer) == (3, 2, 1)
    assert any("red = band 3, green = band 2, blue = band 1" in m for m in iface.messages())


def test_a_raster_in_false_colour_is_offered_the_true_colour_once(plugin, iface) -> None:
    from qgis.PyQt.QtWidgets import QPushButton

    layer = QgsRasterLayer(DEMO, "demo")
    QgsProject.instance().addMapLayer(layer)
    plugin.controller._offer_true_color(layer)
    plugin.controller._offer_true_color(layer)  # once per layer
    offers = [item for item in iface.bar.items() if "EarthAsk reads bands 3, 2, 1" in item.text()]
    assert len(offers) == 1
    [button] = [b for b in offers[0].findChildren(QPushButton) if b.text() == "Show as true colour"]
    button.click()
    assert shown_bands(layer) == (3, 2, 1)

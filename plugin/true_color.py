"""Show a raster as the engine sees it: its red, green and blue bands, stretched from 2% to 98% as the engine does.

QGIS shows a multi-band raster as bands 1, 2, 3; a Sentinel-2 scene stored as B2, B3, B4 then shows water brown.
The engine picks its bands with ``core.imagery.choose_bands`` (pure Python, so QGIS imports it as it is) from what
``core.raster.open_raster`` reads with rasterio: band descriptions, band wavelengths and the file name. Plain QGIS
has no rasterio, so :func:`raster_facts` reads the same metadata through GDAL's own Python bindings (osgeo), which
every QGIS ships; tests/plugin/test_plugin_true_color.py checks that both pick the same bands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from qgis.core import (
    Qgis,
    QgsContrastEnhancement,
    QgsMultiBandColorRenderer,
    QgsRasterLayer,
    QgsRasterMinMaxOrigin,
    QgsRectangle,
)

from core.imagery import choose_bands
from core.imagery.detect import wavelengths_from_metadata

RGB = tuple[int, int, int]
PERCENTILES = (2.0, 98.0)  # the engine's scene stretch (core.raster.BandProfile.percentiles)
STRETCH_SAMPLE = 1024 * 1024  # pixels read for the stretch: the engine reads an overview of 1024 px at most


def _gdal_wavelengths(dataset: Any) -> list[Optional[float]]:
    """Band centre wavelengths in µm, read by the engine's rule (``core.imagery.detect.wavelengths_from_metadata``)
    from GDAL's band metadata and ENVI header."""
    band_tags = [dataset.GetRasterBand(i).GetMetadata() or {} for i in range(1, dataset.RasterCount + 1)]
    return wavelengths_from_metadata(band_tags, dataset.GetMetadata("ENVI") or {})


def band_descriptions(layer: QgsRasterLayer) -> list[str]:
    """The description of each band ("" when unset), as QGIS's data provider reports it."""
    provider = layer.dataProvider()
    describe = getattr(provider, "bandDescription", None)  # QGIS >= 3.38; before, the band names carry them
    return [describe(i) if describe else layer.bandName(i) for i in range(1, layer.bandCount() + 1)]


def raster_facts(layer: QgsRasterLayer) -> tuple[list[str], list[Optional[float]], str]:
    """What the engine picks bands from: band descriptions, band wavelengths (µm) and the source's name."""
    descriptions, wavelengths = band_descriptions(layer), []
    if layer.providerType() == "gdal":
        try:
            from osgeo import gdal

            dataset = gdal.Open(layer.source())
        except (ImportError, RuntimeError):
            dataset = None
        if dataset is not None:
            descriptions = [dataset.GetRasterBand(i).GetDescription() or "" for i in range(1, dataset.RasterCount + 1)]
            wavelengths = _gdal_wavelengths(dataset)
    return descriptions, wavelengths, layer.source()


def rgb_bands(descriptions: Sequence[str], count: int, wavelengths: Sequence[Optional[float]] = (),
              filename: str = "", bands: Optional[Sequence[int]] = None, sensor: Optional[str] = None) -> RGB:
    """The bands the engine reads as red, green, blue (``core.imagery.choose_bands``; InputError on a bad
    ``bands`` or ``sensor`` override)."""
    return choose_bands(count, descriptions, wavelengths, filename, bands, sensor).rgb


def layer_rgb_bands(layer: Any, bands: Optional[Sequence[int]] = None, sensor: Optional[str] = None
                    ) -> Optional[RGB]:
    """The engine's red, green, blue bands of a raster layer; None when it is not a raster of three bands or more.

    ``bands`` / ``sensor``: the user's override, as the engine takes it.
    """
    if not isinstance(layer, QgsRasterLayer) or not layer.isValid() or layer.bandCount() < 3:
        return None
    descriptions, wavelengths, name = raster_facts(layer)
    return rgb_bands(descriptions, layer.bandCount(), wavelengths, name, bands, sensor)


def shown_bands(layer: QgsRasterLayer) -> Optional[tuple[int, int, int]]:
    """The bands QGIS shows as red, green, blue now; None when the layer is not drawn as a band composite."""
    renderer = layer.renderer()
    if not isinstance(renderer, QgsMultiBandColorRenderer):
        return None
    return renderer.redBand(), renderer.greenBand(), renderer.blueBand()


def _stretch(layer: QgsRasterLayer, band: int) -> QgsContrastEnhancement:
    provider = layer.dataProvider()
    low, high = provider.cumulativeCut(band, PERCENTILES[0] / 100.0, PERCENTILES[1] / 100.0, QgsRectangle(),
                                       STRETCH_SAMPLE)
    enhancement = QgsContrastEnhancement(provider.dataType(band))
    enhancement.setContrastEnhancementAlgorithm(QgsContrastEnhancement.ContrastEnhancementAlgorithm
                                                .StretchToMinimumMaximum, True)
    enhancement.setMinimumValue(low)
    enhancement.setMaximumValue(high if high > low else low + 1.0)
    return enhancement


def apply_true_color(layer: Any, bands: Optional[Sequence[int]] = None, sensor: Optional[str] = None) -> bool:
    """Draw ``layer`` with the engine's red, green and blue bands; False (layer unchanged) when it has fewer than
    three bands.

    8-bit bands are shown as they are (the engine divides them by 255); others are stretched between their 2nd
    and 98th percentiles, as the engine stretches them. ``bands`` / ``sensor``: the user's override, as the
    engine takes it (InputError when the raster cannot have it).
    """
    bands = layer_rgb_bands(layer, bands, sensor)
    if bands is None:
        return False
    provider = layer.dataProvider()
    renderer = QgsMultiBandColorRenderer(provider, *bands)
    if any(provider.dataType(b) != Qgis.DataType.Byte for b in bands):
        renderer.setRedContrastEnhancement(_stretch(layer, bands[0]))
        renderer.setGreenContrastEnhancement(_stretch(layer, bands[1]))
        renderer.setBlueContrastEnhancement(_stretch(layer, bands[2]))
        origin = QgsRasterMinMaxOrigin()
        origin.setLimits(QgsRasterMinMaxOrigin.Limits.CumulativeCut)
        origin.setCumulativeCutLower(PERCENTILES[0] / 100.0)
        origin.setCumulativeCutUpper(PERCENTILES[1] / 100.0)
        renderer.setMinMaxOrigin(origin)
    layer.setRenderer(renderer)
    layer.triggerRepaint()
    return True

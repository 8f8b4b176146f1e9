"""Finding a raster's NIR and SWIR bands, and how its values become reflectance (core.imagery.spectral)."""

from __future__ import annotations

import math

import pytest

from core.imagery import choose_bands
from core.imagery.spectral import SPECTRAL, radiometry, spectral_bands


def _find(count: int, descriptions=(), wavelengths=(), filename: str = "", sensor=None, bands=None,
          dtype: str = "uint16"):
    choice = choose_bands(count, descriptions, wavelengths, filename, bands, sensor)
    return spectral_bands(count, choice.rgb, choice.profile, choice.source, descriptions, wavelengths, dtype,
                          filename)


@pytest.mark.parametrize(("sensor", "count", "expected"), [
    ("sentinel2", 13, (2, 3, 4, 8, 12, 13)),
    ("sentinel2", 12, (2, 3, 4, 8, 11, 12)),
    ("sentinel2", 4, (1, 2, 3, 4, 0, 0)),
    ("landsat7", 6, (1, 2, 3, 4, 5, 6)),
    ("landsat5", 7, (1, 2, 3, 4, 5, 7)),
    ("landsat8", 11, (2, 3, 4, 5, 6, 7)),
    ("naip", 4, (3, 2, 1, 4, 0, 0)),
    ("planetscope", 8, (2, 4, 6, 8, 0, 0)),
])
def test_a_sensor_stack_names_its_infrared_bands(sensor: str, count: int, expected: tuple) -> None:
    found = _find(count, sensor=sensor)
    assert found is not None and found.bands == expected and found.source == "sensor"
    assert found.present == (True, expected[4] > 0)


def test_descriptions_and_wavelengths_name_the_bands_in_any_order() -> None:
    described = _find(6, descriptions=["swir22", "nir", "red", "green", "blue", "swir16"])
    assert described is not None and described.bands == (5, 4, 3, 2, 6, 1) and described.source == "descriptions"
    assert described.present == (True, True)
    centres = [0.49, 0.56, 0.665, 0.842, 1.61, 2.19]
    by_wavelength = _find(6, wavelengths=centres)
    assert by_wavelength is not None and by_wavelength.bands == (1, 2, 3, 4, 5, 6)
    assert by_wavelength.source == "wavelengths"


def test_the_demo_descriptions_give_nir_and_no_swir() -> None:
    found = _find(4, descriptions=["B2 (blue, 490 nm)", "B3 (green, 560 nm)", "B4 (red, 665 nm)", "B8 (NIR, 842 nm)"])
    assert found is not None and found.bands == (1, 2, 3, 4, 0, 0) and found.present == (True, False)
    assert "NIR 4, no SWIR" in found.text()


@pytest.mark.parametrize("kwargs", [
    {"count": 3},  # plain RGB
    {"count": 1},  # grey
    {"count": 5, "bands": (1, 2, 3)},  # the user chose RGB, the file names nothing: no guess at NIR
    {"count": 6, "descriptions": ["blue", "green", "red", "nir", "swir16", "x"]},  # one SWIR: used as none
])
def test_no_nir_or_only_a_guess_means_no_multispectral_path(kwargs: dict) -> None:
    found = _find(**kwargs)
    assert found is None or found.present == (True, False)
    if "descriptions" in kwargs:
        assert found is not None and found.bands[4:] == (0, 0)


def test_radiometry_by_type_and_sensor() -> None:
    assert radiometry("uint16", "sentinel2").apply(2500) == pytest.approx(0.25)
    l1 = radiometry("uint16", "landsat8", "LC08_L1TP_016033_stack.tif")
    assert l1.apply(10000) == pytest.approx((0.2 - 0.1) / math.sin(math.radians(45)))
    l2 = radiometry("uint16", "landsat8", "LC08_L2SP_016033_stack.tif")
    assert l2.apply(10000) == pytest.approx(10000 * 2.75e-5 - 0.2) and "surface reflectance" in l2.text
    assert radiometry("float32", "naip").apply(0.3) == pytest.approx(0.3)
    assert "approximation" in radiometry("uint8", "naip").text
    assert len(SPECTRAL) == 6

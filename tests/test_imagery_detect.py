"""Which bands are red, green and blue: the user's choice, descriptions, wavelengths, file names, band count."""

from __future__ import annotations

from pathlib import Path

import pytest
import rasterio

from core.errors import InputError
from core.imagery import choose_bands, parse_bands, sensor_named
from core.imagery.detect import wavelength_um
from core.raster import detect_profile, open_raster
from tests.rasters import make_raster


@pytest.mark.parametrize(
    ("sensor", "count", "rgb"),
    [("landsat7", 6, (3, 2, 1)), ("landsat5", 7, (3, 2, 1)), ("landsat8", 7, (4, 3, 2)), ("landsat9", 11, (4, 3, 2)),
     ("sentinel2", 13, (4, 3, 2)), ("sentinel2", 12, (4, 3, 2)), ("planetscope", 4, (3, 2, 1)),
     ("planetscope", 8, (6, 4, 2)), ("worldview", 8, (5, 3, 2)), ("naip", 4, (1, 2, 3)), ("bgr", 3, (3, 2, 1)),
     ("grey", 1, (1, 1, 1))],
)
def test_a_named_sensor_picks_its_stack_s_bands(sensor: str, count: int, rgb: tuple) -> None:
    choice = choose_bands(count, sensor=sensor)
    assert choice.rgb == rgb and choice.source == "sensor" and choice.note == ""
    assert choice.profile == sensor_named(sensor).name


def test_the_user_s_bands_come_first_and_must_exist() -> None:
    assert choose_bands(6, ["Red", "Green", "Blue", "", "", ""], bands=(3, 2, 1), sensor="naip").rgb == (3, 2, 1)
    assert parse_bands(" 3, 2,1") == (3, 2, 1)
    for bad in ("3,2", "0,1,2", "a,b,c", "3,2,1,4"):
        with pytest.raises(InputError, match="--bands"):
            parse_bands(bad)
    with pytest.raises(InputError, match="has 6 bands"):
        choose_bands(6, bands=(7, 2, 1))
    with pytest.raises(InputError, match="Landsat 7 ETM\\+ comes as 6 .* bands, but this raster has 4"):
        choose_bands(4, sensor="landsat7")


def test_descriptions_then_wavelengths_then_file_name_then_count() -> None:
    described = choose_bands(6, ["b1", "Blue", "Green", "Red", "NIR", "SWIR"], [0.48, 0.56, 0.66, 0.84, 1.6, 2.2],
                             "LE07_L2SP_x.tif")
    assert (described.rgb, described.source) == ((4, 3, 2), "descriptions")
    measured = choose_bands(6, ["", "", "", "", "", ""], [0.44, 0.48, 0.56, 0.66, 0.86, 1.6], "LE07_x.tif")
    assert (measured.rgb, measured.source) == ((4, 3, 2), "wavelengths")
    named = choose_bands(6, [""] * 6, [], "/data/LE07_L2SP_232067_20010801_20200917_02_T1_stack.tif")
    assert (named.rgb, named.profile, named.source, named.note) == ((3, 2, 1), "landsat7", "file name", "")
    assert choose_bands(7, filename="LC08_L2SP_044034_20200708.TIF").rgb == (4, 3, 2)
    assert choose_bands(7, filename="LT05_L1TP_044034_19900708.TIF").rgb == (3, 2, 1)
    assert choose_bands(13, filename="S2B_MSIL1C_20230601T105619.tif").profile == "sentinel2"
    assert choose_bands(1, filename="LE07_B3.TIF").source == "band count"  # no 1-band Landsat stack: grey


@pytest.mark.parametrize(("count", "rgb", "override"), [(4, (1, 2, 3), "--sensor planetscope"),
                                                          (6, (3, 2, 1), "--bands"), (7, (4, 3, 2), "landsat7"),
                                                          (8, (5, 3, 2), "planetscope"), (5, (1, 2, 3), "--bands"),
                                                          (2, (1, 1, 1), "--bands")])
def test_an_ambiguous_band_count_says_which_guess_and_how_to_override(count: int, rgb: tuple, override: str) -> None:
    choice = choose_bands(count)
    assert choice.rgb == rgb and choice.source == "band count" and override in choice.note
    assert choose_bands(13).note == "" and choose_bands(3).note == ""  # counts only one sensor has


def test_wavelength_metadata_in_nm_or_um() -> None:
    assert wavelength_um("665") == pytest.approx(0.665) and wavelength_um("0.665") == pytest.approx(0.665)
    assert wavelength_um("665.0 nm") == pytest.approx(0.665) and wavelength_um("0.66", "Micrometers") == 0.66
    assert wavelength_um("n/a") is None


def test_a_raster_s_wavelength_tags_and_file_name_are_read(tmp_path: Path) -> None:
    path = make_raster(tmp_path / "stack.tif", 16, 16, 6, "uint16")
    with rasterio.open(path, "r+") as ds:
        for i, nm in enumerate((443, 482, 561, 655, 865, 1609), start=1):
            ds.update_tags(i, WAVELENGTH=str(nm), WAVELENGTH_UNITS="nm")
    info = open_raster(path)
    assert info.wavelengths == pytest.approx([0.443, 0.482, 0.561, 0.655, 0.865, 1.609])
    profile = detect_profile(info)
    assert (profile.rgb_bands, profile.detected_from, profile.note) == ((4, 3, 2), "wavelengths", "")
    etm = make_raster(tmp_path / "LE07_L2SP_232067_20010801_stack.tif", 16, 16, 6, "uint16")
    assert detect_profile(open_raster(etm)).rgb_bands == (3, 2, 1)


def test_wavelengths_from_band_tags_or_an_envi_header() -> None:
    from core.imagery.detect import wavelengths_from_metadata

    tagged = [{"WAVELENGTH": "490", "wavelength_units": "nm"}, {}, {"Wavelength": "0.665"}]
    assert wavelengths_from_metadata(tagged, {"wavelength": "{1, 2, 3}"}) == pytest.approx([0.49, None, 0.665])
    envi = {"wavelength": "{ 482.0, 561.0, 655.0 }", "wavelength_units": "Nanometers"}
    assert wavelengths_from_metadata([{}, {}, {}], envi) == pytest.approx([0.482, 0.561, 0.655])
    assert wavelengths_from_metadata([{}, {}], envi) == []  # a header for another band count says nothing
    assert wavelengths_from_metadata([{}, {}, {}], {}) == []

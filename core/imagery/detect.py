"""Choose a raster's red, green and blue bands: the user's choice, then what the file says, then a stated guess.

Order: ``bands`` (``--bands R,G,B``), ``sensor`` (``--sensor NAME``), band descriptions naming colours, band
wavelengths (GDAL or ENVI metadata), a product name in the file name (``LC08_``, ``LE07_``, ``LT05_``,
``S2A_MSIL1C``...), then the band count. Where the band count fits more than one sensor, the choice carries a
note that says which guess was made and how to override it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

from core.errors import InputError
from core.imagery.sensors import RGB, SENSORS, sensor_named

# Words in a band description that name a colour (Sentinel-2 and Landsat 8/9 numbering for B2, B3, B4).
COLOUR_WORDS = {"red": {"red", "r", "b4", "b04"}, "green": {"green", "g", "b3", "b03"},
                "blue": {"blue", "b", "b2", "b02"}}
CENTRES_UM = {"red": 0.655, "green": 0.560, "blue": 0.485}  # band centres, micrometres
TOLERANCE_UM = 0.05
PRODUCTS = [  # file-name product codes -> sensor
    (re.compile(r"(?:^|[^A-Z0-9])L[COT]0[89]_"), "landsat8"),
    (re.compile(r"(?:^|[^A-Z0-9])LE07_"), "landsat7"),
    (re.compile(r"(?:^|[^A-Z0-9])LT0[45]_"), "landsat5"),
    (re.compile(r"(?:^|[^A-Z0-9])S2[A-D]_MSIL(?:1C|2A)"), "sentinel2"),
]
# band count -> (sensor, note when the count fits other sensors too)
_BY_COUNT: dict[int, tuple[str, str]] = {
    1: ("grey", ""),
    3: ("rgb", ""),
    4: ("naip", "4 bands with no band names: read as red, green, blue, NIR; for blue, green, red, NIR (PlanetScope, "
                "WorldView, Sentinel-2 10 m stacks) pass --sensor planetscope or --bands 3,2,1"),
    6: ("landsat7", "6 bands with no band names: read as a Landsat TM/ETM+ stack (bands 1,2,3,4,5,7: red is band 3); "
                    "otherwise pass --sensor or --bands R,G,B"),
    7: ("landsat8", "7 bands with no band names: read as Landsat 8/9 bands 1-7 (red is band 4); for Landsat 4/5/7 "
                    "pass --sensor landsat7, otherwise --bands R,G,B"),
    8: ("worldview", "8 bands with no band names: read as WorldView-2/3 (red is band 5); for PlanetScope pass "
                     "--sensor planetscope, otherwise --bands R,G,B"),
    11: ("landsat8", ""),
    12: ("sentinel2", ""),
    13: ("sentinel2", ""),
}


@dataclass(frozen=True)
class BandChoice:
    """The bands a raster is read with, and why."""

    rgb: RGB  # 1-based bands shown as red, green, blue
    profile: str  # sensor name; "custom" (--bands), "described" (descriptions, wavelengths), "first3" or "grey"
    source: str  # "override", "sensor", "descriptions", "wavelengths", "file name" or "band count"
    note: str = ""  # the guess made, and how to override it ("" when the file or the user said)


def parse_bands(text: str) -> RGB:
    """``"3,2,1"`` (1-based red, green, blue) -> (3, 2, 1).

    Raises:
        InputError: not three whole numbers from 1.
    """
    parts = [p.strip() for p in str(text).replace(" ", ",").split(",") if p.strip()]
    if len(parts) != 3 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise InputError(f"--bands takes three band numbers from 1, red,green,blue (e.g. 3,2,1); got '{text}'.")
    return int(parts[0]), int(parts[1]), int(parts[2])


def choose_bands(count: int, descriptions: Sequence[str] = (), wavelengths: Sequence[Optional[float]] = (),
                 filename: str = "", bands: Optional[Sequence[int]] = None,
                 sensor: Optional[str] = None) -> BandChoice:
    """The red, green and blue bands of a ``count``-band raster (see the module docstring for the order).

    Args:
        wavelengths: centre wavelength of each band in micrometres (None where unknown).

    Raises:
        InputError: bands the raster does not have, an unknown sensor, or a sensor without a stack of ``count``
            bands.
    """
    if bands is not None:
        rgb = tuple(int(b) for b in bands)
        if len(rgb) != 3:
            raise InputError(f"--bands takes three band numbers (red, green, blue), got {list(bands)}.")
        return _checked(BandChoice(rgb, "custom", "override"), count)  # type: ignore[arg-type]
    if sensor:
        try:
            known = sensor_named(sensor)
        except ValueError as e:
            raise InputError(str(e)) from None
        if count not in known.stacks:
            stacks = ", ".join(f"{n} ({what})" for n, (_, what) in sorted(known.stacks.items()))
            raise InputError(f"{known.title} comes as {stacks} bands, but this raster has {count}; pass --bands "
                             "R,G,B instead.")
        return BandChoice(known.rgb(count), known.name, "sensor")
    found = _from_descriptions(descriptions)
    if found is not None:
        return _checked(BandChoice(found, "described", "descriptions"), count)
    found = _from_wavelengths(wavelengths)
    if found is not None:
        return _checked(BandChoice(found, "described", "wavelengths"), count)
    product = _from_file_name(filename)
    if product is not None and count in SENSORS[product].stacks:
        return BandChoice(SENSORS[product].rgb(count), product, "file name")
    name, note = _by_count(count)
    known = SENSORS.get(name)
    rgb = known.rgb(count) if known and count in known.stacks else ((1, 2, 3) if count >= 3 else (1, 1, 1))
    return BandChoice(rgb, name, "band count", note)


def _by_count(count: int) -> tuple[str, str]:
    if count in _BY_COUNT:
        return _BY_COUNT[count]
    if count >= 3:
        return "first3", (f"{count} bands with no band names: bands 1,2,3 are read as red, green, blue; pass --sensor "
                          "or --bands R,G,B if they are not")
    return "grey", f"{count} bands with no band names: band 1 is read as grey; pass --bands R,G,B to choose"


def _checked(choice: BandChoice, count: int) -> BandChoice:
    if not all(1 <= b <= count for b in choice.rgb):
        raise InputError(f"Bands {list(choice.rgb)} were asked for red, green, blue, but the raster has {count} "
                         f"band{'s' if count != 1 else ''}.")
    return choice


def _from_descriptions(descriptions: Sequence[str]) -> Optional[RGB]:
    found: dict[str, int] = {}
    for i, text in enumerate(descriptions, start=1):
        words = set(re.split(r"[^a-z0-9]+", (text or "").lower()))
        for colour, names in COLOUR_WORDS.items():
            if colour not in found and words & names:
                found[colour] = i
    return (found["red"], found["green"], found["blue"]) if len(found) == 3 else None


def _from_wavelengths(wavelengths: Sequence[Optional[float]]) -> Optional[RGB]:
    """The bands nearest each colour's centre, within 50 nm, when all three are found in distinct bands."""
    if not wavelengths:
        return None
    picked = []
    for colour in ("red", "green", "blue"):
        best = min(((abs(w - CENTRES_UM[colour]), i) for i, w in enumerate(wavelengths, start=1) if w is not None),
                   default=None)
        if best is None or best[0] > TOLERANCE_UM:
            return None
        picked.append(best[1])
    return (picked[0], picked[1], picked[2]) if len(set(picked)) == 3 else None


def _from_file_name(filename: str) -> Optional[str]:
    name = os.path.basename(filename or "").upper()
    return next((sensor for pattern, sensor in PRODUCTS if pattern.search(name)), None)


def bands_text(rgb: Sequence[int], profile: str, source: str) -> str:
    """``"red 3, green 2, blue 1 (landsat7, from sensor)"``: the bands used and why, as results show them."""
    r, g, b = rgb
    return f"red {r}, green {g}, blue {b} ({profile}, from {source})"


def wavelengths_from_metadata(band_tags: Sequence[Mapping[str, str]],
                              envi: Mapping[str, str]) -> list[Optional[float]]:
    """Band centre wavelengths in µm from each band's metadata (``WAVELENGTH``, ``wavelength_units``...), else
    from an ENVI header's ``wavelength = {a, b, ...}``; [] when neither says. The metadata as GDAL (or
    rasterio) reports it, one dict per band."""
    out: list[Optional[float]] = []
    for raw in band_tags:
        tags = {k.lower(): v for k, v in raw.items()}
        key = next((k for k in tags if "wavelength" in k and "unit" not in k and "fwhm" not in k), None)
        units = next((v for k, v in tags.items() if "wavelength" in k and "unit" in k), "")
        out.append(wavelength_um(tags[key], units) if key else None)
    if any(w is not None for w in out):
        return out
    header = {k.lower(): v for k, v in envi.items()}
    values = [v for v in re.split(r"[{},\s]+", header.get("wavelength", "")) if v]
    if values and len(values) == len(band_tags):
        return [wavelength_um(v, header.get("wavelength_units", "")) for v in values]
    return []


def wavelength_um(value: object, units: str = "") -> Optional[float]:
    """A wavelength from metadata text ('665', '0.665', '665 nm', '0.665 Micrometers') in micrometres."""
    m = re.search(r"[-+]?\d*\.?\d+", str(value))
    if m is None:
        return None
    v = float(m.group())
    text = f"{value} {units}".lower()
    if "nm" in text or "nanomet" in text or v > 100:
        v /= 1000.0
    return v if 0.2 <= v <= 20.0 else None

"""Which bands of a raster are near- and short-wave infrared, and how its values become reflectance.

The multispectral path reads six reflectance bands in one fixed order, whatever the sensor:
``blue, green, red, nir, swir16, swir22`` (SPECTRAL). Blue, green and red come from the RGB choice
(:func:`core.imagery.choose_bands`); NIR and SWIR from the sensor's band stack, band descriptions or band
wavelengths. A band the raster lacks is 0 (absent); rasters with NIR but no SWIR (NAIP, PlanetScope, the
Sentinel-2 10 m stack) still use the path, with the SWIR bands marked absent.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from core.imagery.sensors import RGB

SPECTRAL = ("blue", "green", "red", "nir", "swir16", "swir22")
INFRARED = ("nir", "swir16", "swir22")
# sensor -> band count -> 1-based (nir, swir16, swir22); 0 = the stack has no such band
STACKS: dict[str, dict[int, tuple[int, int, int]]] = {
    "sentinel2": {13: (8, 12, 13), 12: (8, 11, 12), 4: (4, 0, 0)},
    "landsat5": {6: (4, 5, 6), 7: (4, 5, 7)},
    "landsat7": {6: (4, 5, 6), 7: (4, 5, 7), 8: (4, 5, 7)},
    "landsat8": {11: (5, 6, 7), 7: (5, 6, 7), 8: (5, 6, 7)},
    "naip": {4: (4, 0, 0)},
    "worldview": {8: (7, 0, 0), 4: (4, 0, 0)},
    "planetscope": {4: (4, 0, 0), 8: (8, 0, 0)},
    "rgb": {4: (4, 0, 0)},
    "bgr": {4: (4, 0, 0)},
}
# Words in band descriptions. Band numbers are not used: "B5" is NIR on Landsat 8 but red-edge on Sentinel-2.
WORDS = {"nir": {"nir", "nir1", "nir08", "nearinfrared", "near-infrared"},
         "swir16": {"swir1", "swir16", "swir_1"}, "swir22": {"swir2", "swir22", "swir_2"}}
CENTRES_UM = {"nir": (0.842, 0.07), "swir16": (1.61, 0.1), "swir22": (2.20, 0.12)}  # centre, tolerance
LANDSAT_SUN_ELEVATION_DEG = 45.0  # nominal sun elevation for Landsat L1 digital numbers without an MTL file


@dataclass(frozen=True)
class Radiometry:
    """``reflectance = (value * gain + offset) / sun``: how the raster's values become reflectance 0..1."""

    gain: float
    offset: float = 0.0
    sun: float = 1.0  # sin(sun elevation) for top-of-atmosphere reflectance from L1 digital numbers
    text: str = ""  # what was assumed, as results say it

    def apply(self, value: float) -> float:
        return (value * self.gain + self.offset) / self.sun


@dataclass(frozen=True)
class SpectralBands:
    """The six reflectance bands of the multispectral path and where they come from."""

    bands: tuple[int, int, int, int, int, int]  # 1-based source band per SPECTRAL name, 0 = absent
    source: str  # "sensor", "descriptions" or "wavelengths"
    radiometry: Radiometry

    @property
    def present(self) -> tuple[bool, bool]:
        """(has NIR, has both SWIR bands)."""
        return self.bands[3] > 0, self.bands[4] > 0 and self.bands[5] > 0

    def text(self) -> str:
        """``"NIR 8, SWIR 12 and 13 (from sensor); reflectance = DN / 10000 (assumed)"``."""
        nir, s1, s2 = self.bands[3:]
        swir = f"SWIR {s1} and {s2}" if s1 and s2 else "no SWIR"
        return f"NIR {nir}, {swir} (from {self.source}); {self.radiometry.text}"


def spectral_bands(count: int, rgb: RGB, profile: str, source: str, descriptions: Sequence[str] = (),
                   wavelengths: Sequence[Optional[float]] = (), dtype: str = "uint16",
                   filename: str = "") -> Optional[SpectralBands]:
    """The multispectral bands of a raster whose red, green, blue are ``rgb`` (None when it has no NIR).

    ``profile`` and ``source`` are those of the RGB choice: a sensor's stack gives the infrared bands; so do band
    descriptions and wavelengths, which win when the file has them. Integer values are read as reflectance x 10000
    except Landsat 8/9 digital numbers (L1: ``DN * 2e-5 - 0.1``; L2 surface reflectance, ``L2SP`` in the file
    name: ``DN * 2.75e-5 - 0.2``); 8-bit values as reflectance x 255, an approximation the result states.
    """
    infrared, how = _from_words(descriptions), "descriptions"
    if infrared is None:
        infrared, how = _from_wavelengths(wavelengths), "wavelengths"
    if infrared is None and profile in STACKS and count in STACKS[profile] and source != "override":
        infrared, how = STACKS[profile][count], "sensor"
    if infrared is None or not infrared[0] or not all(0 <= b <= count for b in infrared):
        return None
    r, g, b = rgb
    if len({r, g, b, infrared[0]}) < 4:
        return None
    if not (infrared[1] and infrared[2]):  # SWIR is used as a pair (MNDWI, NDBI need SWIR 1.6 um; both trained)
        infrared = (infrared[0], 0, 0)
    return SpectralBands((b, g, r, *infrared), how, radiometry(dtype, profile, filename))


def radiometry(dtype: str, profile: str, filename: str = "") -> Radiometry:
    """How values of this type and sensor become reflectance (see :func:`spectral_bands`)."""
    if dtype.startswith("float"):
        return Radiometry(1.0, text="reflectance as stored (float)")
    if dtype in ("uint8", "int8"):
        return Radiometry(1 / 255, text="reflectance = value / 255 (8-bit; an approximation)")
    if profile == "landsat8":
        if re.search(r"L2S[PR]", os.path.basename(filename).upper()):
            return Radiometry(2.75e-5, -0.2, text="reflectance = DN * 2.75e-5 - 0.2 (Landsat L2 surface reflectance)")
        sun = math.sin(math.radians(LANDSAT_SUN_ELEVATION_DEG))
        return Radiometry(2e-5, -0.1, sun, text="reflectance = (DN * 2e-5 - 0.1) / sin(45 deg) (Landsat L1, "
                                                "nominal sun)")
    return Radiometry(1e-4, text="reflectance = DN / 10000 (assumed)")


def _from_words(descriptions: Sequence[str]) -> Optional[tuple[int, int, int]]:
    found: dict[str, int] = {}
    for i, text in enumerate(descriptions, start=1):
        words = set(re.split(r"[^a-z0-9_\-]+", (text or "").lower()))
        for name, names in WORDS.items():
            if name not in found and words & names:
                found[name] = i
    if "nir" not in found:
        return None
    return found["nir"], found.get("swir16", 0), found.get("swir22", 0)


def _from_wavelengths(wavelengths: Sequence[Optional[float]]) -> Optional[tuple[int, int, int]]:
    picked = []
    for name in INFRARED:
        centre, tolerance = CENTRES_UM[name]
        best = min(((abs(w - centre), i) for i, w in enumerate(wavelengths, start=1) if w is not None), default=None)
        picked.append(best[1] if best is not None and best[0] <= tolerance else 0)
    return (picked[0], picked[1], picked[2]) if picked[0] else None


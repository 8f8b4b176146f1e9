"""Land-cover colours by class name: one palette for the GeoTIFF colour table and the QGIS legend."""

from __future__ import annotations

import hashlib

# EarthVQA / LoveDA land-cover classes; anything else gets a stable colour from its name.
CLASS_COLORS: dict[str, tuple[int, int, int, int]] = {
    "background": (200, 200, 200, 0),
    "building": (220, 40, 40, 255),
    "road": (250, 200, 40, 255),
    "water": (40, 110, 230, 255),
    "barren": (160, 120, 80, 255),
    "forest": (20, 120, 40, 255),
    "agriculture": (170, 220, 90, 255),
    "playground": (230, 60, 200, 255),
}


def class_rgba(name: str) -> tuple[int, int, int, int]:
    """The colour of a class: the land-cover palette, else a stable colour hashed from the name."""
    rgba = CLASS_COLORS.get(name.lower())
    if rgba is None:
        h = hashlib.sha1(name.encode()).digest()
        rgba = (h[0], h[1], h[2], 255)
    return rgba

"""At which pixel size a class's single objects can be counted: buildings, roads and playgrounds need about 2 m."""

from __future__ import annotations

import math

# The coarsest ground pixel (m) at which single objects of the class can be told apart and counted. Classes not
# listed (water, forest, fields, barren land) are counted as patches at any pixel size.
COUNT_GSD_M = {"building": 2.0, "road": 2.0, "playground": 2.0}
_PLURAL = {"building": "buildings", "road": "roads", "playground": "playgrounds"}


def countable(cls: str, gsd_m: float) -> bool:
    """True when single objects of ``cls`` can be counted at ``gsd_m`` metre pixels (unknown size: True)."""
    return not math.isfinite(gsd_m) or gsd_m <= 0 or gsd_m <= COUNT_GSD_M.get(cls, math.inf) * 1.001


def pixel_text(gsd_m: float) -> str:
    """'10 m', '0.5 m', '30 m'."""
    return f"{gsd_m:.0f} m" if gsd_m >= 3 else f"{gsd_m:.1f} m"


def why_not_counted(cls: str, gsd_m: float) -> str:
    """Why a count is not given, e.g. 'single buildings cannot be told apart at 10 m pixels (counting them needs
    about 2 m or finer)'."""
    return (f"single {_PLURAL.get(cls, cls + 's')} cannot be told apart at {pixel_text(gsd_m)} pixels (counting "
            f"them needs about {COUNT_GSD_M[cls]:g} m or finer)")


def training_note(gsd_m: float, trained: list[float], factor: float = 2.0) -> str:
    """A note when ``gsd_m`` is more than ``factor`` away from every pixel size the model was trained on."""
    if not trained or not math.isfinite(gsd_m) or gsd_m <= 0:
        return ""
    if any(t / factor <= gsd_m <= t * factor for t in trained):
        return ""
    sizes = ", ".join(pixel_text(t) for t in sorted(trained))
    return (f"this scene's {pixel_text(gsd_m)} pixels are far from the pixel sizes the model was trained on ({sizes}): "
            "expect a less reliable land-cover map")

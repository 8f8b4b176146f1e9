"""The plugin's settings, kept in QgsSettings under ``earthask/`` and turned into a core EngineConfig.

The engine's defaults and limits are core's (:mod:`core.config`), never restated here: the plugin only clamps
a saved value that core would refuse (a setting from an old version must not break startup).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Optional

from qgis.core import QgsSettings

from core.config import TILE_MAX, TILE_MIN, TOKENS_MAX, EngineConfig
from core.errors import InputError

PREFIX = "earthask/"
ENGINE_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(EngineConfig)}


def accepted(name: str, value: Any) -> bool:
    """True when core's EngineConfig accepts ``value`` for the setting ``name`` (others at their defaults)."""
    try:
        EngineConfig.from_user(**{name: value})
    except InputError:
        return False
    return True


def clamp(value: Any, low: int, high: int) -> int:
    """``value`` as a whole number within ``low..high``."""
    return min(max(int(value), low), high)


@dataclass(frozen=True)
class PluginSettings:
    """What the user can change; the engine's fields default to EngineConfig's, everything else keeps its defaults."""

    model: str = ENGINE_DEFAULTS["model"]  # "default", "tiny" or a model directory / checkpoint
    device: str = ENGINE_DEFAULTS["device"]  # one of core.config.DEVICES, or cuda:N
    backend: str = ENGINE_DEFAULTS["backend"]  # one of core.config.BACKENDS
    tile: int = ENGINE_DEFAULTS["tile"]  # pixels
    overlap: int = ENGINE_DEFAULTS["overlap"]  # pixels
    semantic_db: str = ""  # faiss database directory; "" (QgsSettings has no None) -> the model's default
    max_new_tokens: int = ENGINE_DEFAULTS["max_new_tokens"]  # longest generated answer, in tokens
    spectral: bool = ENGINE_DEFAULTS["spectral"]  # segment with NIR/SWIR when a raster has them (False: RGB only)
    python: str = ""  # interpreter for the engine process; "" -> the one QGIS runs on
    oriented_boxes: bool = False  # "find" also adds the measured objects' minimum rotated rectangles as a layer
    output_dir: str = ""  # where results are written ("" -> beside the saved project, else the profile's folder)

    def validated(self) -> PluginSettings:
        """A copy whose engine settings core accepts: a value core would refuse is clamped or set to its default."""
        model, device, backend = str(self.model).strip(), str(self.device).strip(), str(self.backend).strip()
        tile = clamp(self.tile, TILE_MIN, TILE_MAX)
        return replace(
            self,
            model=model if accepted("model", model) else ENGINE_DEFAULTS["model"],
            device=device if accepted("device", device) else ENGINE_DEFAULTS["device"],
            backend=backend if accepted("backend", backend) else ENGINE_DEFAULTS["backend"],
            tile=tile,
            overlap=clamp(self.overlap, 0, tile // 2),
            semantic_db=str(self.semantic_db).strip(),
            max_new_tokens=clamp(self.max_new_tokens, 1, TOKENS_MAX),
            spectral=bool(self.spectral),
            python=str(self.python).strip(),
            oriented_boxes=bool(self.oriented_boxes),
            output_dir=str(self.output_dir).strip(),
        )

    def engine_settings(self) -> dict[str, Any]:
        """The settings that are EngineConfig's, as core names them ("" semantic database -> None, not set)."""
        s = self.validated()
        given = {f.name: getattr(s, f.name) for f in fields(s) if f.name in ENGINE_DEFAULTS}
        given["semantic_db"] = given["semantic_db"] or None
        return given

    def to_engine_config(self) -> EngineConfig:
        """The core engine's configuration for these settings (core validates it once more)."""
        return EngineConfig.from_user(**self.engine_settings())

    @classmethod
    def load(cls, qsettings: Optional[QgsSettings] = None) -> PluginSettings:
        """Read the saved settings (defaults where nothing was saved or a value cannot be read)."""
        q = qsettings or QgsSettings()
        values = {}
        for f in fields(cls):
            default = f.default
            raw = q.value(PREFIX + f.name, default)
            try:
                if isinstance(default, bool):  # QgsSettings may hand back "true"/"false" strings
                    values[f.name] = raw if isinstance(raw, bool) else str(raw).strip().lower() in ("true", "1", "yes")
                elif isinstance(default, int):  # an INI file may hold "256" or "256.0"
                    values[f.name] = int(float(raw)) if raw is not None else default
                else:
                    values[f.name] = type(default)(raw) if raw is not None else default
            except (TypeError, ValueError, OverflowError):
                values[f.name] = default
        return cls(**values).validated()

    def save(self, qsettings: Optional[QgsSettings] = None) -> None:
        """Write these settings (validated)."""
        q = qsettings or QgsSettings()
        valid = self.validated()
        for f in fields(self):
            # Remove first: QSettings skips a write whose QVariant compares equal to the stored one, and a stored
            # True equals "cuda" (an old bool in a now-text setting would stay forever).
            q.remove(PREFIX + f.name)
            q.setValue(PREFIX + f.name, getattr(valid, f.name))

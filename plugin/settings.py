"""The plugin's settings, kept in QgsSettings under ``earthask/`` and turned into a core EngineConfig."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Optional

from qgis.core import QgsSettings

from core.config import EngineConfig

PREFIX = "earthask/"
DEVICES = ("auto", "cuda", "cpu")
BACKENDS = ("torch", "onnx")


@dataclass(frozen=True)
class PluginSettings:
    """What the user can change; everything else keeps EngineConfig's defaults."""

    model: str = "default"  # "default", "tiny" or a model directory / checkpoint
    device: str = "auto"  # auto | cuda | cpu
    backend: str = "torch"  # torch | onnx
    tile: int = 512  # pixels
    overlap: int = 64  # pixels
    semantic_db: str = ""  # faiss database directory; "" -> the model's default
    max_new_tokens: int = 96  # longest generated answer, in tokens
    python: str = ""  # interpreter for the engine process; "" -> the one QGIS runs on
    oriented_boxes: bool = False  # "find" also adds the measured objects' minimum rotated rectangles as a layer

    def validated(self) -> PluginSettings:
        """A copy with out-of-range values replaced by sensible ones."""
        tile = max(32, int(self.tile))
        return replace(
            self,
            model=self.model.strip() or "default",
            device=self.device if self.device in DEVICES else "auto",
            backend=self.backend if self.backend in BACKENDS else "torch",
            tile=tile,
            overlap=min(max(0, int(self.overlap)), tile // 2),
            semantic_db=self.semantic_db.strip(),
            max_new_tokens=min(max(1, int(self.max_new_tokens)), 1024),
            python=self.python.strip(),
            oriented_boxes=bool(self.oriented_boxes),
        )

    def to_engine_config(self) -> EngineConfig:
        """The core engine's configuration for these settings."""
        s = self.validated()
        return EngineConfig(
            model=s.model, device=s.device, backend=s.backend, tile=s.tile, overlap=s.overlap,
            semantic_db=s.semantic_db or None, max_new_tokens=s.max_new_tokens,
        )

    @classmethod
    def load(cls, qsettings: Optional[QgsSettings] = None) -> PluginSettings:
        """Read the saved settings (defaults where nothing was saved)."""
        q = qsettings or QgsSettings()
        values = {}
        for f in fields(cls):
            default = f.default
            raw = q.value(PREFIX + f.name, default)
            try:
                if isinstance(default, bool):  # QgsSettings may hand back "true"/"false" strings
                    values[f.name] = raw if isinstance(raw, bool) else str(raw).strip().lower() in ("true", "1", "yes")
                else:
                    values[f.name] = type(default)(raw) if raw is not None else default
            except (TypeError, ValueError):
                values[f.name] = default
        return cls(**values).validated()

    def save(self, qsettings: Optional[QgsSettings] = None) -> None:
        """Write these settings."""
        q = qsettings or QgsSettings()
        for f in fields(self):
            q.setValue(PREFIX + f.name, getattr(self.validated(), f.name))

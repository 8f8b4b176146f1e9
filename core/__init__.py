"""EarthAsk engine: QGIS-free pipelines for segmentation, VQA, grounding and captioning.

Importing this package is light (no torch, faiss or onnxruntime): ``core.Engine`` is resolved lazily.
"""

from typing import Any

__all__ = ["Engine", "EngineConfig"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from core.engine import Engine

        return Engine
    if name == "EngineConfig":
        from core.config import EngineConfig

        return EngineConfig
    raise AttributeError(name)

"""Engine settings: which model, where it runs, how scenes are tiled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class EngineConfig:
    model: str = "default"  # "default" (resources/model), "tiny" (random, for tests) or a checkpoint dir
    device: str = "auto"  # auto | cpu | cuda
    backend: str = "torch"  # torch | onnx (segmentation encoder)
    tile: int = 512  # tile size in pixels
    overlap: int = 64  # overlap between tiles in pixels
    batch_size: int = 4  # tiles per forward pass
    semantic_db: Optional[str] = None  # faiss database dir; None -> the model's default
    min_object_m2: float = 0.0  # connected components smaller than this are not counted
    max_new_tokens: int = 96
    seed: int = 0

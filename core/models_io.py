"""Find, load and run the model for the engine: device choice, checkpoints, segmentation predictors."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"
DEFAULT_MODEL_DIR = RESOURCES / "model"  # the trained default checkpoint (trained parts only)
DEFAULT_DB_DIR = RESOURCES / "semantic_db"  # the default semantic database

PredictFn = Callable[[np.ndarray], np.ndarray]


def offline() -> None:
    """Nothing is ever fetched from a model hub at run time."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is usable, else ``cpu``; checks an explicit choice.

    Raises:
        InputError: unknown device, or ``cuda`` asked for where there is none.
    """
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise InputError(f"Unknown device '{device}'; choose auto, cpu or cuda.")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("CUDA was asked for but no CUDA device is available; use --device cpu.")
    return device


@dataclass
class LoadedModel:
    """The model the engine runs, with what a user needs to know about it."""

    model: Any  # models.vlm.EarthVLM
    model_id: str
    directory: Optional[Path]  # checkpoint directory, None for tiny / untrained
    notes: list[str]


def load_model(name: str, device: str, seed: int = 0) -> LoadedModel:
    """Load ``default`` (resources/model), ``tiny`` (random, seeded) or a checkpoint directory.

    Raises:
        InputError: a checkpoint directory that does not exist or holds no ``config.json``.
    """
    offline()
    import torch

    from models.config import VLMConfig
    from models.vlm import EarthVLM

    notes: list[str] = []
    if name == "tiny":
        torch.manual_seed(seed)
        model, model_id, directory = EarthVLM(VLMConfig.tiny()), "tiny-random", None
        notes.append("tiny random model: answers are not meaningful")
    elif name == "default" and not (DEFAULT_MODEL_DIR / "config.json").is_file():
        torch.manual_seed(seed)
        model, model_id, directory = EarthVLM(VLMConfig()), "untrained-default", None
        notes.append("no trained default checkpoint in resources/model: the trained parts are untrained")
    else:
        directory = DEFAULT_MODEL_DIR if name == "default" else Path(name).expanduser()
        if not directory.is_dir():
            raise InputError(f"Model directory not found: {directory}")
        if not (directory / "config.json").is_file():
            raise InputError(f"{directory} is not an EarthAsk checkpoint (no config.json).")
        model = EarthVLM.from_pretrained(directory)
        model_id = _model_id(directory)
    model.to(device).eval()
    return LoadedModel(model, model_id, directory, notes)


def _model_id(directory: Path) -> str:
    card = directory / "model_id.txt"
    return card.read_text().strip() if card.is_file() else directory.name


def torch_predictor(model: Any, device: str) -> PredictFn:
    """``predict(batch [B,3,h,w] float32 0..1) -> class probabilities [B,K,h,w]`` with the torch model."""
    import torch

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
            logits = model.segment(x)  # [B, K, h, w]
            return torch.softmax(logits.float(), dim=1).cpu().numpy()

    return predict


def onnx_predictor(path: Path, device: str) -> tuple[PredictFn, list[str]]:
    """The same predictor over an exported ONNX segmenter; returns it and the providers it took."""
    from core.onnx_backend import OnnxSegmenter

    session = OnnxSegmenter(path, device=device)

    def predict(batch: np.ndarray) -> np.ndarray:
        logits = session(batch).astype(np.float32)  # [B, K, h, w]
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    return predict, session.providers


def onnx_cache_dir(loaded: LoadedModel) -> Path:
    """Where the engine keeps the ONNX export of a model that has none beside its checkpoint."""
    if loaded.directory is not None and (loaded.directory / "onnx").is_dir():
        return loaded.directory / "onnx"
    base = Path(os.environ.get("EARTHASK_CACHE", Path.home() / ".cache" / "earthask"))
    return base / "onnx" / loaded.model_id.replace("/", "_")


def default_semantic_db(loaded: LoadedModel, explicit: Optional[str]) -> Optional[Path]:
    """The semantic database to use: the explicit one, else the checkpoint's own ``semantic_db/``.

    The shipped ``resources/semantic_db`` was embedded by the shipped default model's text tower, so it
    serves that model only; another model without a database of its own retrieves nothing (and says so).
    """
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_dir():
            raise InputError(f"Semantic database not found: {path}")
        return path
    candidates = [loaded.directory / "semantic_db"] if loaded.directory else []
    if loaded.directory is not None and loaded.directory.resolve() == DEFAULT_MODEL_DIR.resolve():
        candidates.append(DEFAULT_DB_DIR)
    for candidate in candidates:
        if (candidate / "index.faiss").is_file():
            return candidate
    return None

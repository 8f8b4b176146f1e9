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


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def offline() -> None:
    """Nothing is ever fetched from a model hub at run time, loading draws no progress bars of its own (the
    caller's progress says "loading the model"; ``--quiet`` means quiet), and caches stay out of TMPDIR."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # torch makes its compiler cache folder on import (under TMPDIR by default): keep it with our caches
    from models.digest import cache_root

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "torchinductor"))
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # transformers is only needed by the language side
        pass


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
        check_checkpoint(directory)
        model = _from_pretrained(EarthVLM, directory)
        model_id = _model_id(directory)
    model.to(device).eval()
    return LoadedModel(model, model_id, directory, notes)


def check_checkpoint(directory: Path) -> None:
    """Refuse, in one sentence, a folder that is not a readable EarthAsk checkpoint (before any weights load).

    Raises:
        InputError: missing folder, no config.json, config.json not a JSON object, or no model.safetensors
            (a pickle file in its place is named and never loaded: unpickling can run code).
    """
    import json

    if not directory.is_dir():
        raise InputError(f"Model folder not found: {directory}")
    config = directory / "config.json"
    if not config.is_file():
        raise InputError(f"{directory} is not an EarthAsk checkpoint (no config.json).")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        where = f" (line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise InputError(f"{config} is not valid JSON{where}.") from None
    if not isinstance(data, dict):
        raise InputError(f"{config} must hold a JSON object of settings.")
    if not (directory / "model.safetensors").is_file():
        pickles = sorted(p.name for p in directory.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        if pickles:
            raise InputError(f"{directory} holds {pickles[0]}, a pickle file, which EarthAsk never loads (it can "
                             "run code); save the weights as model.safetensors.")
        raise InputError(f"{directory} is not an EarthAsk checkpoint (no model.safetensors).")


def _from_pretrained(cls: Any, directory: Path) -> Any:
    """``cls.from_pretrained(directory)`` with every failure turned into one sentence naming the folder."""
    try:
        return cls.from_pretrained(directory)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:  # config keys, damaged safetensors, shapes, missing base weights...
        text = " ".join(str(e).split()) or type(e).__name__
        if len(text) > 200:
            text = text[:200].rsplit(" ", 1)[0] + " ..."
        raise InputError(f"Could not load the model in {directory}: {text}") from None


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


def onnx_segmenter(loaded: LoadedModel, tile: int) -> tuple[Path, str]:
    """The ONNX export of the loaded model's segmenter, made once and kept by the weights' sha256.

    An ``onnx/segmenter.onnx`` beside the checkpoint is used when it was exported from these very weights;
    otherwise the export is cached under ``$EARTHASK_CACHE/onnx/<sha256>/`` (written atomically), so two
    checkpoints with one folder name, or a retrained one, never share a stale export. Returns the path and a
    note when a stale export beside the checkpoint was passed over ("" otherwise).
    """
    from models.digest import cache_root, module_sha256
    from models.onnx_export import export_segmenter, read_onnx_metadata

    digest = module_sha256(loaded.model.segmenter)
    note = ""
    if loaded.directory is not None and (loaded.directory / "onnx" / "segmenter.onnx").is_file():
        beside = loaded.directory / "onnx" / "segmenter.onnx"
        if read_onnx_metadata(beside).get("weights_sha256") == digest:
            return beside, note
        note = f"{beside} was not exported from these weights: a fresh export is used instead"
    path = cache_root() / "onnx" / digest[:32] / "segmenter.onnx"
    if not path.is_file():
        from core.outputs import atomic_file

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(str(path), suffix=".onnx") as tmp:
            export_segmenter(loaded.model.segmenter, tmp, tile_size=tile, model_id=loaded.model_id)
    return path, note


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

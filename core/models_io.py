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
    """The same predictor over an exported ONNX segmenter; returns it and the providers it took.

    The export gives probabilities itself (softmax in the graph; an old logits export gets its softmax in
    :class:`core.onnx_backend.OnnxSegmenter`), so the session is the predictor.
    """
    from core.onnx_backend import OnnxSegmenter

    session = OnnxSegmenter(path, device=device)
    return session, session.providers


def onnx_segmenter(loaded: LoadedModel, tile: int) -> tuple[Path, str]:
    """The ONNX export of the loaded model's segmenter, made once and kept by the weights' sha256.

    An ``onnx/segmenter.onnx`` beside the checkpoint is used when it was exported from these very weights (and,
    if it is a fixed-size export, for this tile size); otherwise the export is cached under
    ``$EARTHASK_CACHE/onnx/<sha256>-v<format>/`` (written atomically), so two checkpoints with one folder name,
    a retrained one, or an export of an older format (logits out) never share a stale export. Returns the path
    and a note when a stale export beside the checkpoint was passed over ("" otherwise).
    """
    from models.digest import cache_root, module_sha256
    from models.onnx_export import SEGMENTER_FORMAT, export_segmenter, read_onnx_metadata

    digest = module_sha256(loaded.model.segmenter)
    note = ""
    if loaded.directory is not None and (loaded.directory / "onnx" / "segmenter.onnx").is_file():
        beside = loaded.directory / "onnx" / "segmenter.onnx"
        meta = read_onnx_metadata(beside)
        if meta.get("weights_sha256") == digest:
            if meta.get("fixed_size") in (None, tile):
                return beside, note
        else:
            note = f"{beside} was not exported from these weights: a fresh export is used instead"
    path = cache_root() / "onnx" / f"{digest[:32]}-v{SEGMENTER_FORMAT}" / "segmenter.onnx"
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


SPECTRAL_DIR = "spectral"  # a checkpoint's multispectral refiner (models/spectral.py), when it has one


def refiner_dir(model: str) -> Optional[Path]:
    """The spectral refiner folder of a model ('default', 'tiny' or a checkpoint folder); None when it has none."""
    if model == "tiny":
        return None
    folder = (DEFAULT_MODEL_DIR if model == "default" else Path(model).expanduser()) / SPECTRAL_DIR
    return folder if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file() else None


def load_refiner(folder: Path, classes: list[str], device: str) -> Any:
    """The :class:`models.spectral.SpectralRefiner` in ``folder``, checked against the segmenter's classes.

    Raises:
        InputError: unreadable files, or classes that are not the model's.
    """
    from models.spectral import SpectralRefiner

    try:
        refiner = SpectralRefiner.from_pretrained(folder)
    except Exception as e:  # noqa: BLE001 - any unreadable refiner is one sentence to the user
        raise InputError(f"Could not load the spectral refiner in {folder}: {str(e).splitlines()[0][:200]}") from None
    if list(refiner.cfg.classes) != list(classes):
        raise InputError(f"The spectral refiner in {folder} has classes {refiner.cfg.classes}, but the model has "
                         f"{list(classes)}.")
    return refiner.to(device).eval()


def spectral_predictor(predict: PredictFn, refiner: Any) -> PredictFn:
    """``predict`` on the RGB channels of a batch, then the refiner on the reflectance planes beside them
    (``[B, 3 + 8, h, w]``, see :func:`core.raster.read_window`); a 3-channel batch is predicted as before."""

    def run(batch: np.ndarray) -> np.ndarray:
        probs = predict(np.ascontiguousarray(batch[:, :3]))
        return probs if batch.shape[1] == 3 else refiner.refine(probs, batch[:, 3:])

    return run

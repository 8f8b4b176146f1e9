"""Find, load and run the model for the engine: device choice, checkpoints, segmentation predictors."""

from __future__ import annotations

import hashlib
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
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # see core.onnx_backend.import_onnxruntime
    # torch makes its compiler cache folder on import (under TMPDIR by default): keep it with our caches
    from models.digest import cache_root

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "torchinductor"))


def quiet_transformers() -> None:
    """transformers' progress bars and warnings off (imported by the language side only: it is slow to import)."""
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
    if device == "cpu" or (device == "auto" and no_nvidia_device()):
        return "cpu"  # decided without importing torch (a second or more, and 250 MB, for a segmentation)
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("CUDA was asked for but no CUDA device is available; use --device cpu.")
    return device


def no_nvidia_device() -> bool:
    """True on a Linux machine without NVIDIA device nodes, where CUDA cannot be available (no torch needed)."""
    import glob
    import sys

    return sys.platform.startswith("linux") and not glob.glob("/dev/nvidia[0-9]*")


@dataclass
class LoadedModel:
    """The model the engine runs, with what a user needs to know about it."""

    model: Any  # models.vlm.EarthVLM
    model_id: str
    directory: Optional[Path]  # checkpoint directory, None for tiny / untrained
    notes: list[str]

    @property
    def segmenter(self) -> Any:
        """The model's segmenter (models.segmenter.Segmenter)."""
        return self.model.segmenter


def load_model(name: str, device: str, seed: int = 0) -> LoadedModel:
    """Load ``default`` (resources/model), ``tiny`` (random, seeded) or a checkpoint directory.

    Raises:
        InputError: a checkpoint directory that does not exist or holds no ``config.json``.
    """
    offline()
    quiet_transformers()
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
        model_id = model_id_of(directory)
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
    return load_or_explain(lambda: cls.from_pretrained(directory), directory)


def load_or_explain(load: Callable[[], Any], directory: Path) -> Any:
    """``load()`` (of the checkpoint in ``directory``) with every failure turned into one sentence naming it."""
    try:
        return load()
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:  # config keys, damaged safetensors, shapes, missing base weights...
        text = " ".join(str(e).split()) or type(e).__name__
        if len(text) > 200:
            text = text[:200].rsplit(" ", 1)[0] + " ..."
        raise InputError(f"Could not load the model in {directory}: {text}") from None


def model_id_of(directory: Path) -> str:
    """The checkpoint's name: its ``model_id.txt``, else the folder name."""
    card = directory / "model_id.txt"
    return card.read_text().strip() if card.is_file() else directory.name


def torch_predictor(segmenter: Any, device: str) -> PredictFn:
    """``predict(batch [B,3,h,w] float32 0..1) -> class probabilities [B,K,h,w]`` with the torch segmenter."""
    import torch

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
            logits = segmenter(x)  # [B, K, h, w]
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


def onnx_segmenter(loaded: Any, tile: int) -> tuple[Path, str]:
    """The ONNX export of ``loaded``'s segmenter (a :class:`LoadedModel` or a
    :class:`core.model_parts.SegmenterPart`), made once and kept by the weights' sha256.

    An ``onnx/segmenter.onnx`` beside the checkpoint is used when it was exported from these very weights (and,
    if it is a fixed-size export, for this tile size); otherwise the export is cached under
    ``$EARTHASK_CACHE/onnx/<sha256>-v<format>/`` (written atomically), so two checkpoints with one folder name,
    a retrained one, or an export of an older format (logits out) never share a stale export. Returns the path
    and a note when a stale export beside the checkpoint was passed over ("" otherwise).
    """
    from models.digest import cache_root, module_sha256
    from models.onnx_export import SEGMENTER_FORMAT, export_segmenter, read_onnx_metadata

    digest = module_sha256(loaded.segmenter)
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
            export_segmenter(loaded.segmenter, tmp, tile_size=tile, model_id=loaded.model_id)
    return path, note


def segmentation_predictor(part: Any, backend: str, device: str, tile: int) -> tuple[PredictFn, list[str], str]:
    """The segmentation predictor of ``part`` (a :class:`core.model_parts.SegmenterPart`) for ``backend``.

    ``auto`` takes onnxruntime on CPU (the faster path there) and torch on CUDA; when onnx is not available
    (no onnx/onnxruntime, or a model ONNX cannot hold), ``auto`` falls back to torch and says so in the part's
    notes. Returns the predictor, the providers it took and the backend really used.
    """
    used = backend
    if used == "auto":
        used = "torch" if device.startswith("cuda") else "onnx"
    if used == "onnx":
        try:
            path, note = _checkpoint_export(part, tile)
            predict, providers = onnx_predictor(path, device)
            if list(predict.classes) != list(part.classes):  # a cached export that is not this model's after all
                path, note = onnx_segmenter(part, tile)
                predict, providers = onnx_predictor(path, device)
        except (ImportError, ValueError) as exc:
            if backend != "auto":
                raise
            part.notes.append(f"the onnx backend is not available ({exc}); torch was used")
        else:
            if note:
                part.notes.append(note)
            return predict, providers, used
    return torch_predictor(part.segmenter, device), [], "torch"


def _checkpoint_export(part: Any, tile: int) -> tuple[Path, str]:
    """:func:`onnx_segmenter` of ``part``, through :func:`cached_export` when the segmenter is not loaded (then
    it need not load: a segmentation with a cached export never imports torch)."""
    directory = part.directory
    if directory is not None and not part.segmenter_loaded:
        path = cached_export(directory)
        if path is not None:
            return path, ""
    path, note = onnx_segmenter(part, tile)
    if directory is not None and path != directory / "onnx" / "segmenter.onnx":
        remember_export(directory, path)
    return path, note


def open_semantic_db(loaded: LoadedModel, explicit: Optional[str]) -> Any:
    """The model's faiss semantic database (:class:`core.semantic_db.SemanticDB`), or None when it has none
    (a note then says that nothing was retrieved, when the model retrieves)."""
    from core.semantic_db import SemanticDB

    path = default_semantic_db(loaded, explicit)
    if path is not None:
        return SemanticDB.load(path, expected_dim=loaded.model.cfg.retriever_dim)
    if loaded.model.cfg.retrieval_enabled:
        loaded.notes.append("no semantic database for this model: nothing was retrieved (build one with python -m "
                            "core index)")
    return None


CHECKPOINT_EXPORTS = "checkpoints"  # under cache_root()/onnx: checkpoint key -> the export of its segmenter


def checkpoint_key(directory: Path) -> str:
    """sha256 over a checkpoint's ``config.json`` and ``model.safetensors``: the config names the bases by their
    own sha256 and the safetensors file holds the trained tensors, so the key names the segmenter's weights
    without building it (or importing torch)."""
    from models.digest import file_sha256

    parts = [file_sha256(directory / name) for name in ("config.json", "model.safetensors")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _export_alias(directory: Path) -> Path:
    from models.digest import cache_root
    from models.onnx_export import SEGMENTER_FORMAT

    return cache_root() / "onnx" / CHECKPOINT_EXPORTS / f"{checkpoint_key(directory)[:32]}-v{SEGMENTER_FORMAT}.txt"


def cached_export(directory: Optional[Path]) -> Optional[Path]:
    """The cached ONNX export made earlier from the segmenter of the checkpoint in ``directory`` (found by
    :func:`checkpoint_key`), or None: none yet, no checkpoint, or one with its own ``onnx/segmenter.onnx``
    (that one is checked against the weights by :func:`onnx_segmenter`)."""
    if directory is None or (directory / "onnx" / "segmenter.onnx").is_file():
        return None
    alias = _export_alias(directory)
    if not alias.is_file():
        return None
    path = Path(alias.read_text(encoding="utf-8").strip())
    return path if path.is_file() else None


def remember_export(directory: Path, path: Path) -> None:
    """Record that ``path`` is the export of the checkpoint in ``directory`` (see :func:`cached_export`)."""
    from core.outputs import atomic_file

    alias = _export_alias(directory)
    alias.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(str(alias), suffix=".txt") as tmp:
        Path(tmp).write_text(str(path), encoding="utf-8")


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

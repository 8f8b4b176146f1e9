"""The model's spectral refiner (``models/spectral.py``): found beside the checkpoint, checked against its classes,
and run either in torch or, on the onnx backend, from an ONNX export cached by the refiner files' sha256.

The onnx path imports torch only the first time a refiner is exported; after that a multispectral segmentation on
the onnx backend never imports torch (torch's import alone took about a second of a cold answer on 2 cores, and
onnxruntime ran the refiner 2.8 times faster than torch per 512 px tile on this CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.errors import InputError

SPECTRAL_DIR = "spectral"  # a checkpoint's multispectral refiner folder, when it has one
FILES = ("config.json", "model.safetensors")
PredictFn = Callable[[np.ndarray], np.ndarray]


def refiner_dir(model: str) -> Optional[Path]:
    """The spectral refiner folder of a model ('default', 'tiny' or a checkpoint folder); None when it has none."""
    from core.models_io import DEFAULT_MODEL_DIR

    if model == "tiny":
        return None
    folder = (DEFAULT_MODEL_DIR if model == "default" else Path(model).expanduser()) / SPECTRAL_DIR
    return folder if all((folder / name).is_file() for name in FILES) else None


def check_refiner(folder: Path, classes: list[str]) -> None:
    """Refuse, from its config alone (no torch), a spectral refiner whose classes are not the model's.

    Raises:
        InputError: an unreadable config.json, or classes that are not the model's.
    """
    import json

    try:
        theirs = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("classes")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as e:
        raise InputError(f"Could not load the spectral refiner in {folder}: {str(e).splitlines()[0][:200]}") from None
    _same_classes(folder, theirs, classes)


def _same_classes(folder: Path, theirs: Optional[list[str]], classes: list[str]) -> None:
    if theirs is not None and list(theirs) != list(classes):
        raise InputError(f"The spectral refiner in {folder} has classes {list(theirs)}, but the model has "
                         f"{list(classes)}.")


def load_refiner(folder: Path, classes: list[str], device: str) -> Any:
    """The torch :class:`models.spectral.SpectralRefiner` in ``folder``, checked against the segmenter's classes.

    Raises:
        InputError: unreadable files, or classes that are not the model's.
    """
    from models.spectral import SpectralRefiner

    try:
        refiner = SpectralRefiner.from_pretrained(folder)
    except Exception as e:  # noqa: BLE001 - any unreadable refiner is one sentence to the user
        raise InputError(f"Could not load the spectral refiner in {folder}: {str(e).splitlines()[0][:200]}") from None
    _same_classes(folder, refiner.cfg.classes, classes)
    return refiner.to(device).eval()


def refiner_export(folder: Path, classes: list[str]) -> Path:
    """The ONNX export of the refiner in ``folder``: ``$EARTHASK_CACHE/onnx/refiner-<sha256>-v<format>/``, made
    (with torch, written atomically) the first time and found again by its files' sha256 after that (the folder
    holds a ``config.json`` and a ``model.safetensors``, as a checkpoint does: :func:`core.models_io.checkpoint_key`
    names them)."""
    from core.models_io import checkpoint_key
    from models.digest import cache_root
    from models.onnx_export import REFINER_FORMAT

    key = checkpoint_key(folder)
    path = cache_root() / "onnx" / f"refiner-{key[:32]}-v{REFINER_FORMAT}" / "refiner.onnx"
    if not path.is_file():
        from core.outputs import atomic_file
        from models.onnx_export import export_refiner

        refiner = load_refiner(folder, classes, "cpu")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(str(path), suffix=".onnx") as tmp:
            export_refiner(refiner, tmp, weights_sha256=key, model_id=folder.parent.name)
    return path


def onnx_refiner(folder: Path, classes: list[str], device: str) -> Any:
    """The refiner in ``folder`` as a :class:`core.onnx_backend.OnnxRefiner` (same ``refine`` call as torch's)."""
    from core.onnx_backend import OnnxRefiner

    session = OnnxRefiner(refiner_export(folder, classes), device=device)
    _same_classes(folder, session.classes, classes)
    return session


def spectral_predictor(predict: PredictFn, refiner: Callable[[], Any]) -> PredictFn:
    """``predict`` on the RGB channels of a batch, then the refiner on the reflectance planes beside them
    (``[B, 3 + 8, h, w]``, see :func:`core.raster.read_window`); a 3-channel batch is predicted as before.
    ``refiner()`` gives the refiner (called once the first batch is predicted: it may still be loading). The
    refiner runs tile by tile: its full-resolution activations are 4 times smaller than a batch of 4's (seen:
    the demo's peak memory 1.5 -> 1.1 GB), with the same output to the bit on this CPU, and no slower."""

    def run(batch: np.ndarray) -> np.ndarray:
        probs = predict(np.ascontiguousarray(batch[:, :3]))
        if batch.shape[1] == 3:
            return probs
        model = refiner()
        probs = probs if probs.flags.writeable else probs.copy()
        for i in range(len(probs)):  # [1, K, h, w] at a time, in place
            probs[i : i + 1] = model.refine(probs[i : i + 1], batch[i : i + 1, 3:])
        return probs

    return run

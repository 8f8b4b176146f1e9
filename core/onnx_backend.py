"""onnxruntime sessions for the exported segmenter and spectral refiner: CUDA provider when present (and asked), else
CPU."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def import_onnxruntime() -> Any:
    """``onnxruntime``, imported with its telemetry off unless the user set ``ORT_DISABLE_TELEMETRY`` otherwise.

    onnxruntime 1.31's official Linux wheels start a telemetry client when they are imported: it writes a
    51-byte session file ``$TMPDIR/.ses`` (first launch time and a random id) and a device id under
    ``~/.cache/Microsoft/DeveloperTools``. ``ORT_DISABLE_TELEMETRY=1`` before the first import turns the client
    off entirely (no events, no files); it is read once per process, so an onnxruntime imported earlier by
    someone else keeps its own setting.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def choose_providers(device: str, available: list[str]) -> list[str]:
    """Providers for ``device`` ("auto" | "cuda" | "cpu") given onnxruntime's available ones."""
    if device == "cpu":
        return [CPU]
    if device not in ("auto", "cuda"):
        raise InputError(f"unknown device {device!r}: use auto, cuda or cpu")
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        raise InputError("device cuda asked for, but this onnxruntime has no CUDA provider (install onnxruntime-gpu)")
    return [CPU]


def open_session(path: str | Path, device: str = "auto", threads: int | None = None) -> Any:
    """An onnxruntime session for the ONNX file at ``path`` on ``device`` (see :func:`choose_providers`).

    Raises:
        InputError: no such file, or a device this onnxruntime cannot serve.
    """
    ort = import_onnxruntime()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"ONNX model not found: {path}")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
    wanted = choose_providers(device, ort.get_available_providers())
    if wanted == [CPU]:
        # No memory pattern: the same CPU time per tile, and 145 MB less at batch 4 x 512 px. No spinning: idle
        # workers sleep instead of busy-waiting between operators, which left less CPU to the tiled pipeline's
        # reader and writer threads (measured on 2 cores: 25% less CPU per tile, the same tiles per second).
        options.enable_mem_pattern = False
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=wanted)


class OnnxSegmenter:
    """``__call__(batch float32 [B, bands, h, w] in 0..1) -> float32 probabilities [B, K, h, w]``.

    A ``predict`` callable for ``core.tiled``. Reads the model's metadata_props (classes, tile size,
    bands, normalisation; see ``models.onnx_export``). onnxruntime is imported here, not with ``core``.
    Exports of format 2 have the softmax in the graph; an older export whose metadata says its output is
    logits gets its softmax here. A fixed-size export (``fixed_size`` metadata, made for Deepness) takes
    smaller tiles zero-padded at the bottom and right, and their probabilities cropped back.

    Attributes:
        providers: the providers the session really uses (CUDA first when it took).
        metadata: parsed metadata_props. classes, tile_size, bands: from it.
        logits: the file's output is logits (an old export), so ``__call__`` applies the softmax.
        fixed_size: H = W of a fixed-size export, else None.
    """

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None) -> None:
        from models.onnx_export import outputs_logits, parse_metadata  # no torch import at module level there

        self.session = open_session(path, device, threads)
        self.providers: list[str] = list(self.session.get_providers())
        self.metadata: dict[str, Any] = parse_metadata(dict(self.session.get_modelmeta().custom_metadata_map))
        self.classes: list[str] = list(self.metadata.get("classes", []))
        self.tile_size: int | None = self.metadata.get("tile_size")
        self.bands: int = int(self.metadata.get("bands", 3))
        self.logits: bool = outputs_logits(self.metadata)
        self.fixed_size: int | None = self.metadata.get("fixed_size")
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if batch.ndim != 4 or batch.shape[1] != self.bands:
            raise ValueError(f"expected [B, {self.bands}, h, w] float32 in 0..1, got {batch.shape}")
        h, w = batch.shape[2:]
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if self.fixed_size is not None and (h, w) != (self.fixed_size, self.fixed_size):
            if h > self.fixed_size or w > self.fixed_size:
                raise ValueError(f"this export takes tiles of at most {self.fixed_size} px, got {h} x {w}")
            x = np.pad(x, ((0, 0), (0, 0), (0, self.fixed_size - h), (0, self.fixed_size - w)))
        (out,) = self.session.run([self.output_name], {self.input_name: x})
        out = out[:, :, :h, :w].astype(np.float32, copy=False)  # [B, K, h, w]
        return softmax_classes(out) if self.logits else out


class OnnxRefiner:
    """The spectral refiner's ONNX export (``models.onnx_export.export_refiner``) with the torch refiner's call:
    ``refine(probs [B, K, h, w], bands [B, 8, h, w]) -> refined probabilities [B, K, h, w]`` (float32).

    Attributes:
        classes: the refiner's classes, from the metadata.
        providers: the providers the session really uses.
    """

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None) -> None:
        from models.onnx_export import parse_metadata

        self.session = open_session(path, device, threads)
        self.providers: list[str] = list(self.session.get_providers())
        self.metadata: dict[str, Any] = parse_metadata(dict(self.session.get_modelmeta().custom_metadata_map))
        self.classes: list[str] = list(self.metadata.get("classes", []))

    def refine(self, probs: np.ndarray, bands: np.ndarray) -> np.ndarray:
        feeds = {"probabilities": np.ascontiguousarray(probs, dtype=np.float32),
                 "bands": np.ascontiguousarray(bands, dtype=np.float32)}
        (out,) = self.session.run(["refined"], feeds)
        return out


def softmax_classes(logits: np.ndarray) -> np.ndarray:
    """Softmax over axis 1 (classes) of ``[B, K, h, w]`` float32 logits, for exports of format 1."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted, out=shifted)
    return e / e.sum(axis=1, keepdims=True)

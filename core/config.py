"""Engine settings: which model, where it runs, how scenes are tiled; validated once, when made.

The one source of the engine's defaults and limits: the CLI and the plugin pass only what the user set
(:meth:`EngineConfig.from_user`), and a bad value is one :class:`core.errors.InputError` sentence raised
before any model loads.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from typing import Any, Optional

from core.errors import InputError

DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "torch", "onnx")  # auto: onnx on CPU, torch on CUDA
TILE_MIN, TILE_MAX = 32, 8192  # tile size in pixels
BATCH_MAX = 256  # tiles per forward pass
TOKENS_MAX = 1024  # longest generated answer


@dataclass(frozen=True)
class EngineConfig:
    model: str = "default"  # "default" (resources/model), "tiny" (random, for tests) or a checkpoint dir
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    backend: str = "auto"  # auto | torch | onnx (segmentation encoder); auto: onnx on CPU, torch on CUDA
    tile: int = 512  # tile size in pixels
    overlap: int = 64  # overlap between tiles in pixels
    batch_size: int = 4  # tiles per forward pass
    semantic_db: Optional[str] = None  # faiss database dir; None -> the model's default
    min_object_m2: float = 0.0  # connected components smaller than this are not counted
    max_new_tokens: int = 96
    seed: int = 0
    spectral: bool = True  # segment with NIR/SWIR when the raster has them and the model has a spectral refiner

    def __post_init__(self) -> None:
        for problem in _problems(self):
            raise InputError(problem)

    @classmethod
    def from_user(cls, **given: Any) -> EngineConfig:
        """A config from the options a user set; ``None`` (not set) keeps the default. Unknown names raise."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise InputError(f"Unknown engine setting {', '.join(unknown)}; known: {', '.join(sorted(names))}.")
        return cls(**{k: v for k, v in given.items() if v is not None})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problems(c: EngineConfig) -> list[str]:
    """Every rule the settings break, as one sentence each (the first is raised)."""
    out = []
    if not isinstance(c.model, str) or not c.model.strip():
        out.append("The model is empty; use 'default', 'tiny' or a checkpoint folder.")
    if c.device not in DEVICES and not (isinstance(c.device, str) and c.device.startswith("cuda:")
                                        and c.device[5:].isdigit()):
        out.append(f"Unknown device '{c.device}'; choose {', '.join(DEVICES)} (or cuda:N).")
    if c.backend not in BACKENDS:
        out.append(f"Unknown backend '{c.backend}'; choose {', '.join(BACKENDS)}.")
    if not _is_int(c.tile) or not TILE_MIN <= c.tile <= TILE_MAX:
        out.append(f"The tile size must be a whole number of pixels from {TILE_MIN} to {TILE_MAX} (got {c.tile}).")
    elif not _is_int(c.overlap) or not 0 <= c.overlap <= c.tile // 2:
        out.append(f"The overlap must be a whole number of pixels from 0 to half the tile size, {c.tile // 2} "
                   f"(got {c.overlap}).")
    if not _is_int(c.batch_size) or not 1 <= c.batch_size <= BATCH_MAX:
        out.append(f"The batch size must be a whole number from 1 to {BATCH_MAX} (got {c.batch_size}).")
    if c.semantic_db is not None and (not isinstance(c.semantic_db, str) or not c.semantic_db.strip()):
        out.append("The semantic database path is empty; leave it out to use the model's own.")
    if not isinstance(c.min_object_m2, (int, float)) or isinstance(c.min_object_m2, bool) \
            or not 0 <= c.min_object_m2 < float("inf"):
        out.append(f"The smallest object must be 0 m² or more (got {c.min_object_m2}).")
    if not _is_int(c.max_new_tokens) or not 1 <= c.max_new_tokens <= TOKENS_MAX:
        out.append(f"The answer length must be from 1 to {TOKENS_MAX} tokens (got {c.max_new_tokens}).")
    if not isinstance(c.spectral, bool):
        out.append(f"The spectral setting must be true or false (got {c.spectral!r}).")
    if not _is_int(c.seed):
        out.append(f"The seed must be a whole number (got {c.seed}).")
    return out


def engine_options(p: argparse.ArgumentParser) -> None:
    """The engine's settings as options (``python -m core`` commands and ``python -m core batch``)."""
    d = EngineConfig()  # the one place the defaults live
    p.add_argument("--model", help=f"'default' (shipped), 'tiny' (random) or a checkpoint dir (default {d.model})")
    p.add_argument("--device", choices=DEVICES, help=f"default {d.device}")
    p.add_argument("--backend", choices=BACKENDS, help="segmentation backend; auto: onnx on CPU, torch on CUDA "
                   f"(default {d.backend})")
    p.add_argument("--tile", type=int, help=f"tile size in pixels (default {d.tile})")
    p.add_argument("--overlap", type=int, help=f"tile overlap in pixels (default {d.overlap})")
    p.add_argument("--batch-size", type=int, help=f"tiles per forward pass (default {d.batch_size})")
    p.add_argument("--semantic-db", help="semantic database directory (default: the model's)")


def engine_config(args: argparse.Namespace, **more: Any) -> EngineConfig:
    """The engine config from what the user set (the rest keeps EngineConfig's defaults), validated now."""
    return EngineConfig.from_user(model=args.model, device=args.device, backend=args.backend, tile=args.tile,
                                  overlap=args.overlap, batch_size=args.batch_size, semantic_db=args.semantic_db,
                                  spectral=False if getattr(args, "rgb_only", False) else None, **more)

"""Checkpoints of trained parts only: ``config.json`` (bases by name/path + sha256) and ``model.safetensors``.

Base components (vision backbone, text encoder, LLM) are rebuilt from the config and checked against the
sha256 recorded there; the safetensors file holds the rest. No pickle: safetensors and JSON only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

WEIGHTS_NAME = "model.safetensors"
FORMAT = "earthask-trained-1"  # safetensors metadata "format"


class CheckpointError(ValueError):
    """A checkpoint that does not fit the model rebuilt from its config."""


def unique_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """State dict with each shared tensor once, under its first name (a shared encoder appears twice)."""
    seen: set[int] = set()
    out = {}
    for name, t in model.state_dict(keep_vars=True).items():
        if id(t) not in seen:
            seen.add(id(t))
            out[name] = t
    return out


def required_names(model: nn.Module, is_base: Callable[[str], bool]) -> list[str]:
    """The names a checkpoint of ``model`` must hold: every unique non-base tensor."""
    return [n for n in unique_state(model) if not is_base(n)]


def base_fingerprint(model: nn.Module, is_base: Callable[[str], bool]) -> dict[str, tuple[float, float]]:
    """(sum, L2 norm) in float64 of every base tensor: enough to tell later whether training changed it."""
    names, stats = [], []
    for name, t in unique_state(model).items():
        if is_base(name):
            x = t.detach() if t.is_floating_point() else t.detach().double()
            names.append(name)
            stats.append(torch.stack([x.sum(dtype=torch.float64),
                                      torch.linalg.vector_norm(x, dtype=torch.float64)]).cpu())
    values = torch.stack(stats).tolist() if stats else []
    return {n: (v[0], v[1]) for n, v in zip(names, values)}


def changed_base(model: nn.Module, is_base: Callable[[str], bool],
                 reference: dict[str, tuple[float, float]]) -> set[str]:
    """Base tensors whose fingerprint differs from ``reference`` (e.g. a backbone tuned by a stage).

    A relative tolerance of 1e-9 absorbs float64 summation order (CPU vs GPU); any training step moves a
    tensor's sum or norm by far more.
    """
    def differ(a: float, b: float) -> bool:
        return abs(a - b) > 1e-9 * max(abs(a), abs(b), 1e-30)

    now = base_fingerprint(model, is_base)
    return {n for n, v in now.items() if n not in reference or any(map(differ, v, reference[n]))}


def trained_state(model: nn.Module, is_base: Callable[[str], bool],
                  tuned: set[str] = frozenset()) -> dict[str, torch.Tensor]:
    """Tensors to save: every non-base tensor, the base tensors in ``tuned``, and base parameters that are
    trainable now (``requires_grad``)."""
    out = {}
    for name, t in unique_state(model).items():
        trainable = isinstance(t, nn.Parameter) and t.requires_grad
        if not is_base(name) or name in tuned or trainable:
            out[name] = t.detach().to("cpu").contiguous().clone()
    return out


def save_trained(model: nn.Module, directory: str | Path, is_base: Callable[[str], bool],
                 tuned: set[str] = frozenset(), metadata: dict[str, str] | None = None) -> Path:
    """Write ``model.safetensors`` with the trained tensors of ``model``; returns its path."""
    path = Path(directory) / WEIGHTS_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(trained_state(model, is_base, tuned), str(path), metadata={"format": FORMAT, **(metadata or {})})
    return path


def load_trained(model: nn.Module, directory: str | Path, is_base: Callable[[str], bool],
                 drop: Callable[[str], bool] | None = None) -> list[str]:
    """Load ``model.safetensors`` into ``model`` strictly; returns the names loaded.

    ``drop`` names tensors of the file to leave out (a part switched off on load, see ``from_pretrained``).

    Raises:
        CheckpointError: a trained tensor is missing, a name is not in the model, a shape differs, or the
            file is not an EarthAsk checkpoint. Base parameters in the file (fine-tuned bases) are loaded.
    """
    path = Path(directory) / WEIGHTS_NAME
    if not path.is_file():
        raise CheckpointError(f"no {WEIGHTS_NAME} in {directory}")
    state = model.state_dict(keep_vars=True)
    with safe_open(str(path), framework="pt") as f:
        fmt = (f.metadata() or {}).get("format")
        if fmt != FORMAT:
            raise CheckpointError(f"{path} is not an EarthAsk checkpoint (format {fmt!r}, expected {FORMAT!r})")
        names = {n for n in f.keys() if drop is None or not drop(n)}
        missing = sorted(set(required_names(model, is_base)) - names)
        unexpected = sorted(names - set(state))
        if missing or unexpected:
            raise CheckpointError(f"{path} does not fit the model built from its config.json: "
                                  f"missing {_listing(missing)}; unexpected {_listing(unexpected)}")
        tensors = {n: f.get_tensor(n) for n in sorted(names)}
    wrong = [f"{n} {tuple(t.shape)} vs {tuple(state[n].shape)}" for n, t in tensors.items()
             if t.shape != state[n].shape]
    if wrong:
        raise CheckpointError(f"{path}: shape mismatch {_listing(wrong)}")
    with torch.no_grad():
        for n, t in tensors.items():
            state[n].copy_(t)  # same storage as the module's tensor: shared aliases get it too
    return sorted(names)


def _listing(names: list[str], limit: int = 20) -> str:
    if not names:
        return "none"
    more = f" ... and {len(names) - limit} more" if len(names) > limit else ""
    return f"{len(names)}: " + ", ".join(names[:limit]) + more


def save_pretrained(model: nn.Module, directory: str | Path) -> Path:
    """EarthVLM -> ``directory`` with ``config.json`` (base sha256s filled in) and ``model.safetensors``."""
    directory = Path(directory)
    cfg = dataclasses.replace(model.cfg, **model.base_digests())
    cfg.save(directory)
    save_trained(model, directory, model.is_base, model.tuned_base_names(),
                 metadata={"llm": cfg.llm_name, "vision": cfg.vision_name, "text": cfg.text_name})
    return directory


# Parts a checkpoint can switch off on load (ablations from a trained checkpoint): VLMConfig field -> the
# state-dict names of that part, whose tensors are then dropped. Switching a part on needs a new model.
SWITCHABLE: dict[str, Callable[[str], bool]] = {
    "guide_enabled": lambda n: n.startswith("guidance."),
    "retrieval_enabled": lambda n: n.startswith("retriever."),
    "experts_enabled": lambda n: n.startswith("llm.") and ".experts." in n,
}

# Parts a checkpoint can grow on load: VLMConfig field -> the state-dict names of the new part, which keep their
# seeded initialisation (a stage then trains them). Only parts that extend a trained part, never a new tower.
GROWABLE: dict[str, Callable[[str], bool]] = {
    "seg_detail": lambda n: n.startswith("segmenter.head.detail."),
}


def from_pretrained(cls: type, directory: str | Path, device: str | torch.device | None = "cpu",
                    switch_off: tuple[str, ...] = (), grow: tuple[str, ...] = ()) -> nn.Module:
    """Rebuild ``cls(config)`` (bases from names, checked against their sha256), then load trained tensors.

    ``switch_off``: ``SWITCHABLE`` fields to set False before building; the checkpoint's tensors of those
    parts are not loaded (the model has no such part). ``grow``: ``GROWABLE`` fields to set True; a part the
    checkpoint lacks keeps its seeded initialisation. Raises ValueError for a field in neither table.
    """
    from models.config import VLMConfig

    unknown = sorted(set(switch_off) - set(SWITCHABLE))
    if unknown:
        raise ValueError(f"cannot switch off {unknown} on a checkpoint; switchable: {sorted(SWITCHABLE)}")
    ungrowable = sorted(set(grow) - set(GROWABLE))
    if ungrowable:
        raise ValueError(f"cannot grow {ungrowable} on a checkpoint; growable: {sorted(GROWABLE)}")
    cfg = VLMConfig.load(directory)
    off = [f for f in switch_off if getattr(cfg, f)]
    new = [GROWABLE[f] for f in grow if not getattr(cfg, f)]
    cfg = dataclasses.replace(cfg, **{f: False for f in off}, **{f: True for f in grow})
    model = cls(cfg, device=device)
    drops = [SWITCHABLE[f] for f in off]
    optional = (lambda n: model.is_base(n) or any(g(n) for g in new)) if new else model.is_base
    loaded = load_trained(model, directory, optional, (lambda n: any(d(n) for d in drops)) if drops else None)
    model.mark_tuned_base({n for n in loaded if model.is_base(n)})  # saved again by the next save
    return model.eval()

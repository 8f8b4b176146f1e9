"""The model a fine-tune trains: the checkpoint's segmenter (and spectral refiner), grown to the user's classes,
and the model directory it is saved as (``config.json`` + ``model.safetensors``, as any checkpoint)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

GUIDE_EMBED = "guidance.embed.0.weight"  # [G, K, 3, 3]: the one checkpoint tensor outside the head sized by K
HEAD = "segmenter.head."


def class_list(base: list[str], mapping: dict[str, list[str]]) -> tuple[list[str], dict[str, list[int]]]:
    """The fine-tuned model's classes: the base classes, then each label class mapped to none (a new class).

    Returns the class list and, per label class, the indices of the classes it trains towards.
    """
    classes = list(base)
    targets: dict[str, list[int]] = {}
    for name, mapped in mapping.items():
        if not mapped:
            classes.append(name)
            targets[name] = [len(classes) - 1]
        else:
            targets[name] = [classes.index(c) for c in mapped]
    return classes, targets


def grow_classifier(conv: nn.Conv2d, k_new: int) -> nn.Conv2d:
    """A 1x1 classifier with ``k_new`` outputs: the first rows copied, new rows small random, their bias the
    lowest old bias (a new class starts unlikely, so the base map is unchanged until it is learned)."""
    k_old = conv.out_channels
    out = nn.Conv2d(conv.in_channels, k_new, 1)
    with torch.no_grad():
        out.weight.normal_(0.0, 0.01)
        out.weight[:k_old] = conv.weight
        out.bias[:k_old] = conv.bias
        out.bias[k_old:] = conv.bias.min()
    return out


def grow_refiner(refiner: Any, classes: list[str]) -> Any:
    """A :class:`models.spectral.SpectralRefiner` for ``classes`` (the old ones first): old weights kept, the new
    classes' input channels and outputs start at zero (so their correction starts at zero)."""
    from models.spectral import SpectralConfig, SpectralRefiner

    k_old, k_new = len(refiner.cfg.classes), len(classes)
    grown = SpectralRefiner(SpectralConfig(classes=list(classes), hidden=refiner.cfg.hidden,
                                           trained_on=dict(refiner.cfg.trained_on)))
    old, new = refiner.net, grown.net
    with torch.no_grad():
        new[0].weight.zero_()
        new[0].weight[:, :k_old] = old[0].weight[:, :k_old]  # log-probability inputs
        new[0].weight[:, k_new:] = old[0].weight[:, k_old:]  # band planes and indices
        new[0].bias.copy_(old[0].bias)
        new[2].load_state_dict(old[2].state_dict())
        new[4].weight.zero_()
        new[4].bias.zero_()
        new[4].weight[:k_old] = old[4].weight
        new[4].bias[:k_old] = old[4].bias
    return grown


class Trainable(nn.Module):
    """``forward(x [B, 3 (+8), H, W]) -> (log-probabilities [B, K, H, W], the base model's [B, K0, H, W] or None)``:
    one frozen encoder pass feeds the trained head (then the refiner on the reflectance planes when there is one,
    as the engine runs them: refine(log p)) and, without gradients, the base model's head and refiner."""

    def __init__(self, segmenter: Any, refiner: Any = None, base_head: Any = None, base_refiner: Any = None) -> None:
        super().__init__()
        self.segmenter = segmenter
        self.refiner = refiner
        self.base = nn.ModuleDict({"head": base_head} if base_head is not None else {})
        self.base_refiner = [base_refiner]  # a list: not a submodule, never trained
        for p in list(self.segmenter.encoder.parameters()) + list(self.base.parameters()):
            p.requires_grad_(False)
        if base_refiner is not None:
            for p in base_refiner.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> Trainable:
        super().train(mode)
        self.segmenter.encoder.eval()
        self.base.eval()
        for m in self.segmenter.head.modules():  # batch statistics stay the base's (small batches)
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    @staticmethod
    def _logp(logits: torch.Tensor, refiner: Any, x: torch.Tensor) -> torch.Tensor:
        if refiner is None or x.shape[1] == 3:
            return torch.log_softmax(logits, dim=1)
        logp = torch.log(torch.softmax(logits, dim=1).clamp(min=1e-6))  # what SpectralRefiner.refine gives it
        return torch.log_softmax(refiner(logp, x[:, 3:]), dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
        with torch.no_grad():
            levels, detail = self.segmenter.encode(x[:, :3])
            base = None
            if "head" in self.base:
                base = self._logp(self.base["head"](levels, x.shape[-2:], detail), self.base_refiner[0], x)
        logits = self.segmenter.head(levels, x.shape[-2:], detail)  # [B, K, H, W]
        return self._logp(logits, self.refiner, x), base


def load_base(directory: Path, classes: list[str], with_refiner: bool) -> tuple[Any, Any, Any, Any]:
    """(segmenter grown to ``classes``, refiner grown or None, the base head, the base refiner or None), on CPU."""
    from core.imagery.refiner import load_refiner, refiner_dir
    from models.segmenter import load_segmenter

    seg = load_segmenter(directory)
    base_refiner = None
    folder = refiner_dir(str(directory)) if with_refiner else None
    if folder is not None:
        base_refiner = load_refiner(folder, list(seg.classes), "cpu")
    import copy

    tuned = copy.deepcopy(seg)
    tuned.head.classifier = grow_classifier(seg.head.classifier, len(classes))
    tuned.head.num_classes = len(classes)
    tuned.classes = list(classes)
    refiner = grow_refiner(base_refiner, classes) if base_refiner is not None else None
    return tuned, refiner, seg.head, base_refiner


def save_model(base: Path, out: Path, segmenter: Any, refiner: Any, classes: list[str], model_id: str,
               record: dict[str, Any], card: Optional[str] = None) -> Path:
    """Write the fine-tuned checkpoint: the base's config with the new classes, the base's trained tensors with
    the new head (and the guidance embedding grown with zero channels for new classes), its refiner in
    ``spectral/``, ``model_id.txt``, ``labels.json`` (what it learned from) and a README card."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    config = json.loads((base / "config.json").read_text())
    k_old = len(config["seg_classes"])
    config["seg_classes"] = list(classes)
    with safe_open(str(base / "model.safetensors"), framework="pt") as f:
        metadata = f.metadata() or {}
        tensors = {n: f.get_tensor(n) for n in f.keys()}
    head = {HEAD + n: t.detach().cpu().contiguous().clone() for n, t in segmenter.head.state_dict().items()}
    missing = sorted(set(head) - set(tensors))
    if missing:
        raise ValueError(f"{base}: the checkpoint's head has no tensor {missing[0]}")
    tensors.update(head)
    if GUIDE_EMBED in tensors and tensors[GUIDE_EMBED].shape[1] == k_old and len(classes) > k_old:
        old = tensors[GUIDE_EMBED]
        grown = torch.zeros(old.shape[0], len(classes), *old.shape[2:], dtype=old.dtype)
        grown[:, :k_old] = old
        tensors[GUIDE_EMBED] = grown
    tmp = out / "model.safetensors.part"
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(out / "model.safetensors")
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "model_id.txt").write_text(model_id + "\n")
    (out / "labels.json").write_text(json.dumps(record, indent=2))
    if (out / "spectral").exists():
        shutil.rmtree(out / "spectral")
    if refiner is not None:
        refiner.save_pretrained(out / "spectral")
    from core.models_io import DEFAULT_DB_DIR, DEFAULT_MODEL_DIR

    db = base / "semantic_db"  # the text tower is unchanged: the base's database serves the new model as well
    db = db if db.is_dir() else (DEFAULT_DB_DIR if base.resolve() == DEFAULT_MODEL_DIR.resolve() else None)
    if db is not None and db.is_dir() and not (out / "semantic_db").exists():
        shutil.copytree(db, out / "semantic_db")
    if card:
        (out / "README.md").write_text(card)
    return out

"""Fine-tune a checkpoint's segmentation head (and spectral refiner) on the analyst's label polygons."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.errors import InputError
from core.labels.rasterise import Labels, read_labels, resolve_mapping
from core.labels.split import Split, spatial_split
from core.progress import CancelledFn, ProgressFn, check_cancelled, no_progress


@dataclass
class FinetuneOptions:
    """What a fine-tune does; the defaults take a few minutes on 2 CPU cores."""

    steps: int = 300  # optimiser steps
    batch: int = 8  # windows per step
    crop: int = 128  # window side, pixels
    lr: float = 2e-3  # AdamW learning rate (cosine decay)
    held_out: float = 0.25  # share of labelled area held out for the before/after scores (0: none)
    block_m: float = 0.0  # side of the held-out blocks (0: a quarter of the labels' extent)
    gap_m: float = 0.0  # training polygons this close to a held-out one are dropped (0: a tenth of a block)
    keep: float = 0.2  # weight of keeping the base model's answers on unlabelled pixels of the windows
    spectral: bool = True  # train the spectral refiner too, when the model has one and the raster has NIR
    seed: int = 0


@dataclass
class FinetuneResult:
    """What a fine-tune made, and how it was made."""

    out: Path
    classes: list[str]
    new_classes: list[str]
    mapping: dict[str, list[str]]
    split: Split
    seconds: float
    losses: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def set_loss(logp: Any, target: Any, sets: Any) -> Any:
    """Mean over labelled pixels of ``-log sum_{c in S(label)} p_c``: a label stands for a set of model classes
    (e.g. "vegetation" = forest + agriculture); with one class it is the cross-entropy.

    Args:
        logp: ``[B, K, H, W]`` log-probabilities.
        target: ``[B, H, W]`` label class index, -1 unlabelled.
        sets: ``[L, K]`` bool, the classes each label class stands for.
    """
    import torch

    labelled = target >= 0
    if not labelled.any():
        return logp.sum() * 0.0
    allowed = sets[target.clamp(min=0)].permute(0, 3, 1, 2)  # [B, K, H, W]
    nll = -torch.logsumexp(logp.masked_fill(~allowed, float("-inf")), dim=1)  # [B, H, W]
    return nll[labelled].mean()


def keep_loss(logp: Any, base_logp: Any, target: Any) -> Any:
    """Cross-entropy to the base model's probabilities on unlabelled pixels (its classes only)."""
    import torch

    free = target < 0
    if not free.any():
        return logp.sum() * 0.0
    k = base_logp.shape[1]
    ce = -(torch.exp(base_logp) * logp[:, :k]).sum(dim=1)  # [B, H, W]
    return ce[free].mean()


def model_dir(name: str) -> Path:
    """``default`` -> resources/model; otherwise the checkpoint folder (checked)."""
    from core.models_io import DEFAULT_MODEL_DIR, check_checkpoint

    directory = DEFAULT_MODEL_DIR if name == "default" else Path(name).expanduser()
    check_checkpoint(directory)
    return directory


def finetune(rasters: Sequence[str], labels_path: str, class_field: str, out: str | Path, model: str = "default",
             mapping: Optional[dict[str, list[str]]] = None, options: Optional[FinetuneOptions] = None,
             progress: ProgressFn = no_progress, cancelled: Optional[CancelledFn] = None,
             log: Callable[[str], None] = lambda s: None) -> FinetuneResult:
    """Train the segmentation head (and refiner) of ``model`` on the polygons of ``labels_path`` and save the
    result as a checkpoint in ``out`` (see :func:`core.labels.model.save_model`).

    Label classes mapped (``--map``, same name, or a class word) to model classes train towards them; the others
    become new classes after the base ones. A spatially separated share of the polygons is held out (not trained
    on) and recorded in ``labels.json`` so the before/after scores are measured on ground the model never saw.

    Raises:
        InputError: unreadable inputs, a raster the labels do not touch, or an ``out`` that is the base model.
        core.errors.Cancelled: ``cancelled()`` turned True (nothing is written).
    """
    import rasterio
    import torch

    from core.labels.model import Trainable, class_list, load_base, save_model
    from core.labels.windows import prepare, sample_batch

    opts = options or FinetuneOptions()
    start = time.perf_counter()
    base = model_dir(model)
    out = Path(out).expanduser()
    if out.resolve() == base.resolve():
        raise InputError("--out is the base model's folder: choose a new folder")
    if not rasters:
        raise InputError("give at least one raster")
    with rasterio.open(rasters[0]) as ds:
        crs = ds.crs
    labels = read_labels(labels_path, class_field, crs)
    if labels.frame.crs is not None and labels.frame.crs.is_geographic:
        labels = Labels(labels.frame.to_crs(labels.frame.estimate_utm_crs()), labels.names)
    from models.config import VLMConfig

    base_classes = list(VLMConfig.load(base).seg_classes)
    mapping = resolve_mapping(labels.names, base_classes, mapping)
    classes, targets = class_list(base_classes, mapping)
    new = [c for c in classes if c not in base_classes]
    split = (spatial_split(labels, opts.held_out, opts.block_m, opts.gap_m, opts.seed) if opts.held_out > 0
             else Split([int(i) for i in labels.frame["polygon_id"]], []))
    train_labels = labels.subset(split.train)
    rng = np.random.default_rng(opts.seed)
    torch.manual_seed(opts.seed)
    prepared = [prepare(r, train_labels, opts.spectral, rng) for r in rasters]
    prepared = [p for p in prepared if p.centres]
    if not prepared:
        raise InputError("no training polygon covers a pixel of the raster(s)")
    spectral = opts.spectral and all(p.spectral for p in prepared)
    segmenter, refiner, base_head, base_refiner = load_base(base, classes, spectral)
    notes = list(split_notes(split, labels))
    if opts.spectral and refiner is None:
        notes.append("no spectral refiner trained: the model has none, or a raster lacks NIR")
    keep = opts.keep > 0
    net = Trainable(segmenter, refiner, base_head if keep else None, base_refiner if keep else None)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=opts.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(opts.steps, 1))
    sets = torch.zeros(len(labels.names), len(classes), dtype=torch.bool)
    for i, name in enumerate(labels.names):
        sets[i, targets[name]] = True
    net.train()
    losses = []
    for step in range(1, opts.steps + 1):
        check_cancelled(cancelled)
        images, target = sample_batch(prepared, len(labels.names), opts.batch, opts.crop, rng)
        x, y = torch.from_numpy(images), torch.from_numpy(target)
        if not spectral:
            x = x[:, :3]
        logp, base_logp = net(x)
        loss = set_loss(logp, y, sets)
        if base_logp is not None:
            loss = loss + opts.keep * keep_loss(logp, base_logp, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.item()))
        if step % 25 == 0 or step == opts.steps:
            log(f"step {step}/{opts.steps} loss {np.mean(losses[-25:]):.4f}")
        progress(step / opts.steps, f"fine-tuning: step {step}/{opts.steps}")
    check_cancelled(cancelled)
    seconds = time.perf_counter() - start
    from core.models_io import model_id_of

    digest = hashlib.sha256(repr((labels_path, class_field, opts.seed, opts.steps, classes)).encode()).hexdigest()
    model_id = f"{model_id_of(base)}-labels-{digest[:8]}"
    record = {"base": str(base), "base_model_id": model_id_of(base), "rasters": [str(r) for r in rasters],
              "labels": str(labels_path), "class_field": class_field, "mapping": mapping, "classes": classes,
              "new_classes": new, "split": asdict(split), "options": asdict(opts), "seconds": round(seconds, 1),
              "final_loss": float(np.mean(losses[-25:])) if losses else None, "spectral": refiner is not None}
    net.eval()
    card = (f"# Model card: `{model_id}`\n\nFine-tuned from `{model_id_of(base)}` on the label polygons of "
            f"`{labels_path}` (field `{class_field}`) over {len(rasters)} raster(s): {opts.steps} steps of "
            f"{opts.batch} windows of {opts.crop} px, {seconds:.0f} s. Trained: the segmentation head"
            f"{' and the spectral refiner' if refiner is not None else ''}; the encoder and the language side are "
            f"the base's.\n\nClasses: {', '.join(classes)} (new: {', '.join(new) or 'none'}). Label classes and "
            f"what they train towards: {mapping}.\n\n{'; '.join(notes)}. `labels.json` lists the held-out "
            "polygons; `report/` (from `python -m core.train finetune`) scores them before and after.\n")
    save_model(base, out, net.segmenter, net.refiner if spectral else None, classes, model_id, record, card)
    return FinetuneResult(out, classes, new, mapping, split, seconds, losses, notes)


def split_notes(split: Split, labels: Labels) -> list[str]:
    """One line on the split: how many polygons train, are held out and dropped as neighbours."""
    yield_ = [f"{len(split.train)} training polygons, {len(split.held_out)} held out (blocks of "
              f"{split.block_m:.0f} m), {len(split.dropped)} dropped within {split.gap_m:.0f} m of a held-out one"]
    held = set(labels.subset(split.held_out).frame["label"])
    missing = [n for n in labels.names if n not in held]
    if split.held_out and missing:
        yield_.append(f"no held-out polygon of {missing}: those classes are not scored after training")
    return yield_

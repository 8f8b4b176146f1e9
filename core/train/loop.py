"""The one training loop every stage shares: DDP, mixed precision, accumulation, logging, checkpoints.

A stage says what to train and on what (:class:`Stage`); the loop does the rest. Checkpoint layout in the
stage's output directory::

    config.json + model.safetensors   the model (its own save_pretrained)
    trainer_state.pt                  step, optimizer, scheduler, grad scaler, RNG (plain tensors/dicts;
                                      read back with torch.load(weights_only=True))
    train_config.json                 the resolved stage config and run facts
    metrics.csv, metrics.png          the logged metrics and their plot
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Optional, Protocol

from core.train.config import StageConfig, save_resolved
from core.train.distributed import DistInfo, barrier, cleanup, init_distributed, mean_across, wrap_ddp
from core.train.logging import MetricsLog, plot_metrics
from core.train.state import STATE_FILE, load_trainer_state, rng_state, save_checkpoint, set_rng_state


class Stage(Protocol):
    """What a stage supplies to the loop."""

    name: str

    def datasets(self, model: Any, cfg: StageConfig) -> tuple[Any, Optional[Any]]:
        """(train, validation or None) map-style datasets."""

    def collate(self, items: list[Any]) -> dict[str, Any]:
        """A list of dataset items -> one batch dict (tensors moved to the device by the loop)."""

    def configure(self, model: Any, cfg: StageConfig) -> list[dict[str, Any]]:
        """Set ``requires_grad`` on the model and return the optimizer's parameter groups."""

    def loss_module(self, model: Any, cfg: StageConfig) -> Any:
        """An ``nn.Module`` whose ``forward(batch)`` returns ``{"loss": tensor, other scalar metrics}``."""


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` -> bf16 (or fp16 without bf16 support) on CUDA, fp32 on CPU; fp16 needs CUDA."""
    import torch

    cuda = device.startswith("cuda")
    if precision == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision not in ("fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, not {precision!r}")
    if precision == "fp16" and not cuda:
        raise ValueError("precision=fp16 needs CUDA (use bf16 or fp32 on CPU)")
    return precision


def autocast(device: str, precision: str) -> contextlib.AbstractContextManager:
    """Autocast for bf16/fp16; nothing for fp32."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.split(":")[0], dtype=dtype)


def lr_factor(step: int, cfg: StageConfig) -> float:
    """Multiplier of the peak lr at ``step``: linear warmup, then cosine/linear decay to min_lr_ratio."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    span = max(1, cfg.steps - cfg.warmup_steps)
    t = min(1.0, max(0.0, (step - cfg.warmup_steps) / span))
    if cfg.schedule == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * t))
    elif cfg.schedule == "linear":
        decay = 1.0 - t
    else:
        raise ValueError(f"schedule must be cosine, linear or constant, not {cfg.schedule!r}")
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * decay


def to_device(batch: Any, device: str) -> Any:
    """Move every tensor inside nested dicts/lists/tuples to ``device``."""
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def batches(dataset: Any, collate: Callable, cfg: StageConfig, info: DistInfo, start: int) -> Iterator[Any]:
    """Endless batches for this process, starting after ``start`` batches already consumed.

    Epoch ``e`` is the DistributedSampler permutation with seed ``cfg.seed`` and epoch ``e``, so a resumed
    run sees exactly the batches it would have seen.
    """
    import torch
    from torch.utils.data import DataLoader, DistributedSampler

    sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True,
                                 seed=cfg.seed, drop_last=False)
    per_rank = len(sampler)
    if per_rank == 0:
        raise ValueError("the training set is empty")
    drop_last = per_rank >= cfg.batch_size
    per_epoch = per_rank // cfg.batch_size if drop_last else 1
    epoch, skip = divmod(start, per_epoch)
    while True:
        sampler.set_epoch(epoch)
        order = list(sampler)[skip * cfg.batch_size:]
        # an own generator: making the loader must not draw from the global RNG (exact resume)
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=order, collate_fn=collate,
                            num_workers=cfg.num_workers, drop_last=drop_last, generator=gen,
                            pin_memory=info.device.startswith("cuda"))
        yield from loader
        epoch, skip = epoch + 1, 0


def _scalars(out: dict[str, Any]) -> dict[str, float]:
    return {k: float(v.detach().float().item()) if hasattr(v, "detach") else float(v) for k, v in out.items()}


def _detached(out: dict[str, Any]) -> dict[str, Any]:
    """Metrics as detached float tensors (no device sync) or floats."""
    return {k: v.detach().float() if hasattr(v, "detach") else float(v) for k, v in out.items()}


def evaluate_loss(module: Any, dataset: Any, collate: Callable, cfg: StageConfig, info: DistInfo,
                  precision: str) -> dict[str, float]:
    """Mean of the loss module's outputs over ``cfg.eval_batches`` validation batches (all ranks)."""
    import torch
    from torch.utils.data import DataLoader, DistributedSampler

    sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=False)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate,
                        generator=torch.Generator().manual_seed(0))
    sums: dict[str, float] = {}
    n = 0
    module.eval()
    with torch.no_grad():
        for batch in itertools.islice(loader, cfg.eval_batches):
            with autocast(info.device, precision):
                vals = _scalars(module(to_device(batch, info.device)))
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
    module.train()
    means = {f"val_{k}": v / max(n, 1) for k, v in sums.items()}
    return mean_across(info, means)


def train_stage(
    stage: Stage,
    cfg: StageConfig,
    out_dir: str | Path,
    create_model: Callable[[], Any],
    load_model: Callable[[str | Path, str], Any],
    init: Optional[str | Path] = None,
    resume: bool = False,
    meta: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """Train ``stage`` for ``cfg.steps`` optimizer steps; the checkpoint goes to ``out_dir``.

    The model comes from ``out_dir`` when resuming, else from ``init`` (a checkpoint directory), else from
    ``create_model()``. Returns a summary (stage, step, loss, val_loss, seconds, out).
    """
    info = init_distributed(cfg.device)
    out = Path(out_dir)
    try:
        return _train(stage, cfg, out, create_model, load_model, init, resume, meta or {}, info)
    finally:
        cleanup(info)


def _train(stage: Stage, cfg: StageConfig, out: Path, create_model: Callable, load_model: Callable,
           init: Optional[str | Path], resume: bool, meta: dict[str, Any], info: DistInfo) -> dict[str, Any]:
    import torch
    from tqdm import tqdm

    state = load_trainer_state(out) if resume else None
    if state is None and (out / STATE_FILE).exists():
        raise FileExistsError(f"{out} already holds a checkpoint: pass --resume or choose another --out")
    if state is not None and state.get("done") and state["step"] >= cfg.steps:
        return dict(state.get("summary", {}), out=str(out), skipped=True)

    torch.manual_seed(cfg.seed)  # identical initialisation on every rank (DDP broadcasts it anyway)
    if state is not None:
        model = load_model(out, "cpu")
    elif init is not None:
        model = load_model(init, "cpu")
    else:
        model = create_model()
    torch.manual_seed(cfg.seed + info.rank)  # dropout and augmentation differ between ranks
    random.seed(cfg.seed + info.rank)
    precision = resolve_precision(cfg.precision, info.device)
    groups = stage.configure(model, cfg)
    model.to(info.device)
    params = [p for g in groups for p in g["params"]]
    if not params:
        raise ValueError(f"stage {stage.name}: nothing to train")
    module = stage.loss_module(model, cfg)
    ddp = wrap_ddp(module, info, find_unused=cfg.ddp_find_unused)
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    step, seconds = 0, 0.0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        step, seconds = int(state["step"]), float(state["seconds"])
        rng = state["rng"]
        if isinstance(rng, list):  # one per rank; a different world size keeps the fresh seeds
            rng = rng[info.rank] if len(rng) == info.world_size else None
        if rng is not None:
            set_rng_state(rng)

    train_set, val_set = stage.datasets(model, cfg)
    if cfg.limit and len(train_set) > cfg.limit:
        from torch.utils.data import Subset

        train_set = Subset(train_set, range(cfg.limit))
    log = MetricsLog(out / "metrics.csv", resume_step=step) if info.is_main else None
    facts = {**meta, "world_size": info.world_size, "device": info.device, "precision": precision,
             "torch": torch.__version__, "init": str(init) if init else None,
             "train_samples": len(train_set), "val_samples": len(val_set) if val_set is not None else 0}
    if info.is_main:
        save_resolved(out / "train_config.json", stage.name, cfg, facts)

    data = batches(train_set, stage.collate, cfg, info, start=step * cfg.grad_accum)
    bar = tqdm(total=cfg.steps, initial=step, desc=stage.name, file=sys.stderr, disable=not info.is_main,
               dynamic_ncols=True)
    started = time.perf_counter() - seconds
    window: dict[str, Any] = {}  # sums since the last CSV row (tensors: read once per row, not per step)
    window_steps, skipped = 0, 0
    last: dict[str, float] = {}
    val: dict[str, float] = {}
    module.train()

    def write_checkpoint(done: bool) -> None:
        rng = rng_state()
        if info.enabled:  # every rank's RNG, gathered on rank 0
            import torch.distributed as dist

            all_rng: list[Any] = [None] * info.world_size
            dist.all_gather_object(all_rng, rng)
            rng_out: Any = all_rng
        else:
            rng_out = rng
        if info.is_main:
            summary = {"stage": stage.name, "step": step, **last}
            save_checkpoint(model, out, {
                "step": step, "done": done, "seconds": time.perf_counter() - started,
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else {}, "rng": rng_out,
                "config": dataclasses.asdict(cfg), "summary": summary,
            })
        barrier(info)

    while step < cfg.steps:
        optimizer.zero_grad(set_to_none=True)
        micro: dict[str, Any] = {}
        for i in range(cfg.grad_accum):
            batch = to_device(next(data), info.device)
            sync = i == cfg.grad_accum - 1 or not info.enabled
            with (contextlib.nullcontext() if sync else ddp.no_sync()), autocast(info.device, precision):
                outputs = ddp(batch)
            loss = outputs["loss"]
            scaler.scale(loss / cfg.grad_accum).backward()
            for k, v in _detached(outputs).items():
                micro[k] = micro.get(k, 0.0) + v / cfg.grad_accum
        scaler.unscale_(optimizer)
        max_norm = cfg.max_grad_norm if cfg.max_grad_norm > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        if scaler.is_enabled() or torch.isfinite(norm):
            scaler.step(optimizer)  # a plain optimizer.step() unless fp16; fp16 skips inf/NaN steps itself
        else:
            skipped += 1  # gradients are all-reduced, so every rank takes the same decision
        scaler.update()
        scheduler.step()
        step += 1
        micro["grad_norm"] = norm.detach().float()
        for k, v in micro.items():
            window[k] = window.get(k, 0.0) + v
        window_steps += 1
        bar.update(1)

        is_last = step >= cfg.steps
        if val_set is not None and cfg.eval_batches > 0 and (
            is_last or (cfg.eval_every and step % cfg.eval_every == 0)
        ):
            val = evaluate_loss(module, val_set, stage.collate, cfg, info, precision)
        if is_last or step % max(1, cfg.log_every) == 0:
            means = {**mean_across(info, {k: float(v) / window_steps for k, v in window.items()}), **val}
            bar.set_postfix(loss=f"{means['loss']:.4f}")
            last = {k: v for k, v in means.items() if k == "loss" or k.startswith("val_")}
            val = {}
            if log is not None:
                log.log({"step": step, "stage": stage.name, "lr": scheduler.get_last_lr()[0],
                         "seconds": round(time.perf_counter() - started, 3), "skipped": skipped, **means})
            window, window_steps = {}, 0
        if is_last or (cfg.save_every and step % cfg.save_every == 0):
            write_checkpoint(done=is_last)
    bar.close()
    if info.is_main and log is not None and log.rows:
        plot_metrics(out / "metrics.csv", out / "metrics.png", title=f"stage {stage.name}")
    return {"stage": stage.name, "step": step, **last, "seconds": round(time.perf_counter() - started, 3),
            "out": str(out)}

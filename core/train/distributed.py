"""Multi-process plumbing for torchrun: process group from the environment, rank-0 writes, reductions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass
class DistInfo:
    """Where this process sits: rank among ``world_size`` processes, and its device."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str = ""  # "" when not distributed, else nccl | gloo
    device: str = "cpu"  # "cpu" or "cuda:N"
    owner: bool = False  # this call created the process group (and cleanup() destroys it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes checkpoints, logs and plots."""
        return self.rank == 0


def resolve_device(preference: str, local_rank: int = 0) -> str:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is present, else ``cpu``; ``cuda`` gets the local rank."""
    import torch

    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device=cuda asked for but CUDA is not available")
        return f"cuda:{local_rank}"
    return preference


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when ``WORLD_SIZE > 1`` (set by torchrun); a single process otherwise.

    Joining twice reuses the group (a multi-stage run keeps one). The backend is nccl on CUDA and gloo on
    CPU; rendezvous reads MASTER_ADDR / MASTER_PORT / RANK from the
    environment (``init_method="env://"``).
    """
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world <= 1:
        return DistInfo(0, 0, 1, "", dev)
    backend = "nccl" if dev.startswith("cuda") else "gloo"
    if dev.startswith("cuda"):
        torch.cuda.set_device(local_rank)
    owner = not dist.is_initialized()
    if owner:
        dist.init_process_group(backend=backend, init_method="env://", world_size=world, rank=rank)
    return DistInfo(rank, local_rank, world, dist.get_backend(), dev, owner)


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op in a single process)."""
    if info.enabled:
        import torch.distributed as dist

        if info.backend == "nccl":
            dist.barrier(device_ids=[info.local_rank])
        else:
            dist.barrier()


def mean_across(info: DistInfo, values: dict[str, float]) -> dict[str, float]:
    """The mean of each scalar over all processes (identity in a single process)."""
    if not info.enabled or not values:
        return dict(values)
    import torch
    import torch.distributed as dist

    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return {k: float(v) / info.world_size for k, v in zip(keys, t.tolist())}


def broadcast_object(info: DistInfo, obj: Any) -> Any:
    """Rank 0's ``obj`` on every process."""
    if not info.enabled:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cleanup(info: DistInfo) -> None:
    """Leave the process group if this process's :func:`init_distributed` call joined it."""
    if info.enabled and info.owner:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def wrap_ddp(module: Any, info: DistInfo, find_unused: bool = True) -> Any:
    """``DistributedDataParallel(module)`` when distributed, else ``module`` itself."""
    if not info.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [info.local_rank] if info.device.startswith("cuda") else None
    return DDP(module, device_ids=ids, find_unused_parameters=find_unused)

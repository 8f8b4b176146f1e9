"""sha256 digests that identify base weights: recorded in a checkpoint's config.json and checked on load."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    """Where converted base models and memoised digests live: ``$EARTHASK_CACHE`` or ``~/.cache/earthask``."""
    return Path(os.environ.get("EARTHASK_CACHE") or Path.home() / ".cache" / "earthask")


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of one file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def files_sha256(files: Sequence[str | Path], chunk: int = 1 << 22) -> str:
    """sha256 over the bytes of ``files`` in the given order ("" for none; one file: that file's sha256).

    Sharded checkpoints are memoised in ``cache_root()/digests.json`` keyed by path, size and mtime, so a
    15 GB LLM is hashed once; a single file is hashed every time (the bases we ship are small).
    """
    paths = [Path(f).resolve() for f in files]
    if len(paths) <= 1:
        return file_sha256(paths[0], chunk) if paths else ""
    memo_path = cache_root() / "digests.json"
    memo = json.loads(memo_path.read_text()) if memo_path.exists() else {}
    key = "|".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in paths)
    if key not in memo:
        h = hashlib.sha256()
        for p in paths:
            with open(p, "rb") as f:
                while block := f.read(chunk):
                    h.update(block)
        memo[key] = h.hexdigest()
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        memo_path.write_text(json.dumps(memo, indent=1))
    return memo[key]



def module_sha256(module: Any) -> str:
    """sha256 over a torch module's state (names, dtypes, shapes and bytes, in order): identifies the weights
    an export was made from, whatever the checkpoint folder is called."""
    import torch

    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()

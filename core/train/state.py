"""A stage's trainer state on disk: ``trainer_state.pt`` (step, optimizer, scheduler, scaler, RNG) beside the
model, written so that a crash mid-save leaves the previous checkpoint readable."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Optional

STATE_FILE = "trainer_state.pt"


def rng_state() -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(model: Any, out: Path, state: dict[str, Any]) -> None:
    """Model via ``save_pretrained`` into a temporary folder, its files renamed into ``out``, then the
    trainer state (temp file + rename): a crash mid-save leaves the previous checkpoint readable."""
    import shutil

    import torch

    tmp_dir = out / ".checkpoint.tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    model.save_pretrained(tmp_dir)
    for f in tmp_dir.iterdir():
        os.replace(f, out / f.name)
    tmp_dir.rmdir()
    tmp = out / (STATE_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, out / STATE_FILE)


def load_trainer_state(out: str | Path) -> Optional[dict[str, Any]]:
    """The saved trainer state of a stage directory, or None; never unpickles arbitrary objects."""
    import torch

    path = Path(out) / STATE_FILE
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)

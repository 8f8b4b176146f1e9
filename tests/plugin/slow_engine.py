"""A small slow stand-in engine for the task plumbing tests only (cancel, errors, reuse): not the real model."""

from __future__ import annotations

import os
import time

from core.errors import InputError
from core.progress import check_cancelled


class SlowEngine:
    """Built from an EngineConfig like the real Engine; each method checks ``cancelled`` once per "tile"."""

    def __init__(self, config) -> None:
        self.config = config
        self.pid = os.getpid()

    def tiles(self, n: int = 200, seconds: float = 0.05, progress=None, cancelled=None, on_text=None) -> str:
        for i in range(n):
            check_cancelled(cancelled)
            time.sleep(seconds)
            progress((i + 1) / n, f"tile {i + 1}/{n}")
            on_text(f"{i} ")
        return "all tiles"

    def stubborn(self, seconds: float = 30.0, progress=None, cancelled=None) -> str:
        """Never looks at ``cancelled`` (like a long model load)."""
        progress(0.5, "busy")
        time.sleep(seconds)
        return "done"

    def fail(self, kind: str = "runtime", progress=None, cancelled=None) -> None:
        if kind == "input":
            raise InputError("The raster has no CRS.")
        if kind == "memory":
            raise MemoryError()
        if kind == "crash":
            os._exit(3)
        raise RuntimeError("boom\nwith a second line")

    def whoami(self, progress=None, cancelled=None) -> dict:
        return {"pid": self.pid, "engine": id(self), "model": self.config.model, "tile": self.config.tile}

"""A small slow stand-in engine for the task plumbing tests only (cancel, errors, reuse): not the real model."""

from __future__ import annotations

import ctypes
import os
import time

from core.errors import InputError
from core.progress import check_cancelled
from core.results import CaptionResult, Provenance


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
        if kind == "segfault":  # a real invalid read, as a broken native library makes
            ctypes.string_at(0)
        raise RuntimeError("boom\nwith a second line")

    def echo(self, tag: str, steps: int = 5, seconds: float = 0.04, progress=None, cancelled=None,
             on_text=None) -> dict:
        """Streams progress and text tagged with ``tag``, then returns its arguments and when it ran (this process)."""
        start = time.monotonic()
        for i in range(steps):
            check_cancelled(cancelled)
            time.sleep(seconds)
            progress((i + 1) / steps, f"{tag} step {i + 1}/{steps}")
            on_text(f"{tag}{i} ")
        return {"tag": tag, "steps": steps, "pid": self.pid, "start": start, "end": time.monotonic()}

    def caption(self, raster: str, aoi=None, progress=None, cancelled=None, on_text=None) -> CaptionResult:
        """Forty "tiles" (2 s): time for a test to kill the process in the middle of a chat turn."""
        text = self.tiles(40, progress=progress, cancelled=cancelled, on_text=on_text)
        return CaptionResult(text, Provenance(raster=raster, aoi=aoi, tiles=40, device="cpu"))

    def whoami(self, progress=None, cancelled=None) -> dict:
        return {"pid": self.pid, "engine": id(self), "model": self.config.model, "tile": self.config.tile}

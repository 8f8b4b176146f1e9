"""Progress of a batch: a one-line bar with items/s and an ETA, and the summary at the end."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Optional, TextIO


@dataclass
class BatchProgress:
    """Counts of a batch and its throughput; draws on ``stream`` when ``enabled`` (a terminal, not --quiet)."""

    total: int = 0  # items known so far (grid cells are counted once their raster is opened)
    done: int = 0
    failed: int = 0
    skipped: int = 0
    tiles: int = 0
    enabled: bool = False
    lines: bool = False  # one line per finished item instead of a redrawn bar (for a program reading the log)
    stream: TextIO = field(default=sys.stderr)
    start: float = field(default_factory=time.monotonic)
    _last_draw: float = 0.0
    _last_count: int = -1

    @property
    def finished(self) -> int:
        """Items this run processed (done or failed), not those skipped."""
        return self.done + self.failed

    def rate(self, now: Optional[float] = None) -> float:
        """Items per second processed by this run."""
        elapsed = (now or time.monotonic()) - self.start
        return self.finished / elapsed if elapsed > 0 else 0.0

    def eta(self, now: Optional[float] = None) -> Optional[float]:
        """Seconds left at the current rate; None before the first item."""
        rate = self.rate(now)
        left = self.total - self.skipped - self.finished
        return left / rate if rate > 0 else None

    def line(self, now: Optional[float] = None) -> str:
        """``[#####.....] 12/40 (3 failed, 5 skipped) 1.8 items/s ETA 0:00:16``."""
        width = 30
        total = max(self.total, 1)
        filled = int(width * min((self.finished + self.skipped) / total, 1.0))
        eta = self.eta(now)
        eta_text = "--:--" if eta is None else _clock(eta)
        extra = ", ".join(x for x in (f"{self.failed} failed" if self.failed else "",
                                      f"{self.skipped} skipped" if self.skipped else "") if x)
        return (f"[{'#' * filled}{'.' * (width - filled)}] {self.finished + self.skipped}/{self.total}"
                f"{f' ({extra})' if extra else ''} {self.rate(now):.2f} items/s ETA {eta_text}")

    def update(self, force: bool = False) -> None:
        """Redraw the bar (at most 4 times a second unless ``force``)."""
        now = time.monotonic()
        if self.enabled and self.lines:
            count = self.finished + self.skipped
            if count != self._last_count:
                self._last_count = count
                self.stream.write("progress " + self.line(now).split("] ", 1)[1] + "\n")
                self.stream.flush()
            return
        if not self.enabled or (not force and now - self._last_draw < 0.25):
            return
        self._last_draw = now
        self.stream.write("\r" + self.line(now)[:119].ljust(119))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and not self.lines:
            self.update(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def summary(self) -> str:
        """``done 38, failed 2, skipped 0 in 21.4 s: 1.87 items/s, 7.5 tiles/s``."""
        elapsed = time.monotonic() - self.start
        items = self.finished / elapsed if elapsed > 0 else 0.0
        tiles = self.tiles / elapsed if elapsed > 0 else 0.0
        return (f"done {self.done}, failed {self.failed}, skipped {self.skipped} in {elapsed:.1f} s: "
                f"{items:.2f} items/s, {tiles:.2f} tiles/s")


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"

"""Progress and cancellation callables shared by every pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from core.errors import Cancelled

ProgressFn = Callable[[float, str], None]
CancelledFn = Callable[[], bool]


def no_progress(fraction: float, message: str) -> None:
    """Default progress callback: does nothing."""


def never_cancelled() -> bool:
    """Default cancel callback: never cancels."""
    return False


def check_cancelled(cancelled: Optional[CancelledFn]) -> None:
    """Raise :class:`Cancelled` when ``cancelled()`` says so."""
    if cancelled is not None and cancelled():
        raise Cancelled("cancelled by the user")


class SubProgress:
    """Maps a sub-task's 0..1 progress into ``[start, end]`` of a parent callback."""

    def __init__(self, parent: Optional[ProgressFn], start: float, end: float) -> None:
        self.parent = parent or no_progress
        self.start = start
        self.end = end

    def __call__(self, fraction: float, message: str) -> None:
        f = min(max(fraction, 0.0), 1.0)
        self.parent(self.start + (self.end - self.start) * f, message)

"""Run a command and stream its output line by line, with cancel and a time limit (QGIS-free)."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import Optional

from core.errors import Cancelled

LineFn = Callable[[str], None]
CancelledFn = Callable[[], bool]


class CommandTimedOut(RuntimeError):
    """The command ran past its time limit and was stopped."""


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\r\n"))
    lines.put(None)  # end of output


def _stop(popen: subprocess.Popen) -> None:
    popen.terminate()
    try:
        popen.wait(5)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(5)


def run_streaming(command: Sequence[str], on_line: Optional[LineFn] = None, cancelled: Optional[CancelledFn] = None,
                  env: Optional[dict[str, str]] = None, timeout: Optional[float] = None) -> int:
    """Run ``command``; every line of its output (stdout and stderr together) goes to ``on_line`` as it comes.

    Returns the exit status.

    Raises:
        Cancelled: ``cancelled()`` turned True; the command was stopped (terminate, then kill).
        CommandTimedOut: it ran longer than ``timeout`` seconds; it was stopped.
        OSError: the command could not be started (no such program...).
    """
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if os.name == "nt" else 0
    popen = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, text=True, encoding="utf-8", errors="replace", bufsize=1, creationflags=flags)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(popen.stdout, lines), daemon=True)
    reader.start()
    start = time.monotonic()
    try:
        while True:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                line = ""
            if line is None:
                break
            if line and on_line is not None:
                on_line(line)
            if cancelled is not None and cancelled():
                _stop(popen)
                raise Cancelled("cancelled: " + " ".join(command[:4]))
            if timeout is not None and time.monotonic() - start > timeout:
                _stop(popen)
                raise CommandTimedOut(f"{command[0]} ran longer than {timeout:.0f} s and was stopped")
        return popen.wait()
    finally:
        if popen.poll() is None:
            _stop(popen)
        reader.join(2)
        popen.stdout.close()

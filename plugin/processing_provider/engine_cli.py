"""Run one of the engine's commands (``python -m core ...``) in the engine's Python as a child process, for
Processing algorithms and panels: its log lines go to the feedback, Cancel ends it, its JSON result comes back."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections.abc import Callable
from typing import Any, Optional

from qgis.core import QgsProcessingException


def engine_root() -> str:
    """The folder holding the ``core`` package, put on the child's PYTHONPATH."""
    import core

    return os.path.dirname(os.path.dirname(os.path.abspath(core.__file__)))


def run_cli(python: str, args: list[str], feedback: Any, on_line: Optional[Callable[[str], None]] = None,
            ok: tuple[int, ...] = (0,)) -> dict:
    """Run ``python -m <args>``; stream its stderr to the log (``on_line`` sees each line), stop it on Cancel,
    and return its stdout as JSON (``ok``: the exit codes that still printed a result).

    Raises:
        QgsProcessingException: cancelled, or the command failed (its ``error:`` line is the message).
    """
    from ..engine_client import default_python, engine_environment

    python = python or default_python()
    env = engine_environment(python)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (engine_root(), env.get("PYTHONPATH", "")) if p)
    env.setdefault("HF_HUB_OFFLINE", "1")
    with subprocess.Popen([python, "-m", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, cwd=engine_root()) as proc:
        lines: queue.Queue = queue.Queue()
        chunks: list[str] = []  # stdout read as it comes: a large result must not fill the pipe and stall the child
        reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr] and None, daemon=True)
        out_reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
        reader.start()
        out_reader.start()
        errors: list[str] = []
        while proc.poll() is None or not lines.empty() or reader.is_alive():
            if feedback.isCanceled():
                proc.terminate()
                proc.wait()
                raise QgsProcessingException("Cancelled by the user.")
            try:
                line = lines.get(timeout=0.2).rstrip()
            except queue.Empty:
                continue
            if not line or "Warning" in line or line.startswith("  warnings.warn"):
                continue
            if line.startswith("error:"):
                errors.append(line[len("error:"):].strip())
            feedback.pushInfo(line)
            if on_line is not None:
                on_line(line)
        out_reader.join()
    out = "".join(chunks)
    if proc.returncode not in ok:
        raise QgsProcessingException(errors[-1] if errors else f"the engine command failed (exit {proc.returncode})")
    try:
        return json.loads(out)
    except ValueError as exc:
        raise QgsProcessingException("the engine command printed no result") from exc

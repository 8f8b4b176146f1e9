"""The engine holder (QGIS-free): one engine process per settings, started once and reused, one call at a time.

Calls queue on a lock and never cross: a caller reads only its own call's messages, and a call its caller
stopped reading (a callback raised) takes its process with it, so no late message reaches the next caller.
A process that dies (OOM killer, segfault) is reported in one sentence and replaced on the next request.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Optional

from core.config import EngineConfig
from core.errors import Cancelled, InputError

from . import engine_worker
from .engine_exit import exit_sentence

ProgressFn = Callable[[float, str], None]
CancelledFn = Callable[[], bool]
TextFn = Callable[[str], None]


class EngineFailure(RuntimeError):
    """An unexpected error inside the engine process, with its original type name and traceback."""

    def __init__(self, type_name: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name
        self.details = details


class EngineDied(EngineFailure):
    """The engine process ended on its own (killed, crashed); the message is one sentence for the user."""

    def __init__(self, exitcode: Optional[int]) -> None:
        super().__init__("EngineProcessError", exit_sentence(exitcode), f"engine process exit code {exitcode}")
        self.exitcode = exitcode


def _same_build(path: str) -> bool:
    """True when ``path`` is (a link to) the interpreter this process runs on: same prefix, same version."""
    real = os.path.realpath(path)
    base = os.path.realpath(sys.base_exec_prefix)
    return os.path.isfile(real) and (real.startswith(base + os.sep) or real == base)


def default_python() -> str:
    """The Python interpreter for the engine process: the build this process runs on (same standard library).

    Inside QGIS, ``sys.executable`` is the QGIS binary or whatever ``python3`` comes first on PATH (pyenv...),
    so the interpreter is looked up under ``sys.base_exec_prefix`` instead.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys.executable or ""]
    for prefix in dict.fromkeys((sys.exec_prefix, sys.base_exec_prefix)):
        if os.name == "nt":
            candidates += [os.path.join(prefix, "python.exe"), os.path.join(prefix, "pythonw.exe")]
        else:
            candidates += [os.path.join(prefix, "bin", f"python{version}"), os.path.join(prefix, "bin", "python3")]
    for path in candidates:
        if path and os.path.basename(path).lower().startswith("python") and _same_build(path):
            return path
    return shutil.which(f"python{version}") or shutil.which("python3") or sys.executable


class _Worker:
    """One engine process and its pipe."""

    def __init__(self, config: EngineConfig, factory: str, python: str, extra_path: tuple[str, ...]) -> None:
        ctx = multiprocessing.get_context("spawn")
        ctx.set_executable(python)
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=engine_worker.serve, args=(child, config, factory, extra_path),
                                name="earthask-engine", daemon=True)
        self.proc.start()
        child.close()
        self.pid: Optional[int] = None
        self.busy = False  # a call was sent and its result or error has not been read yet

    def _died(self) -> EngineDied:
        self.proc.join(1)
        return EngineDied(self.proc.exitcode)

    def send(self, message: tuple) -> None:
        """Send a message; a broken pipe means the process died."""
        try:
            self.conn.send(message)
        except (OSError, ValueError):
            raise self._died() from None

    def receive(self, cancelled: Optional[CancelledFn], on_message: Callable[[tuple], Optional[tuple]],
                grace: float, call_id: int = 0) -> Any:
        """Read messages until ``on_message`` returns a final one; cancel politely, then by force."""
        asked = None
        while True:
            if self.conn.poll(0.05):
                try:
                    message = self.conn.recv()
                except (EOFError, OSError):
                    raise self._died() from None
                if message[0] == "error":
                    self.busy = False
                    _, kind, type_name, text, details = message
                    if kind == "input":
                        raise InputError(text)
                    if kind == "cancelled":
                        raise Cancelled(text)
                    raise EngineFailure(type_name, text, details)
                final = on_message(message)
                if final is not None:
                    self.busy = False
                    return final[0]
            elif not self.proc.is_alive():
                raise self._died()
            if cancelled is not None and asked is None and cancelled():
                self.send(("cancel", call_id))
                asked = time.monotonic()
            elif asked is not None and time.monotonic() - asked > grace:
                self.stop(0)
                raise Cancelled("cancelled (the engine process was stopped)")

    def stop(self, wait: float = 3.0) -> None:
        """Ask the process to quit, then terminate it."""
        try:
            self.conn.send(("quit",))
        except (OSError, ValueError):
            pass
        self.proc.join(wait)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
        self.conn.close()


class EngineHolder:
    """Keeps one engine process for the current EngineConfig; a new config starts a new one.

    The engine (and its model) loads once per process and is reused by every call, from the chat panel and
    from Processing. Calls run one at a time.

    Args:
        factory: ``"module:callable"`` building the engine from an EngineConfig, in the engine process.
        python: the interpreter for the engine process (default: :func:`default_python`).
        extra_path: folders put first on the engine process's sys.path.
        cancel_grace: seconds a cancelled call may take to stop before its process is killed.
    """

    def __init__(self, factory: str = "core.engine:Engine", python: Optional[str] = None,
                 extra_path: tuple[str, ...] = (), cancel_grace: float = 15.0) -> None:
        self.factory = factory
        self.python = python
        self.extra_path = tuple(extra_path)
        self.cancel_grace = cancel_grace
        self._config: Optional[tuple[EngineConfig, str]] = None  # what the running process was started with
        self._worker: Optional[_Worker] = None
        self._lock = threading.Lock()
        self.builds = 0  # engine processes started (for tests and the log)
        self._calls = 0

    @property
    def worker_pid(self) -> Optional[int]:
        """The engine process id, or None when none runs."""
        return self._worker.pid if self._worker is not None and self._worker.proc.is_alive() else None

    def _worker_for(self, config: EngineConfig, python: Optional[str], cancelled: Optional[CancelledFn]) -> _Worker:
        python = python or self.python or default_python()
        key = (copy.deepcopy(config), python)
        if self._worker is not None and (self._config != key or not self._worker.proc.is_alive()):
            self._drop()
        if self._worker is None:
            worker = _Worker(copy.deepcopy(config), self.factory, python, self.extra_path)
            self._worker, self._config = worker, key
            self.builds += 1
            try:
                worker.pid = worker.receive(cancelled, lambda m: (m[1],) if m[0] == "ready" else None, 0.0)
            except BaseException:
                self._drop()
                raise
        return self._worker

    def _drop(self) -> None:
        worker, self._worker, self._config = self._worker, None, None
        if worker is not None:
            worker.stop()

    def call(self, config: EngineConfig, method: str, kwargs: dict[str, Any], progress: Optional[ProgressFn] = None,
             cancelled: Optional[CancelledFn] = None, on_text: Optional[TextFn] = None,
             python: Optional[str] = None) -> Any:
        """``engine.<method>(**kwargs, progress=..., cancelled=..., on_text=...)`` in the engine process.

        ``python`` picks the interpreter of the engine process (default: the holder's, else :func:`default_python`).

        Calls from several threads queue: each caller gets its own result and only its own messages.

        Raises:
            InputError, Cancelled: as the engine raised them.
            EngineDied: the engine process was killed or crashed (one sentence); the next call starts a new one.
            EngineFailure: any other error in the engine.
        """
        while not self._lock.acquire(timeout=0.1):
            if cancelled is not None and cancelled():
                raise Cancelled("cancelled while waiting for the engine")
        try:
            if cancelled is not None and cancelled():
                raise Cancelled("cancelled before start")
            worker = self._worker_for(config, python, cancelled)

            def on_message(message: tuple) -> Optional[tuple]:
                if message[0] == "progress" and progress is not None:
                    progress(message[1], message[2])
                elif message[0] == "text" and on_text is not None:
                    on_text(message[1])
                elif message[0] == "result":
                    return (message[1],)
                return None

            self._calls += 1
            try:
                worker.busy = True
                worker.send(("call", self._calls, method, kwargs))
                return worker.receive(cancelled, on_message, self.cancel_grace, self._calls)
            except BaseException:
                # Dead, or still busy with a call nobody reads any more (a callback raised): its late
                # progress and result must not reach the next caller, so the process goes.
                if worker is self._worker and (worker.busy or not worker.proc.is_alive()):
                    self._drop()
                raise
        finally:
            self._lock.release()

    def shutdown(self) -> None:
        """Stop the engine process (its model memory goes with it); a later call starts a new one."""
        with self._lock:
            self._drop()


ENGINES = EngineHolder()  # shared by the chat panel and the Processing algorithms

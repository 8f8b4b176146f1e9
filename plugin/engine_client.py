"""The engine holder (QGIS-free): one engine process per settings, started once and reused, one call at a time.

Calls queue on a lock and never cross: a caller reads only its own call's messages, and a call its caller
stopped reading (a callback raised) takes its process with it, so no late message reaches the next caller.
A process that dies (OOM killer, segfault) is reported in one sentence and replaced on the next request.

The engine process is the chosen interpreter started on its own (not a multiprocessing "spawn" child, which
would inherit QGIS's ``sys.path``): it sees that interpreter's own packages (a venv's site-packages) plus
EarthAsk's ``core`` and ``models`` packages. The pipe is a socket pair handed to the child. An interpreter that
cannot start the engine (missing, or lacking torch, shapely...) is one :class:`EngineUnavailable` sentence
that says how to set the engine up.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Optional

import core
from core.config import EngineConfig
from core.errors import Cancelled, InputError

from . import engine_worker
from .engine_exit import exit_sentence

WORKER_FILE = os.path.abspath(engine_worker.__file__)
ENGINE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(core.__file__)))  # holds core/ and models/
ENGINE_PACKAGES = {name: os.path.join(ENGINE_ROOT, name) for name in ("core", "models")}  # mounted in the engine
SETUP_HINT = ("set it up from the EarthAsk menu (Set up engine…) or with "
              "qgis_process run earthask:setup_engine -- PYTHON=/path/to/python")
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


class EngineUnavailable(InputError):
    """The engine's Python cannot run the engine (not there, or a package missing): one sentence with the fix."""

    def __init__(self, python: str, problem: str) -> None:
        super().__init__(f"The EarthAsk engine cannot run: its Python ({python}) {problem}; {SETUP_HINT}.")
        self.python = python
        self.problem = problem


def import_problem(message: str) -> str:
    """``"No module named 'torch.nn'"`` -> ``"cannot import 'torch'"``; other import errors keep their first line."""
    missing = re.match(r"No module named '([^'.]+)", message)
    if missing:
        return f"cannot import '{missing.group(1)}'"
    first = (message.strip().splitlines() or ["an import failed"])[0]
    return f"cannot import what the engine needs ({first[:160]})"


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


def engine_environment(python: str) -> dict[str, str]:
    """The environment for a process of ``python``: this one's, less PYTHONHOME and PYTHONPATH when ``python`` is
    another build than the one running (QGIS's launcher may set them for its own Python; another interpreter must
    run with its own standard library and packages). The same build keeps them (the developer's PYTHONPATH way).
    """
    env = dict(os.environ)
    if not _same_build(python):
        env.pop("PYTHONHOME", None)
        env.pop("PYTHONPATH", None)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


_LIVE: weakref.WeakSet = weakref.WeakSet()  # engine processes started and not yet collected


class _Process:
    """The engine's subprocess.Popen, with the multiprocessing.Process calls the holder uses.

    ``exitcode`` is negative for a signal, as multiprocessing reports it (see :func:`exit_sentence`).
    """

    def __init__(self, popen: subprocess.Popen) -> None:
        self.popen = popen
        self.pid = popen.pid

    @property
    def exitcode(self) -> Optional[int]:
        return self.popen.poll()

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def join(self, timeout: Optional[float] = None) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def terminate(self) -> None:
        if self.is_alive():
            try:
                self.popen.terminate()
            except OSError:  # it ended meanwhile
                pass

    def kill(self) -> None:
        if self.is_alive():
            try:
                self.popen.kill()
            except OSError:
                pass


def start_engine_process(python: str, paths: tuple[str, ...], factory: str) -> tuple[Connection, _Process]:
    """Start ``python`` on engine_worker's bootstrap with a socket pair; returns our end and the process.

    The process mounts EarthAsk's ``core`` and ``models`` (:data:`ENGINE_PACKAGES`) and puts ``paths`` first on
    its own sys.path.

    Raises:
        EngineUnavailable: the interpreter cannot be started (no such file, not executable).
    """
    ours, theirs = socket.socketpair()
    args = [WORKER_FILE, "", json.dumps({"packages": ENGINE_PACKAGES, "paths": list(paths)}), factory]
    try:
        if os.name == "nt":  # Windows: no fd inheritance for sockets; the child reads socket.share() from stdin
            args[1] = "share"
            popen = subprocess.Popen([python, "-c", engine_worker.BOOTSTRAP, *args], stdin=subprocess.PIPE,
                                     env=engine_environment(python),
                                     creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
            popen.stdin.write(theirs.share(popen.pid))
            popen.stdin.close()
        else:
            args[1] = f"fd:{theirs.fileno()}"
            popen = subprocess.Popen([python, "-c", engine_worker.BOOTSTRAP, *args], stdin=subprocess.DEVNULL,
                                     pass_fds=(theirs.fileno(),), env=engine_environment(python))
    except OSError as exc:
        ours.close()
        raise EngineUnavailable(python, f"cannot be started ({exc.strerror or exc})") from exc
    finally:
        theirs.close()
    process = _Process(popen)
    _LIVE.add(process)
    return Connection(ours.detach()), process


@atexit.register
def _stop_live_processes() -> None:
    """QGIS quitting without unload: terminate engine processes still running (their SIGTERM handler cleans up)."""
    for process in list(_LIVE):
        process.terminate()


class _Worker:
    """One engine process and its pipe."""

    def __init__(self, config: EngineConfig, factory: str, python: str, extra_path: tuple[str, ...]) -> None:
        self.python = python
        self.conn, self.proc = start_engine_process(python, extra_path, factory)
        self.pid: Optional[int] = None
        self.busy = False  # a call was sent and its result or error has not been read yet
        self.send(("start", config))

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
                    if type_name in ("ModuleNotFoundError", "ImportError"):
                        raise EngineUnavailable(self.python, import_problem(text)) from EngineFailure(
                            type_name, text, details)
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
            self.proc.join(2)
        self.conn.close()


class EngineHolder:
    """Keeps one engine process for the current EngineConfig; a new config starts a new one.

    The engine (and its model) loads once per process and is reused by every call, from the chat panel and
    from Processing. Calls run one at a time.

    Args:
        factory: ``"module:callable"`` building the engine from an EngineConfig, in the engine process.
        python: the interpreter for the engine process (default: :func:`default_python`).
        extra_path: folders put first on the engine process's sys.path (the rest of it is the interpreter's own;
            EarthAsk's ``core`` and ``models`` are always there).
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
            except EngineDied as exc:
                self._drop()
                if exc.exitcode is not None and exc.exitcode > 0:  # it exited at start: not a crash, a bad Python
                    raise EngineUnavailable(python, f"stopped before the engine started (exit code {exc.exitcode})"
                                            ) from exc
                raise
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
            EngineUnavailable: the interpreter cannot run the engine (an InputError: one sentence, how to fix it).
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

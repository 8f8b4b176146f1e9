"""The engine's own process: builds the engine once, runs calls sent over a pipe, streams progress and text back.

QGIS-free and Qt-free on purpose, and free of the plugin package: the parent (:mod:`plugin.engine_client`) starts
the chosen interpreter on :data:`BOOTSTRAP`, which loads this file by its path and calls :func:`main`, so the
process runs with that interpreter's own ``sys.path`` (its venv's packages); of EarthAsk, only the ``core`` and
``models`` packages are added (see :func:`mount_packages`).

Inside a QGIS executable (the desktop app, qgis_process) the system PROJ is in the global symbol scope, and the
PyPI wheels of rasterio/pyproj bring their own PROJ builds: in one process they clash (crashes, double frees at
exit). In this separate Python process they load cleanly, and torch never enters QGIS.

Messages, parent -> worker: ("start", config) first, then ("call", id, method, kwargs), ("cancel", id), ("quit",).
Worker -> parent: ("ready", pid), ("progress", fraction, message), ("text", piece), ("result", obj),
("error", kind, type_name, message, traceback) with kind "input" | "cancelled" | "other".
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import signal
import sys
import traceback
from typing import Any

# ``python -c BOOTSTRAP <this file> <connection> <layout json> <factory>``: the engine process's first lines.
# "-c" puts the working folder first on sys.path; QGIS's working folder is no place to import from.
BOOTSTRAP = (
    "import sys\n"
    "if sys.path and sys.path[0] in ('', '.'):\n"
    "    del sys.path[0]\n"
    "import importlib.util\n"
    "spec = importlib.util.spec_from_file_location('earthask_engine_worker', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "sys.modules[spec.name] = module\n"
    "spec.loader.exec_module(module)\n"
    "module.main(sys.argv[2:])\n"
)


def load_factory(spec: str) -> Any:
    """``"core.engine:Engine"`` -> the Engine class."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def describe_error(exc: BaseException) -> tuple[str, str, str, str, str]:
    """The ("error", kind, type name, message, traceback) message for an exception."""
    try:
        from core.errors import Cancelled, InputError
    except ImportError:  # core itself is not importable: every error is "other"
        Cancelled = InputError = ()  # noqa: N806 - isinstance(x, ()) is False
    kind = "input" if isinstance(exc, InputError) else "cancelled" if isinstance(exc, Cancelled) else "other"
    return "error", kind, type(exc).__name__, str(exc), traceback.format_exc()


class _Call:
    """Callbacks for one engine call: progress and text go to the parent; cancel is read from the pipe."""

    def __init__(self, conn: Any, call_id: int) -> None:
        self.conn = conn
        self.call_id = call_id
        self.cancel = False
        self.quit = False

    def cancelled(self) -> bool:
        while self.conn.poll():
            message = self.conn.recv()
            if message[0] == "quit" or (message[0] == "cancel" and message[1] == self.call_id):
                self.cancel = True  # a late cancel of an earlier call is ignored
                self.quit = self.quit or message[0] == "quit"
        return self.cancel

    def progress(self, fraction: float, message: str) -> None:
        self.conn.send(("progress", float(fraction), str(message)))

    def on_text(self, piece: str) -> None:
        self.conn.send(("text", str(piece)))


def run_call(conn: Any, engine: Any, call_id: int, method: str, kwargs: dict[str, Any]) -> bool:
    """Run one call and send its result or error; returns False when the parent asked to quit."""
    call = _Call(conn, call_id)
    try:
        fn = getattr(engine, method)
        extra = {"on_text": call.on_text} if "on_text" in inspect.signature(fn).parameters else {}
        result = fn(**kwargs, progress=call.progress, cancelled=call.cancelled, **extra)
        conn.send(("result", result))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as a message
        conn.send(describe_error(exc))
    return not call.quit


def serve(conn: Any, config: Any, factory: str = "core.engine:Engine", extra_path: tuple[str, ...] = ()) -> None:
    """The worker's main loop: build the engine, say ("ready", pid), then run calls until "quit" or EOF."""
    for path in reversed(extra_path):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        engine = load_factory(factory)(config)
    except BaseException as exc:  # noqa: BLE001
        conn.send(describe_error(exc))
        return

    def on_terminate(signum: int, frame: Any) -> None:
        """terminate() (a cancel that did not stop in time, QGIS quitting): remove the engine's temporary files,
        then exit at once with 128 + the signal."""
        close = getattr(engine, "close", None)
        if callable(close):
            close()
        os._exit(128 + signum)

    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, on_terminate)
    conn.send(("ready", os.getpid()))
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the parent went away
                return
            if message[0] == "quit":
                return
            if message[0] == "call" and not run_call(conn, engine, *message[1:4]):
                return
    finally:
        close = getattr(engine, "close", None)
        if callable(close):
            close()


def open_connection(handle: str) -> Any:
    """The pipe to the parent: ``fd:N`` (POSIX, an inherited socket) or ``share`` (Windows, read from stdin)."""
    import socket
    from multiprocessing.connection import Connection

    if handle.startswith("fd:"):
        return Connection(int(handle[3:]))
    if handle == "share":  # Windows: the parent wrote socket.share(our pid) to our stdin
        sock = socket.fromshare(sys.stdin.buffer.read())
        return Connection(sock.detach())
    raise ValueError(f"unknown connection handle {handle!r}")


def mount_packages(packages: dict[str, str]) -> None:
    """Make each package (name -> its folder) importable, without putting the folder above it on sys.path.

    EarthAsk's ``core`` and ``models`` sit in the plugin's folder beside its Qt modules (settings.py, tasks.py...):
    only the two packages enter the engine process, no other module of that folder can shadow a library's.
    """
    for name, folder in packages.items():
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "__init__.py"),
                                                      submodule_search_locations=[folder])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)


def main(argv: list[str]) -> None:
    """The engine process's entry: ``[connection, layout json, factory]``; the first message is ("start", config).

    The layout names EarthAsk's packages (``{"packages": {"core": folder, ...}, "paths": [...]}``): they are
    mounted, and the extra paths put first on sys.path, before anything is unpickled (the config's class is core's);
    the rest of sys.path stays the interpreter's own.
    """
    handle, layout, factory = argv[0], json.loads(argv[1]), argv[2]
    for path in reversed(layout.get("paths", [])):
        if path not in sys.path:
            sys.path.insert(0, path)
    conn = open_connection(handle)
    try:
        mount_packages(layout.get("packages", {}))
        message = conn.recv()
    except (EOFError, OSError):  # the parent went away before it sent the settings
        return
    except BaseException as exc:  # noqa: BLE001 - e.g. core itself cannot be imported with this interpreter
        conn.send(describe_error(exc))
        return
    if message[0] == "start":
        serve(conn, message[1], factory)

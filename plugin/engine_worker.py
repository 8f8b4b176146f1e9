"""The engine's own process: builds the engine once, runs calls sent over a pipe, streams progress and text back.

QGIS-free and Qt-free on purpose. Inside a QGIS executable (the desktop app, qgis_process) the system PROJ is in
the global symbol scope, and the PyPI wheels of rasterio/pyproj bring their own PROJ builds: in one process they
clash (crashes, double frees at exit). In this separate Python process they load cleanly, and torch never enters
QGIS.

Messages, parent -> worker: ("call", id, method, kwargs), ("cancel", id), ("quit",).
Worker -> parent: ("ready", pid), ("progress", fraction, message), ("text", piece), ("result", obj),
("error", kind, type_name, message, traceback) with kind "input" | "cancelled" | "other".
"""

from __future__ import annotations

import importlib
import inspect
import os
import signal
import sys
import traceback
from typing import Any


def load_factory(spec: str) -> Any:
    """``"core.engine:Engine"`` -> the Engine class."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def describe_error(exc: BaseException) -> tuple[str, str, str, str, str]:
    """The ("error", kind, type name, message, traceback) message for an exception."""
    from core.errors import Cancelled, InputError

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
    """The worker's main loop (the target of the spawned process)."""
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

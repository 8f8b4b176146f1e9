"""A thin QgsTask around one engine call (run in the engine process), reporting on the main thread."""

from __future__ import annotations

import re
from typing import Any

from qgis.core import Qgis, QgsMessageLog, QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from core.config import EngineConfig
from core.errors import Cancelled, InputError

from .engine_client import ENGINES, EngineDied, EngineFailure, EngineHolder

LOG_TAG = "EarthAsk"


def error_sentence(exc: BaseException) -> str:
    """One clear sentence for the message bar; the traceback goes to the log, never to a dialog."""
    if isinstance(exc, InputError):
        return str(exc).strip() or "The input is not valid."
    if isinstance(exc, EngineDied):  # already one sentence: what stopped the process and what happens next
        return str(exc)
    name = exc.type_name if isinstance(exc, EngineFailure) else type(exc).__name__
    missing = re.match(r"No module named '([^'.]+)", str(exc))
    if name == "ModuleNotFoundError" and missing:
        return (f"The engine's Python cannot import '{missing.group(1)}': install EarthAsk's requirements for it, "
                "or pick another Python in the EarthAsk settings.")
    if isinstance(exc, MemoryError) or name in ("MemoryError", "OutOfMemoryError"):
        return "Out of memory: try a smaller area, a smaller tile size or the CPU device."
    first = (str(exc).strip().splitlines() or [""])[0]
    if len(first) > 200:
        first = first[:197] + "..."
    return f"EarthAsk failed ({name}): {first}" if first else f"EarthAsk failed ({name})."


def log_failure(exc: BaseException, details: str = "") -> None:
    """Put the full story of an unexpected error into the EarthAsk log panel."""
    text = details or (exc.details if isinstance(exc, EngineFailure) else "") or repr(exc)
    QgsMessageLog.logMessage(text, LOG_TAG, Qgis.MessageLevel.Critical)


def task_flags() -> QgsTask.Flag:
    """The flags of an EngineTask: it can be cancelled, and it is *silent*.

    QGIS 3.40 ends a cancelled task as ``Terminated`` (QgsTask has no "cancelled" status), and its app then
    announces every terminated task that is not silent as "Task failed". The panel reports the outcome itself
    (the card reads "Cancelled", a failure is one sentence in the message bar), so the task stays silent.
    """
    return QgsTask.Flag.CanCancel | QgsTask.Flag.Silent


class EngineTask(QgsTask):
    """Runs ``engine.<method>(**kwargs)`` in the engine process; the worker thread only waits and relays.

    A cancelled run returns False with ``isCanceled()`` set: QGIS shows the task as terminated, never failed,
    and ``wasCancelled`` is emitted instead of ``errorOccurred``.

    Signals (all delivered on the main thread):
        textReceived(str): a streamed piece of generated text.
        messageChanged(str): the engine's progress message ("tile 3/12").
        resultReady(object): the engine's result, after success.
        errorOccurred(str): one sentence, after a failure.
        wasCancelled(): after the user cancelled.
    """

    textReceived = pyqtSignal(str)
    messageChanged = pyqtSignal(str)
    resultReady = pyqtSignal(object)
    errorOccurred = pyqtSignal(str)
    wasCancelled = pyqtSignal()

    def __init__(self, description: str, method: str, kwargs: dict[str, Any], config: EngineConfig,
                 holder: EngineHolder = ENGINES, python: str = "") -> None:
        super().__init__(description, task_flags())
        self.method = method
        self.kwargs = kwargs
        self._config = config
        self._holder = holder
        self._python = python or None
        self.result: Any = None
        self.error: str = ""
        self.cancelled_by_user = False
        self._message = ""

    def _progress(self, fraction: float, message: str) -> None:
        self.setProgress(100.0 * min(max(float(fraction), 0.0), 1.0))
        if message and message != self._message:
            self._message = message
            self.messageChanged.emit(message)

    def run(self) -> bool:
        """Worker thread: never touches the GUI."""
        try:
            self.result = self._holder.call(self._config, self.method, self.kwargs, self._progress,
                                            self.isCanceled, self.textReceived.emit, self._python)
            return True
        except Cancelled:
            self.cancelled_by_user = True
            return False
        except Exception as exc:  # noqa: BLE001 - any failure becomes one sentence in the message bar
            self.error = error_sentence(exc)
            if not isinstance(exc, InputError):
                log_failure(exc)
            return False

    def finished(self, result: bool) -> None:
        """Main thread: hand the outcome to whoever listens."""
        if result:
            self.resultReady.emit(self.result)
        elif self.cancelled_by_user or (self.isCanceled() and not self.error):
            self.wasCancelled.emit()
        else:
            self.errorOccurred.emit(self.error or "EarthAsk stopped without an answer.")

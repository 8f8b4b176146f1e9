"""First use: when EarthAsk opens and its engine's Python never passed the check, check it in the background and
open the set-up dialog if it cannot run the engine (nothing blocks QGIS; a passed check is remembered)."""

from __future__ import annotations

import threading
from typing import Any, Optional

from qgis.PyQt.QtCore import QObject, pyqtSignal
from qgis.PyQt.QtWidgets import QWidget

from core.errors import Cancelled

from ..settings import PluginSettings
from .check import PythonReport, check_python
from .setup import ENGINE_STATUS, SetupOutcome, engine_python, is_set_up, remember


class FirstUse(QObject):
    """Checks the engine's Python once; ``finished(report)`` after the check, ``dialog`` when one was opened."""

    finished = pyqtSignal(object)
    _checked = pyqtSignal(object)

    def __init__(self, parent_widget: Optional[QWidget] = None) -> None:
        super().__init__()
        self.parent_widget = parent_widget
        self.dialog: Optional[Any] = None
        self.thread: Optional[threading.Thread] = None
        self.stopped = False
        self.started = False  # the first-use check ran this session
        self._cancel = threading.Event()
        self._checked.connect(self._done)

    def start(self) -> bool:
        """Check in the background unless the engine's Python already passed; True when a check started."""
        settings = PluginSettings.load()
        python = engine_python(settings)
        if is_set_up(python) or self.thread is not None:
            if is_set_up(python):
                ENGINE_STATUS.deviceChanged.emit(ENGINE_STATUS.device())
            return False
        self.thread = threading.Thread(target=self._check, args=(python, settings.device), name="earthask-first-check",
                                       daemon=True)
        self.thread.start()
        return True

    def _check(self, python: str, device: str) -> None:
        try:
            report = check_python(python, cancelled=self._cancel.is_set)
        except Cancelled:
            return
        self._checked.emit((report, device))

    def dock_visible(self, visible: bool) -> None:
        """The chat panel was shown (first use): check once per session."""
        if visible and not self.started:
            self.started = True
            self.start()

    def show_dialog(self) -> None:
        """The menu's "Set up engine…"."""
        self.open_dialog()

    def stop(self) -> None:
        """The plugin unloads: stop the check, open nothing any more."""
        self.stopped = True
        self._cancel.set()
        if self.thread is not None:
            self.thread.join(2)
        if self.dialog is not None:
            self.dialog.close()

    def _done(self, checked: tuple[PythonReport, str]) -> None:
        report, device = checked
        self.thread = None
        if not self.stopped:
            if report.ok:
                remember(SetupOutcome(report.python, report, device_setting=device), save_python=False)
            else:
                self.open_dialog(report.sentence(device))
        self.finished.emit(report)

    def open_dialog(self, message: str = "") -> Any:
        """Show the set-up dialog (not modal), or raise the one already open."""
        from .dialog import EngineSetupDialog

        if self.dialog is None:
            self.dialog = EngineSetupDialog(PluginSettings.load(), self.parent_widget, message=message)
            self.dialog.finished.connect(self._dialog_closed)
        elif message:
            self.dialog.message_label.setText(message)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def _dialog_closed(self, _result: int) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None

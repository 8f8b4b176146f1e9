"""The engine set-up dialog: use an existing Python, or create the engine environment; a log, progress, cancel.

The work runs in a background thread; its lines, progress and outcome come back as queued signals. A working
interpreter is saved as the ``python`` setting (:func:`.setup.remember`) and announced by ``engineReady``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Optional

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtGui import QGuiApplication
from qgis.PyQt.QtWidgets import (
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.errors import Cancelled

from ..settings import PluginSettings
from .create import CreateOptions, SetupFailed, nvidia_gpu
from .setup import SetupOutcome, create_environment, default_env_folder, engine_python, remember, verify

INTRO = ("EarthAsk's engine runs in its own Python, which needs torch, rasterio, shapely and a few more packages. "
         "Use a Python that has them, or let EarthAsk create one (a download of about 1 GB for the CPU build of "
         "torch, several GB for the CUDA build).")


def browse_row(edit: QLineEdit, browse: Callable[[], None], tip: str, parent: QWidget) -> QWidget:
    """``edit`` with a "…" button beside it that calls ``browse``."""
    row = QWidget(parent)
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QToolButton(row)
    button.setText("…")
    button.setToolTip(tip)
    button.clicked.connect(browse)
    layout.addWidget(button)
    return row


class EngineSetupDialog(QDialog):
    """Set up the engine's Python; ``engineReady(python, device)`` after a set-up that passed its checks.

    Args:
        settings: the current settings (their ``python`` and ``device``).
        options: how an environment is created (default: PyPI and EarthAsk's pinned packages).
        message: why the dialog opened (e.g. the check of the current Python), shown at the top.
    """

    engineReady = pyqtSignal(str, str)
    _line = pyqtSignal(str)
    _progress = pyqtSignal(float, str)
    _finished = pyqtSignal(object)

    def __init__(self, settings: Optional[PluginSettings] = None, parent: Optional[QWidget] = None,
                 options: Optional[CreateOptions] = None, message: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Set up the EarthAsk engine")
        self.settings = (settings or PluginSettings.load()).validated()
        self.options = options or CreateOptions()
        self.outcome: Optional[SetupOutcome] = None
        self._thread: Optional[threading.Thread] = None
        self._cancel = threading.Event()

        layout = QVBoxLayout(self)
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.message_label = QLabel(message or f"The engine's Python now: {engine_python(self.settings)}")
        self.message_label.setWordWrap(True)
        layout.addWidget(self.message_label)

        grid = QGridLayout()
        self.existing_radio = QRadioButton("Use an existing Python")
        self.python_edit = QLineEdit(self.settings.python)
        self.python_edit.setPlaceholderText("path to python (python.exe), e.g. a venv's bin/python")
        grid.addWidget(self.existing_radio, 0, 0)
        grid.addWidget(browse_row(self.python_edit, self._browse_python, "Pick the interpreter", self), 0, 1)
        self.create_radio = QRadioButton("Create the engine environment in")
        self.folder_edit = QLineEdit(str(default_env_folder()))
        grid.addWidget(self.create_radio, 1, 0)
        grid.addWidget(browse_row(self.folder_edit, self._browse_folder, "Pick the folder", self), 1, 1)
        gpu = self.options.gpu if self.options.gpu is not None else nvidia_gpu()
        self.torch_label = QLabel(f"torch: the CUDA build (NVIDIA GPU {gpu})" if gpu else
                                  "torch: the CPU build (nvidia-smi found no NVIDIA GPU)")
        grid.addWidget(self.torch_label, 2, 1)
        layout.addLayout(grid)
        (self.existing_radio if self.settings.python else self.create_radio).setChecked(True)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMinimumSize(640, 220)
        self.log.setMaximumBlockCount(20000)
        layout.addWidget(self.log, 1)

        buttons = QHBoxLayout()
        self.copy_button = QPushButton("Copy log")
        self.copy_button.clicked.connect(self.copy_log)
        self.commands_button = QPushButton("Show commands")
        self.commands_button.setToolTip("List the commands that create the environment, without running them")
        self.commands_button.clicked.connect(self.show_commands)
        self.run_button = QPushButton("Set up")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        for button in (self.copy_button, self.commands_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        for button in (self.run_button, self.cancel_button, self.close_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)

        self.python_edit.textEdited.connect(lambda _text: self.existing_radio.setChecked(True))
        self.folder_edit.textEdited.connect(lambda _text: self.create_radio.setChecked(True))
        self._line.connect(self._append)
        self._progress.connect(self._show_progress)
        self._finished.connect(self._done)

    # ----- what the user can do ------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while a set-up runs."""
        return self._thread is not None

    def log_text(self) -> str:
        """Everything in the log."""
        return self.log.toPlainText()

    def copy_log(self) -> None:
        """Put the log on the clipboard (to paste into a bug report)."""
        QGuiApplication.clipboard().setText(self.log_text())

    def _browse_python(self) -> None:
        # A venv's bin/python is a link to the base interpreter: resolving it would lose the venv.
        path, _ = QFileDialog.getOpenFileName(self, "The Python interpreter for the engine", self.python_edit.text(),
                                              options=QFileDialog.Option.DontResolveSymlinks)
        if path:
            self.python_edit.setText(path)
            self.existing_radio.setChecked(True)

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the engine environment", self.folder_edit.text())
        if path:
            self.folder_edit.setText(path)
            self.create_radio.setChecked(True)

    def plan(self) -> Any:
        """The commands "create" would run now (nothing runs)."""
        return self.options.plan(_base_python(), self.folder_edit.text().strip() or str(default_env_folder()))

    def show_commands(self) -> list[str]:
        """A dry run: write the exact commands of "create" into the log; returns them."""
        lines = self.plan().command_lines()
        self._append("Commands that create the engine environment (not run):")
        for line in lines:
            self._append(f"$ {line}")
        return lines

    def start(self) -> None:
        """Run the chosen set-up in the background."""
        if self.busy:
            return
        creating = self.create_radio.isChecked()
        python = self.python_edit.text().strip()
        if not creating and not python:
            self.status_label.setText("Pick a Python interpreter first (the … button), or choose to create one.")
            return
        folder = self.folder_edit.text().strip() or str(default_env_folder())
        device = self.settings.device
        self._cancel.clear()
        self.outcome = None
        self._set_running(True)
        self.progress.setValue(0)
        args = (creating, python, folder, device)
        self._thread = threading.Thread(target=self._work, args=args, name="earthask-setup", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Stop the running set-up (pip is stopped; what it installed so far stays for the next try)."""
        if self.busy:
            self._cancel.set()
            self.status_label.setText("Cancelling…")

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        """Closing while a set-up runs cancels it."""
        self.cancel()
        super().closeEvent(event)

    # ----- the background work -----------------------------------------------------------------------------
    def _work(self, creating: bool, python: str, folder: str, device: str) -> None:
        line, progress, cancelled = self._line.emit, self._progress.emit, self._cancel.is_set
        try:
            if creating:
                outcome: Any = create_environment(folder, self.options, device, line, progress, cancelled,
                                                  base_python=_base_python())
            else:
                outcome = verify(python, device, self.options.tile_check, self.options.model, line, progress,
                                 cancelled)
        except BaseException as exc:  # noqa: BLE001 - the dialog shows every failure as one sentence
            outcome = exc
        self._finished.emit(outcome)

    def _append(self, line: str) -> None:
        self.log.appendPlainText(line)

    def _show_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * min(max(fraction, 0.0), 1.0)))
        if message:
            self.status_label.setText(message)

    def _set_running(self, running: bool) -> None:
        for widget in (self.run_button, self.commands_button, self.existing_radio, self.create_radio,
                       self.python_edit, self.folder_edit):
            widget.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _done(self, outcome: Any) -> None:
        if self._thread is not None:
            self._thread.join(5)
        self._thread = None
        self._set_running(False)
        if isinstance(outcome, Cancelled):
            text = "Cancelled; what was installed so far is kept, and “Set up” continues from there."
        elif isinstance(outcome, SetupFailed):
            text = str(outcome)
        elif isinstance(outcome, BaseException):
            text = f"The set-up failed ({type(outcome).__name__}): {outcome}"
        else:
            self.outcome = outcome
            text = outcome.sentence()
            if outcome.ok:
                remember(outcome)
                self.settings = PluginSettings.load()
                self.python_edit.setText(outcome.python)
                self.message_label.setText(f"The engine's Python now: {outcome.python} ({outcome.device})")
                self.progress.setValue(1000)
                self.engineReady.emit(outcome.python, outcome.device)
        self.status_label.setText(text)
        self._append(text)


def _base_python() -> str:
    """The interpreter a new environment is made from: the Python QGIS runs on."""
    from ..engine_client import default_python

    return default_python()

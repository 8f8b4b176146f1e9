"""The engine set-up the dialog and ``earthask:setup_engine`` share: check a Python, prove it, remember it.

Where things go: the created environment is ``<QGIS profile folder>/earthask/venv`` (the folder
``QgsApplication.qgisSettingsDirPath()`` names, e.g. ``~/.local/share/QGIS/QGIS3/profiles/default/earthask/venv``
on Linux, ``%APPDATA%\\QGIS\\QGIS3\\profiles\\default\\earthask\\venv`` on Windows). The chosen interpreter is the
``earthask/python`` setting; ``earthask/engine/checked`` and ``earthask/engine/device`` remember which interpreter
passed the check and its device, so the check does not run at every start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from qgis.core import QgsApplication, QgsSettings
from qgis.PyQt.QtCore import QCoreApplication, QObject, pyqtSignal

from core.errors import Cancelled, InputError

from ..engine_client import EngineFailure, default_python
from ..settings import PluginSettings
from .check import PythonReport, TileResult, check_python, tile_check
from .create import CreateOptions, run_plan
from .process import CancelledFn, LineFn

CHECKED_KEY = "earthask/engine/checked"  # the interpreter that passed the check last
DEVICE_KEY = "earthask/engine/device"  # its device line ("CPU", "GPU NVIDIA ..., 139.1 GiB free of 140.4 GiB")
ProgressFn = Callable[[float, str], None]


def data_folder() -> Path:
    """EarthAsk's folder in the QGIS profile: ``<profile>/earthask``."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "earthask"


def default_env_folder() -> Path:
    """Where "create the engine environment" puts the venv: ``<profile>/earthask/venv``."""
    return data_folder() / "venv"


def engine_python(settings: Optional[PluginSettings] = None) -> str:
    """The interpreter the engine runs on: the ``python`` setting, else the Python QGIS runs on."""
    return (settings or PluginSettings.load()).python or default_python()


@dataclass(frozen=True)
class SetupOutcome:
    """An interpreter, what the check found, the one-tile check's result, and why it cannot be used ("" if it can)."""

    python: str
    report: PythonReport
    tile: Optional[TileResult] = None
    error: str = ""
    device_setting: str = "auto"

    @property
    def ok(self) -> bool:
        return not self.error and self.report.ok

    @property
    def device(self) -> str:
        """The device line the chat panel shows."""
        return self.report.device(self.device_setting)

    def sentence(self) -> str:
        """One line for the user: ready (with the device and the tile check), or what is wrong."""
        if not self.ok:
            return self.error or self.report.sentence(self.device_setting)
        done = f" {self.tile.sentence()}" if self.tile else ""
        return f"The engine is set up: {self.python} on {self.device}.{done}"


def _scaled(progress: Optional[ProgressFn], start: float, end: float) -> Optional[ProgressFn]:
    if progress is None:
        return None
    return lambda fraction, message: progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)


def verify(python: str, device_setting: str = "auto", run_tile: bool = True, model: str = "tiny",
           on_line: Optional[LineFn] = None, progress: Optional[ProgressFn] = None,
           cancelled: Optional[CancelledFn] = None) -> SetupOutcome:
    """Check ``python`` (packages, version, device), then run the engine there on one tile.

    Raises:
        Cancelled: ``cancelled()`` turned True.
    """
    say = on_line or (lambda _line: None)
    if progress is not None:
        progress(0.0, f"Checking {python}")
    report = check_python(python, say, cancelled)
    say(report.sentence(device_setting))
    if not report.ok or not run_tile:
        return SetupOutcome(python, report, device_setting=device_setting)
    if progress is not None:
        progress(0.5, "Running the engine on one tile")
    try:
        tile = tile_check(python, model, device_setting, _scaled(progress, 0.5, 1.0), cancelled)
    except Cancelled:
        raise
    except InputError as exc:
        return SetupOutcome(python, report, error=f"The one-tile check failed: {exc}", device_setting=device_setting)
    except EngineFailure as exc:
        say(exc.details)
        return SetupOutcome(python, report, error=f"The one-tile check failed ({exc.type_name}): {exc}",
                            device_setting=device_setting)
    say(tile.sentence())
    return SetupOutcome(python, report, tile, device_setting=device_setting)


def create_environment(folder: str | os.PathLike, options: Optional[CreateOptions] = None,
                       device_setting: str = "auto", on_line: Optional[LineFn] = None,
                       progress: Optional[ProgressFn] = None, cancelled: Optional[CancelledFn] = None,
                       base_python: Optional[str] = None) -> SetupOutcome:
    """Create the venv in ``folder`` with EarthAsk's packages, then :func:`verify` it.

    Raises:
        SetupFailed: a pip or venv step failed (one sentence; pip's output went to ``on_line``).
        Cancelled: ``cancelled()`` turned True.
    """
    options = options or CreateOptions()
    plan = options.plan(base_python or default_python(), folder)
    if on_line is not None:
        on_line(f"Creating the engine environment in {plan.folder}; torch: {plan.torch_build}")
    python = run_plan(plan, on_line, _scaled(progress, 0.0, 0.85), cancelled)
    return verify(python, device_setting, options.tile_check, options.model, on_line, _scaled(progress, 0.85, 1.0),
                  cancelled)


def remember(outcome: SetupOutcome, qsettings: Optional[QgsSettings] = None, save_python: bool = True) -> None:
    """Save a working interpreter as the engine's Python (unless ``save_python`` is False: the automatic one
    passed), with its device; tell the chat panel."""
    if not outcome.ok:
        raise InputError(outcome.sentence())
    q = qsettings or QgsSettings()
    if save_python:
        replace(PluginSettings.load(q), python=outcome.python).save(q)
    q.setValue(CHECKED_KEY, outcome.python)
    q.setValue(DEVICE_KEY, outcome.report.device("auto"))  # what the machine offers; the setting picks
    ENGINE_STATUS.deviceChanged.emit(ENGINE_STATUS.device(q))


def is_set_up(python: Optional[str] = None, qsettings: Optional[QgsSettings] = None) -> bool:
    """True when ``python`` (default: the engine's) passed the check before."""
    q = qsettings or QgsSettings()
    return str(q.value(CHECKED_KEY, "") or "") == (python or engine_python(PluginSettings.load(q)))


class EngineStatus(QObject):
    """The engine's device for the chat panel: ``device()`` now, ``deviceChanged(str)`` when a set-up changes it.

    The text is "CPU", "GPU <name>, <free> GiB free of <total> GiB" (free memory when it was checked), or "" while
    no interpreter passed the check. The device setting "cpu" makes it "CPU" whatever the machine has.
    """

    deviceChanged = pyqtSignal(str)

    def device(self, qsettings: Optional[QgsSettings] = None) -> str:
        """The engine's device as the last check of its Python found it ("" when it was never checked)."""
        q = qsettings or QgsSettings()
        if not is_set_up(qsettings=q):
            return ""
        found = str(q.value(DEVICE_KEY, "") or "")
        return "CPU" if PluginSettings.load(q).device == "cpu" and found.startswith("GPU") else found


ENGINE_STATUS = EngineStatus()
if QCoreApplication.instance() is not None:  # first imported in a Processing thread: live on the main thread anyway
    ENGINE_STATUS.moveToThread(QCoreApplication.instance().thread())

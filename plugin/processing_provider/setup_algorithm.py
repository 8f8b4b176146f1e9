"""``earthask:setup_engine``: adopt an existing Python for the engine (PYTHON=...), or create the engine environment.

The same code as the set-up dialog (:mod:`plugin.engine_setup.setup`): the interpreter is checked, the engine runs
on one tile, and a working one is saved as the EarthAsk setting every algorithm and the chat panel use.
"""

from __future__ import annotations

import os
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
)
from qgis.PyQt.QtGui import QIcon

from core.errors import Cancelled

from ..engine_setup.create import CreateOptions, SetupFailed
from ..engine_setup.setup import create_environment, default_env_folder, engine_python, remember, verify
from ..settings import PluginSettings
from .base import advanced_flag, progress_fn

ICON = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources", "icons", "settings.svg")


def file_behavior(name: str) -> Any:
    """``Qgis.ProcessingFileParameterBehavior.<name>`` (QGIS >= 3.36) or ``QgsProcessingParameterFile.<name>``."""
    from qgis.core import Qgis

    enum = getattr(Qgis, "ProcessingFileParameterBehavior", None)
    return getattr(enum, name) if enum is not None else getattr(QgsProcessingParameterFile, name)


class SetupEngineAlgorithm(QgsProcessingAlgorithm):
    """Sets up the Python the EarthAsk engine runs on."""

    PYTHON, FOLDER, TILE_CHECK, DRY_RUN = "PYTHON", "FOLDER", "TILE_CHECK", "DRY_RUN"
    OUT_PYTHON, DEVICE, COMMANDS = "PYTHON", "DEVICE", "COMMANDS"

    def createInstance(self) -> SetupEngineAlgorithm:  # noqa: N802 (QGIS's name)
        return SetupEngineAlgorithm()

    def name(self) -> str:
        return "setup_engine"

    def displayName(self) -> str:  # noqa: N802
        return "Set up the engine"

    def icon(self) -> QIcon:
        return QIcon(ICON)

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Sets up the Python interpreter EarthAsk's engine runs on. With PYTHON: checks that interpreter "
                "(torch, rasterio, shapely, faiss, onnxruntime, transformers, numpy<2...), runs the engine on one "
                "small tile, and saves it in the EarthAsk settings. Without PYTHON: creates the engine environment, "
                "a virtual environment in FOLDER (default: the QGIS profile's earthask/venv) with EarthAsk's "
                "packages from PyPI (torch's CUDA build when nvidia-smi finds an NVIDIA GPU, else its CPU build), "
                "then checks and saves it the same way. DRY_RUN lists the commands without running them.")

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterFile(
            self.PYTHON, "Existing Python interpreter; empty: create the engine environment",
            file_behavior("File"), optional=True, fileFilter="All files (*)"))  # "python" has no extension
        self.addParameter(QgsProcessingParameterFile(
            self.FOLDER, f"Folder for a new environment, default {default_env_folder()}", file_behavior("Folder"),
            optional=True))
        tile = QgsProcessingParameterBoolean(self.TILE_CHECK, "Run the engine on one tile to prove it works", True)
        dry = QgsProcessingParameterBoolean(self.DRY_RUN, "Only list the commands that would create the environment",
                                            False)
        for param in (tile, dry):
            param.setFlags(param.flags() | advanced_flag())
            self.addParameter(param)
        self.addOutput(QgsProcessingOutputString(self.OUT_PYTHON, "The engine's Python"))
        self.addOutput(QgsProcessingOutputString(self.DEVICE, "The engine's device"))
        self.addOutput(QgsProcessingOutputString(self.COMMANDS, "The commands that create the environment"))

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> dict:
        python = (self.parameterAsFile(parameters, self.PYTHON, context) or "").strip()
        folder = (self.parameterAsFile(parameters, self.FOLDER, context) or "").strip() or str(default_env_folder())
        run_tile = self.parameterAsBoolean(parameters, self.TILE_CHECK, context)
        settings = PluginSettings.load()
        options = CreateOptions(tile_check=run_tile)
        if self.parameterAsBoolean(parameters, self.DRY_RUN, context):
            from ..engine_client import default_python

            lines = options.plan(default_python(), folder).command_lines()
            for line in lines:
                feedback.pushCommandInfo(line)
            return {self.OUT_PYTHON: engine_python(settings), self.DEVICE: "", self.COMMANDS: "\n".join(lines)}
        progress = progress_fn(feedback)
        try:
            if python:
                outcome = verify(os.path.abspath(os.path.expanduser(python)), settings.device, run_tile, "tiny",
                                 feedback.pushConsoleInfo, progress, feedback.isCanceled)
            else:
                outcome = create_environment(folder, options, settings.device, feedback.pushConsoleInfo, progress,
                                             feedback.isCanceled)
        except Cancelled as exc:
            raise QgsProcessingException("Cancelled by the user.") from exc
        except SetupFailed as exc:
            raise QgsProcessingException(str(exc)) from exc
        if not outcome.ok:
            raise QgsProcessingException(outcome.sentence())
        remember(outcome)
        feedback.pushInfo(outcome.sentence())
        return {self.OUT_PYTHON: outcome.python, self.DEVICE: outcome.device, self.COMMANDS: ""}

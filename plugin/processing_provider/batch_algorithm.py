"""Run one task over a whole archive of rasters on Ray: ``earthask:batch`` (``python -m core batch`` in the engine's
Python, a child process: progress from its log, Cancel ends it, a rerun skips what is done)."""

from __future__ import annotations

import re
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .base import EngineAlgorithm
from .engine_cli import run_cli

TASKS = ("segment", "caption", "ask", "ground", "classify", "change")
PROGRESS = re.compile(r"^progress (\d+)/(\d+)")
RAY_MISSING = "Batches run on Ray"  # the start of the engine's sentence when its Python lacks Ray


class BatchAlgorithm(EngineAlgorithm):
    """One pipeline over a folder, a list or a local STAC catalog of rasters; one row per raster (or grid cell)."""

    TASK, FOLDER, LIST, GRID = "TASK", "FOLDER", "LIST", "GRID"
    QUESTION, PROMPT, LABELS = "QUESTION", "PROMPT", "LABELS"
    OUTPUT_FOLDER, OUTPUT_LAYER, TABLE, DONE, FAILED = "OUTPUT_FOLDER", "OUTPUT_LAYER", "TABLE", "DONE", "FAILED"

    def name(self) -> str:
        return "batch"

    def displayName(self) -> str:  # noqa: N802
        return "Run over an archive of rasters (Ray)"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Runs one task (segment, caption, ask, ground, classify, or change between pairs) over every raster "
                "of a folder (searched recursively), a text file of paths ('BEFORE AFTER' per line for change) or "
                "a local STAC catalog, on a local Ray with one model per worker. Each raster, or each GRID x GRID "
                "cell of it, becomes one row of results.parquet and results.gpkg in the output folder, with its "
                "footprint in EPSG:4326, its answer or figures, and its status. Run it again with the same "
                "settings and output folder to finish an interrupted batch: what is done is skipped, what failed "
                "is retried. Needs Ray in the engine's Python (pip install -r requirements-batch.txt).")

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterEnum(self.TASK, "Task", options=list(TASKS), defaultValue=0))
        self.addParameter(QgsProcessingParameterFile(self.FOLDER, "Folder of rasters",
                                                     behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterFile(self.LIST, "Or: a .txt list of paths, or a STAC catalog .json",
                                                     optional=True, fileFilter="Lists and catalogs (*.txt *.json)"))
        self.addParameter(QgsProcessingParameterString(self.QUESTION, "Question, for ask", optional=True))
        self.addParameter(QgsProcessingParameterString(self.PROMPT, "What to find, for ground: e.g. the water bodies",
                                                       optional=True))
        self.addParameter(QgsProcessingParameterString(self.LABELS, "Scene labels separated by |, for classify",
                                                       optional=True))
        self.addParameter(QgsProcessingParameterNumber(self.GRID, "Grid cell size in pixels, 0 for whole rasters",
                                                       minValue=0, defaultValue=0))
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Output folder"))
        self.addOutput(QgsProcessingOutputVectorLayer(self.OUTPUT_LAYER, "Batch results"))
        self.addOutput(QgsProcessingOutputString(self.TABLE, "Results table (GeoParquet)"))
        self.addOutput(QgsProcessingOutputNumber(self.DONE, "Items done"))
        self.addOutput(QgsProcessingOutputNumber(self.FAILED, "Items failed"))

    def arguments(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        """``core batch`` arguments from the parameters (one clear sentence when they do not make a batch)."""
        task = TASKS[self.parameterAsEnum(parameters, self.TASK, context)]
        folder = (self.parameterAsFile(parameters, self.FOLDER, context) or "").strip()
        listed = (self.parameterAsFile(parameters, self.LIST, context) or "").strip()
        if bool(folder) == bool(listed):
            raise QgsProcessingException("Give either a folder of rasters or a list / STAC catalog, not both or none.")
        if task == "change" and not listed:
            raise QgsProcessingException("Change batches take a text file with 'BEFORE AFTER' paths on each line.")
        args = [task, folder or listed]
        for name, flag in ((self.QUESTION, "--question"), (self.PROMPT, "--prompt"), (self.LABELS, "--labels")):
            value = (self.parameterAsString(parameters, name, context) or "").strip()
            if value:
                args += [flag, value]
        grid = self.parameterAsInt(parameters, self.GRID, context)
        if grid:
            args += ["--grid", str(grid)]
        return args

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        args = self.arguments(parameters, context)
        config, python = self.engine_config(parameters, context)
        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)

        def on_line(line: str) -> None:
            found = PROGRESS.match(line)
            if found:
                feedback.setProgress(100.0 * int(found.group(1)) / max(int(found.group(2)), 1))

        feedback.setProgressText(f"{args[0]} over {args[1]}")
        try:
            result = run_cli(python, ["core", "batch", *args, "--out", out, "--model", config.model, "--gpkg",
                                      "--log-progress", "--json"], feedback, on_line, ok=(0, 1))  # 1: some items failed
        except QgsProcessingException as exc:
            if str(exc).startswith(RAY_MISSING):
                raise QgsProcessingException(f"{exc} The engine's Python is {python}.") from None
            raise
        feedback.pushInfo(result["summary"])
        if result.get("gpkg"):
            details = QgsProcessingContext.LayerDetails(f"batch: {args[0]}", context.project(), self.OUTPUT_LAYER)
            context.addLayerToLoadOnCompletion(result["gpkg"] + "|layername=results", details)
        return {self.OUTPUT_FOLDER: out, self.TABLE: result["table"], self.OUTPUT_LAYER: result.get("gpkg"),
                self.DONE: result["done"], self.FAILED: result["failed"]}

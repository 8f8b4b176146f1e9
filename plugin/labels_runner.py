"""Runs the Labels section's requests: check the active model against polygons, teach it, switch to the result.

Each request becomes a :class:`LabelTask` that runs the engine's own command line (``core.eval labels`` /
``core.train finetune``) in the engine's Python as a child process, through the same runner as the Processing
algorithms (progress from its ``step N/M`` lines; Cancel ends the process).
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Optional

from qgis.core import Qgis, QgsApplication, QgsProject, QgsTask, QgsVectorFileWriter
from qgis.PyQt.QtCore import QObject, pyqtSignal

from .labels_panel import CHECK, TEACH, LabelsPanel, LabelsRequest
from .output_folder import output_path
from .settings import PluginSettings
from .tasks import log_failure, task_flags


class LabelTask(QgsTask):
    """Runs ``python -m <args>`` in the engine's Python; the worker thread only relays its lines.

    Signals (main thread): resultReady(object) with the command's JSON, errorOccurred(str), wasCancelled(),
    messageChanged(str) with its latest log line.
    """

    resultReady = pyqtSignal(object)
    errorOccurred = pyqtSignal(str)
    wasCancelled = pyqtSignal()
    messageChanged = pyqtSignal(str)

    def __init__(self, description: str, python: str, args: list[str], steps: bool = False) -> None:
        super().__init__(description, task_flags())
        self.python, self.args, self.steps = python, args, steps
        self.result: Any = None
        self.error = ""
        self.log: list[str] = []

    # the Processing feedback the runner expects
    def pushInfo(self, line: str) -> None:  # noqa: N802 (QgsProcessingFeedback's name)
        self.log.append(line)
        self.messageChanged.emit(line[:120])

    def _on_line(self, line: str) -> None:
        from .processing_provider.label_algorithms import STEP

        found = STEP.search(line) if self.steps else None
        if found:
            self.setProgress(95.0 * int(found.group(1)) / max(int(found.group(2)), 1))

    def run(self) -> bool:
        """Worker thread: never touches the GUI."""
        from .processing_provider.engine_cli import run_cli

        try:
            self.result = run_cli(self.python, self.args, self, self._on_line)
            return True
        except Exception as exc:  # noqa: BLE001 - a failure becomes one sentence in the panel
            if not self.isCanceled():
                self.error = str(exc).strip() or type(exc).__name__
                log_failure(exc, "\n".join(self.log[-40:]) or repr(exc))
            return False

    def finished(self, result: bool) -> None:
        """Main thread: hand the outcome on."""
        if result:
            self.resultReady.emit(self.result)
        elif self.isCanceled():
            self.wasCancelled.emit()
        else:
            self.errorOccurred.emit(self.error or "The engine stopped without a result.")


class LabelsRunner(QObject):
    """Turns the panel's requests into LabelTasks and shows their outcome; ``message(text, level)`` reaches the
    message bar."""

    def __init__(self, panel: LabelsPanel, message: Callable[..., Any]) -> None:
        super().__init__()
        self.panel = panel
        self.message = message
        self.task: Optional[LabelTask] = None
        self._temp = ""
        self._alive = True  # False once the plugin unloads: a task ending later touches no widget
        panel.requested.connect(self.start)
        panel.cancelRequested.connect(self.cancel)
        panel.useModelRequested.connect(self.use_model)

    def start(self, request: LabelsRequest) -> Optional[LabelTask]:
        """Check or teach; returns the task started (None when the request cannot run)."""
        project = QgsProject.instance()
        raster, labels = project.mapLayer(request.raster_id), project.mapLayer(request.labels_id)
        settings = PluginSettings.load()
        problem = ("A task is already running." if self.task is not None else
                   "Pick a raster in the panel first." if raster is None else
                   "Pick a polygon layer of labels." if labels is None else
                   "Pick the field that holds each polygon's class." if not request.class_field else
                   "Teach from a checkpoint: set the model to 'default' or a model folder, not 'tiny'."
                   if request.action == TEACH and settings.model == "tiny" else "")
        if problem:
            self.panel.set_status(problem)
            return None
        from .processing_provider.label_algorithms import map_arguments

        self._temp = tempfile.mkdtemp(prefix="earthask-labels-")
        labels_path = self._export(labels, os.path.join(self._temp, "labels.gpkg"))
        if not labels_path:
            return None
        common = [raster.source(), labels_path]
        mapping = map_arguments(request.mapping)
        if request.action == CHECK:
            out = output_path(f"labels_check_{labels.name()}", "")
            args = ["core.eval", "labels", *common, "--class-field", request.class_field, "--model", settings.model,
                    "--json", "--out", out, *mapping]
            task = LabelTask("EarthAsk: check the model against labels", settings.python, args)
            task.resultReady.connect(lambda result: self._checked(result, settings.model, out))
        else:
            out = output_path(f"model_{request.class_field}", "", request.parent_folder)
            args = ["core.train", "finetune", "--raster", common[0], "--labels", labels_path, "--class-field",
                    request.class_field, "--model", settings.model, "--out", out, "--steps", str(request.steps),
                    *mapping]
            task = LabelTask("EarthAsk: teach the model from labels", settings.python, args, steps=True)
            task.resultReady.connect(lambda result: self._taught(result, out))
            task.errorOccurred.connect(lambda _text: self._remove(out))
            task.wasCancelled.connect(lambda: self._remove(out))
        task.progressChanged.connect(lambda p: self.panel.progress.setValue(int(p)))
        task.messageChanged.connect(self.panel.set_status)
        task.errorOccurred.connect(self._failed)
        task.wasCancelled.connect(self._cancelled)
        self.task = task
        self.panel.show_card("")
        self.panel.set_busy(True, "Segmenting and scoring…" if request.action == CHECK else "Teaching…")
        QgsApplication.taskManager().addTask(task)
        return task

    def _export(self, layer: Any, path: str) -> str:
        """The label layer as a GeoPackage the engine can read (any provider, memory layers too)."""
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG"
        written = QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, QgsProject.instance().transformContext(),
                                                             options)
        if written[0] != QgsVectorFileWriter.WriterError.NoError:
            self.panel.set_status(f"Could not write the labels for the engine: {written[1]}")
            return ""
        return path

    def _end(self) -> bool:
        """Forget the finished task and its temporary labels; True while the panel is still there to show it."""
        self.task = None
        if self._temp:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = ""
        if self._alive:
            self.panel.set_busy(False)
        return self._alive

    def _checked(self, result: dict[str, Any], model: str, out: str) -> None:
        if self._end():
            self.panel.show_scores(result, model, os.path.join(out, "report.md"))

    def _taught(self, result: dict[str, Any], out: str) -> None:
        if not self._end():
            return
        held = next((v for k, v in (result.get("held_out") or {}).items() if isinstance(v, dict)), {})
        before, after = held.get("before_miou"), held.get("after_miou")
        scores = (f"Held-out mean IoU {before:.3f} before, {after:.3f} after.<br>"
                  if isinstance(before, float) and isinstance(after, float) else "")
        classes = ", ".join(result.get("classes") or [])
        self.panel.show_card(f"Taught a new model: <b>{html.escape(os.path.basename(out))}</b><br>{scores}"
                             f"<small>Classes: {html.escape(classes)}<br>Folder: {html.escape(out)}</small>", out)

    def _failed(self, text: str) -> None:
        if not self._end():
            return
        self.panel.set_status(f"Failed: {text}")
        self.message(text)

    def _cancelled(self) -> None:
        if self._end():
            self.panel.set_status("Cancelled.")

    @staticmethod
    def _remove(folder: str) -> None:
        """Delete a model folder this runner named itself (new, unique) after a cancelled or failed teaching."""
        if os.path.isdir(folder):
            shutil.rmtree(folder, ignore_errors=True)

    def cancel(self) -> None:
        """Stop the running task (its child process ends)."""
        if self.task is not None:
            self.task.cancel()

    def shutdown(self) -> None:
        """On unload: stop the running task; its end no longer touches the panel."""
        self._alive = False
        self.cancel()

    def use_model(self, folder: str) -> bool:
        """Make ``folder`` the active model and save the settings; False (with a message) when core refuses it."""
        settings = PluginSettings.load()
        replace(settings, model=folder).save()
        active = PluginSettings.load().model
        self.panel.show_active_model(active)
        if active != folder:
            self.message(f"{folder} is not a model folder EarthAsk can load.")
            return False
        self.panel.set_status("The new model answers from the next question on.")
        self.message(f"EarthAsk now uses the model {os.path.basename(folder)}.", Qgis.MessageLevel.Info)
        return True

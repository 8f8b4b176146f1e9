"""Check the model against label polygons, and teach it from them: ``earthask:check_labels``, ``earthask:teach``.

Both run the engine's own command line (``python -m core.eval labels`` / ``python -m core.train finetune``) in the
engine's Python as a child process: progress comes from its log lines, Cancel ends it, nothing here imports torch.
"""

from __future__ import annotations

import os
import re
from typing import Any

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterField,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from .base import EngineAlgorithm, source_type
from .engine_cli import run_cli

STEP = re.compile(r"step (\d+)/(\d+)")


def map_arguments(text: str) -> list[str]:
    """``"veg=forest+agriculture; pv=building"`` -> ``["--map", "veg=forest+agriculture", "--map", "pv=building"]``."""
    out: list[str] = []
    for item in (t.strip() for t in re.split(r"[;\n]", text or "")):
        if item:
            out += ["--map", item]
    return out


class LabelAlgorithm(EngineAlgorithm):
    """Shared parameters: the raster, the label polygons, their class field, and the class mapping."""

    RASTER, LABELS, CLASS_FIELD, MAPPING = "RASTER", "LABELS", "CLASS_FIELD", "MAPPING"

    def add_label_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, "Raster"))
        self.addParameter(QgsProcessingParameterVectorLayer(self.LABELS, "Label polygons (any CRS)",
                                                            [source_type("VectorPolygon")]))
        self.addParameter(QgsProcessingParameterField(self.CLASS_FIELD, "Class field",
                                                      parentLayerParameterName=self.LABELS))
        self.addParameter(QgsProcessingParameterString(
            self.MAPPING, "Class mapping, NAME=CLASS[+CLASS] separated by ;, e.g. vegetation=forest+agriculture",
            optional=True))

    def label_arguments(self, parameters: dict, context: Any, feedback: Any) -> tuple[str, str, str, list[str]]:
        """(raster path, labels file path, class field, --map arguments)."""
        raster = self.raster(parameters, self.RASTER, context)
        labels = self.parameterAsCompatibleSourceLayerPath(parameters, self.LABELS, context, ["gpkg", "shp"], "gpkg",
                                                           feedback)
        field = (self.parameterAsString(parameters, self.CLASS_FIELD, context) or "").strip()
        if not field:
            raise QgsProcessingException("Pick the field that holds each polygon's class.")
        mapping = map_arguments(self.parameterAsString(parameters, self.MAPPING, context))
        return raster.source(), labels, field, mapping

    def model_and_python(self, parameters: dict, context: Any) -> tuple[str, str]:
        config, python = self.engine_config(parameters, context)
        return config.model, python


class CheckLabelsAlgorithm(LabelAlgorithm):
    """Scores the model's land-cover map against the analyst's polygons; writes a report and disagreements."""

    OUTPUT_FOLDER, MIOU, REPORT, DISAGREEMENTS = "OUTPUT_FOLDER", "MIOU", "REPORT", "DISAGREEMENTS"

    def name(self) -> str:
        return "check_labels"

    def displayName(self) -> str:  # noqa: N802
        return "Check the model against labels"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Segments the raster with the model and compares the map with your label polygons (any CRS): per-"
                "class IoU, precision, recall, the confusion matrix and labelled against predicted area in ha, over "
                "the labelled polygons only. A label class the model lacks scores 0 unless mapped (MAPPING, e.g. "
                "'vegetation=forest+agriculture; lake=water'); names such as 'lakes' or 'woods' map by themselves. "
                "Writes report.md, report.png, scores.json and disagreements.gpkg (where the model and the labels "
                "disagree, with both classes) to the output folder.")

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.add_label_parameters()
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Report folder"))
        self.addOutput(QgsProcessingOutputNumber(self.MIOU, "Mean IoU over the label classes"))
        self.addOutput(QgsProcessingOutputString(self.REPORT, "Report (Markdown)"))
        self.addOutput(QgsProcessingOutputString(self.DISAGREEMENTS, "Disagreements (GeoPackage)"))

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        raster, labels, field, mapping = self.label_arguments(parameters, context, feedback)
        model, python = self.model_and_python(parameters, context)
        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        feedback.setProgressText("segmenting and scoring")
        result = run_cli(python, ["core.eval", "labels", raster, labels, "--class-field", field, "--model", model,
                                  "--json", "--out", out, *mapping], feedback)
        for name, c in result["classes"].items():
            feedback.pushInfo(f"{name}: IoU {c['iou']:.3f}, precision {c['precision']:.3f}, recall {c['recall']:.3f}, "
                              f"labelled {c['labelled_ha']:.2f} ha, predicted {c['predicted_ha']:.2f} ha")
        return {self.MIOU: result["miou"], self.REPORT: os.path.join(out, "report.md"),
                self.DISAGREEMENTS: os.path.join(out, "disagreements.gpkg"), self.OUTPUT_FOLDER: out}


class TeachAlgorithm(LabelAlgorithm):
    """Fine-tunes the model on the label polygons and saves a new model folder, with before/after scores."""

    STEPS, OUTPUT_MODEL, BEFORE, AFTER, CLASSES = "STEPS", "OUTPUT_MODEL", "BEFORE_MIOU", "AFTER_MIOU", "CLASSES"

    def name(self) -> str:
        return "teach"

    def displayName(self) -> str:  # noqa: N802
        return "Teach the model from labels"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Trains the model's segmentation head (and its multispectral refiner when the raster has NIR) on "
                "windows inside and around your label polygons, and saves a new model folder that works wherever a "
                "model folder does (the MODEL parameter, the EarthAsk settings). Label classes mapped to the "
                "model's (MAPPING, or the same name) sharpen those; the others become new classes, which questions "
                "and 'find the <class>' then use. A quarter of the labelled ground, in whole blocks away from the "
                "training polygons, is held out: the log and the report (report/report.md in the model folder) "
                "give its scores before and after. A few hundred steps take minutes on a laptop CPU.")

    def initAlgorithm(self, config: Any = None) -> None:  # noqa: N802
        self.add_label_parameters()
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterNumber(self.STEPS, "Training steps", minValue=1, maxValue=100000,
                                                       defaultValue=200))
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_MODEL, "New model folder"))
        self.addOutput(QgsProcessingOutputNumber(self.BEFORE, "Held-out mean IoU before"))
        self.addOutput(QgsProcessingOutputNumber(self.AFTER, "Held-out mean IoU after"))
        self.addOutput(QgsProcessingOutputString(self.CLASSES, "The new model's classes"))

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        raster, labels, field, mapping = self.label_arguments(parameters, context, feedback)
        model, python = self.model_and_python(parameters, context)
        if model == "tiny":
            raise QgsProcessingException("Teach from a checkpoint: 'default' or a model folder, not 'tiny'.")
        out = self.parameterAsString(parameters, self.OUTPUT_MODEL, context)
        steps = self.parameterAsInt(parameters, self.STEPS, context)

        def on_line(line: str) -> None:
            found = STEP.search(line)
            if found:
                feedback.setProgress(90.0 * int(found.group(1)) / max(int(found.group(2)), 1))

        feedback.setProgressText("fine-tuning")
        result = run_cli(python, ["core.train", "finetune", "--raster", raster, "--labels", labels, "--class-field",
                                  field, "--model", model, "--out", out, "--steps", str(steps), *mapping], feedback,
                         on_line)
        held = result.get("held_out", {}).get(raster, {})
        feedback.setProgress(100.0)
        return {self.OUTPUT_MODEL: out, self.BEFORE: held.get("before_miou"), self.AFTER: held.get("after_miou"),
                self.CLASSES: "|".join(result["classes"])}

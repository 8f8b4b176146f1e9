"""The chat panel's "compare with" layer picker, and a change question run as ``Engine.change`` from it.

The picker only says which second raster is picked; a request that carries one and asks about change (see
:func:`is_change_question`) becomes a "change" turn: the panel's raster is the first date, the picked one the second,
over the panel's target. Its card states the measured from-to figures and where they come from.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from qgis.core import Qgis, QgsApplication, QgsMapLayerProxyModel, QgsProject, QgsRasterLayer
from qgis.gui import QgsMapLayerComboBox
from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QWidget

from core.errors import InputError

from .conversation import DONE, Turn, format_area

CHANGE = "change"  # the turn kind
_NARRATIVE = re.compile(r"^(?:what|describe|summari[sz]e|tell me|explain|show)\b.*\bchange|^changes?\W*$")
FIGURES = 6  # from-to pairs shown on a card


class ComparePicker(QWidget):
    """"Compare with: [raster]", empty by default; never lists the panel's own raster. It only holds the choice:
    the panel's request carries :meth:`layer_id`."""

    def __init__(self, raster_combo: QgsMapLayerComboBox, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Compare with"))
        self.combo = QgsMapLayerComboBox()
        filters = getattr(Qgis, "LayerFilter", None)
        self.combo.setFilters(filters.RasterLayer if filters is not None else QgsMapLayerProxyModel.RasterLayer)
        self.combo.setAllowEmptyLayer(True)
        self.combo.setLayer(None)
        self.combo.setToolTip("A second date of the same place: a question about change (\u201chow much forest was "
                              "lost?\u201d) then compares the raster above with this one")
        row.addWidget(self.combo, 1)
        self.raster_combo = raster_combo
        raster_combo.layerChanged.connect(self._exclude)
        self._exclude(raster_combo.currentLayer())

    def _exclude(self, layer: Any) -> None:
        self.combo.setExceptedLayerList([layer] if layer is not None else [])

    def layer_id(self) -> str:
        """The picked layer's id, "" for none."""
        layer = self.combo.currentLayer()
        return layer.id() if layer is not None else ""


def is_change_question(text: str) -> bool:
    """True when the words ask about change between two dates ("how much forest was lost?", "what changed?")."""
    from core.change.questions import parse_change_question

    words = text.strip().lower()
    if not words:
        return False
    if _NARRATIVE.search(words):
        return True
    try:
        parse_change_question(words)
    except InputError:
        return False
    return True


def change_kwargs(before: str, after: str, aoi: Any, question: str, imagery: Any, after_imagery: Any,
                  out_dir: str, stem: str) -> dict[str, Any]:
    """``Engine.change`` keyword arguments: outputs in ``out_dir``, a measured answer when the question has one."""
    import os

    from .output_folder import output_path

    kwargs: dict[str, Any] = {"before": before, "after": after, "aoi": aoi,
                              "out": output_path(f"change_{stem}", ".tif", out_dir),
                              "polygons": output_path(f"change_{stem}", ".gpkg", out_dir)}
    if os.path.realpath(before) == os.path.realpath(after):
        raise InputError("Pick another raster to compare with: the first and the second date are one file.")
    kwargs.update(imagery.engine_kwargs())
    kwargs.update({f"after_{k}": v for k, v in after_imagery.engine_kwargs().items()})
    from core.change.questions import parse_change_question

    try:
        parse_change_question(question)
        kwargs["question"] = question
    except InputError:  # "what changed?": the model's narrative around the measured figures, checked
        kwargs["caption"] = True
    return kwargs


def change_card(result: Any) -> dict[str, Any]:
    """The turn's result dict: the change result's own dict, with the answer line, how it was obtained and the
    from-to figures the card shows. ``source``: measured, or the caption's (model, checked) for a narrative."""
    data = result.to_dict()
    asked = result.answer or {}
    rows = result.reported()
    source = "measured"
    if asked:
        answer = f"{asked['answer']}"
        explanation = asked["sentence"]
    elif result.caption:
        answer, source = result.caption["caption"], result.caption["source"]
        explanation = f"{result.caption['explanation']}. " + " ".join(result.summary())
    else:
        answer = (f"{format_area(result.changed_m2)} changed" if rows else "No change above the noise floor")
        explanation = " ".join(result.summary())
    figures = [{"name": f"{t.from_class} -> {t.to_class}",
                "text": f"{format_area(t.area_m2)}, {100 * t.share:.2f}% of the compared area"} for t in rows[:FIGURES]]
    if len(rows) > FIGURES:
        figures.append({"name": "", "text": f"{len(rows) - FIGURES} smaller changes in the change layer"})
    figures.append({"name": "noise floor", "text": f"{100 * result.noise.disagreement:.1f}% of unchanged ground "
                                                   f"({result.noise.method})"})
    data.update(answer=answer, explanation=explanation, figures=figures, source=source,
                change_answer=asked or None)
    if result.caption and result.caption.get("overruled"):
        data.update(overruled=True, model_answer=result.caption["model_caption"])
    return data


def submit_change(controller: Any, request: Any) -> Optional[Turn]:
    """Start a change turn for a request that picked a second raster; None after a message (nothing started)."""
    from .engine_calls import TurnInput
    from .layer_bands import layer_bands
    from .output_folder import output_dir
    from .settings import PluginSettings
    from .targets import aoi_in_raster_crs
    from .tasks import EngineTask

    if controller.task is not None:
        controller.message("An answer is still running: wait for it or cancel it.")
        return None
    project = QgsProject.instance()
    try:
        before = project.mapLayer(request.layer_id) if request.layer_id else None
        after = project.mapLayer(request.compare_id)
        for layer in (before, after):
            if not isinstance(layer, QgsRasterLayer) or not layer.isValid():
                raise InputError("Pick a raster layer and a second date to compare it with in the EarthAsk panel.")
        target = controller.current_target(request.target_kind)
        aoi = aoi_in_raster_crs(target, before)
        kwargs = change_kwargs(before.source(), after.source(), aoi, request.text.strip(), layer_bands(before),
                               layer_bands(after), output_dir(), f"{before.name()}_{after.name()}")
    except InputError as exc:
        controller.message(str(exc))
        return None
    turn = controller.conversation.add(CHANGE, request.text.strip(), target.label, f"{before.name()} -> {after.name()}")
    controller.inputs[turn.id] = TurnInput(before.id(), before.source(), before.crs(), aoi, "", layer_bands(before))
    controller.dock.add_turn(turn)
    settings = PluginSettings.load()
    task = EngineTask(f"EarthAsk: {turn.text[:60]}", "change", kwargs, settings.to_engine_config(),
                      controller.holder, settings.python)
    controller.last_call = ("change", kwargs)
    task.textReceived.connect(lambda piece, t=turn.id: controller._alive and controller.dock.append_text(t, piece))
    task.progressChanged.connect(controller.dock.set_progress)
    task.messageChanged.connect(controller.dock.status_label.setText)
    task.resultReady.connect(lambda result, t=turn: change_done(controller, t, result))
    task.errorOccurred.connect(lambda text, t=turn: controller._failed(t, text))
    task.wasCancelled.connect(lambda t=turn: controller._cancelled(t))
    controller.task = task
    controller.dock.set_busy(True, "Loading model…" if controller.holder.builds == 0 else "Comparing the two dates…")
    QgsApplication.taskManager().addTask(task)
    return turn


def change_done(controller: Any, turn: Turn, result: Any) -> None:
    """The card, then the change mask and polygons added to the project, styled from-to."""
    from .change_layers import style_change_mask, style_change_polygons
    from .layers import add_to_project

    turn.result_obj = result
    turn.result = change_card(result)
    turn.answer = turn.result["answer"]
    turn.status = DONE
    if not controller._end(turn):
        return
    from qgis.core import QgsVectorLayer

    mask = QgsRasterLayer(result.mask_path, f"change ({turn.raster})", "gdal")
    if mask.isValid():
        style_change_mask(mask, result)
        add_to_project(mask)
    if result.polygons_path:
        polygons = QgsVectorLayer(f"{result.polygons_path}|layername=change", f"change polygons ({turn.raster})",
                                  "ogr")
        if polygons.isValid():
            style_change_polygons(polygons, result)
            add_to_project(polygons)

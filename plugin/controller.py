"""Connects the chat panel and the draw-box tool to engine tasks, layers and the message bar."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple
from typing import Any, Optional

from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer, QgsRectangle

from core.errors import InputError
from core.results import to_dict

from . import layers
from .bands_dialog import BandsDialog
from .chat_dock import ChatDock, ChatRequest
from .conversation import CANCELLED, DONE, FAILED, Conversation, Turn, answer_text, format_area, provenance_lines
from .engine_calls import TurnInput, engine_call
from .engine_client import ENGINES, EngineHolder
from .evidence import has_found
from .found_layers import found_layers
from .intent import GROUND, SEGMENT, Intent, parse_intent
from .layer_bands import layer_bands, show_layer_true_color
from .map_tools import BoxMapTool
from .output_folder import output_dir, output_path
from .settings import PluginSettings
from .targets import (
    BOX,
    SELECTION,
    VIEW,
    Target,
    aoi_in_raster_crs,
    box_target,
    describe_rect,
    selection_target,
    view_target,
)
from .tasks import EngineTask
from .true_color import layer_rgb_bands
from .true_color_offer import offer_true_color
from .zoom import aoi_extent, union_extent, zoom_canvas_to


class ChatController:
    """The plugin's behaviour: requests in, tasks out, results onto the map and into the panel."""

    def __init__(self, iface: Any, dock: ChatDock, tool: BoxMapTool, holder: EngineHolder = ENGINES) -> None:
        self.iface = iface
        self.dock = dock
        self.tool = tool
        self.holder = holder
        self.canvas = iface.mapCanvas()
        self.conversation = Conversation()
        self.task: Optional[EngineTask] = None
        self.last_call: Optional[tuple[str, dict[str, Any]]] = None  # the engine method and kwargs last sent
        self.inputs: dict[int, TurnInput] = {}
        self.box_layers: dict[int, list[str]] = {}  # turn id -> ids of the layers of what it found
        self._hinted: set[str] = set()  # raster layers already offered the true-colour view
        self._connections: list[tuple[Any, Callable]] = []
        self._alive = True
        for signal, slot in (
            (dock.requestSubmitted, self.submit), (dock.targetKindChanged, self.set_target_kind),
            (dock.drawBoxRequested, self.activate_tool), (dock.cancelRequested, self.cancel),
            (dock.segmentationRequested, self.add_segmentation), (dock.boxesRequested, self.add_boxes),
            (dock.zoomRequested, self.zoom_to), (dock.saveBoxesRequested, self.save_boxes),
            (dock.exportRequested, self.export), (dock.clearRequested, self.clear),
            (dock.bandsRequested, self.edit_bands),
            (tool.boxDrawn, self.on_box_drawn), (self.canvas.extentsChanged, self.refresh_target),
            (self.canvas.selectionChanged, self.refresh_target), (self.canvas.mapToolSet, self._tool_changed),
        ):
            signal.connect(slot)
            self._connections.append((signal, slot))
        self.refresh_target()
        from .labels_runner import LabelsRunner

        self.labels = LabelsRunner(dock.labels_panel, self.message)  # the panel's Labels section

    @property
    def out_dir(self) -> str:
        """The folder land-cover GeoTIFFs and found objects are written to (see :mod:`plugin.output_folder`)."""
        return output_dir()

    # --- messages --------------------------------------------------------------------------------------
    def message(self, text: str, level: Qgis.MessageLevel = Qgis.MessageLevel.Warning, duration: int = 8) -> None:
        """One sentence in QGIS's message bar."""
        self.iface.messageBar().pushMessage("EarthAsk", text, level=level, duration=duration)

    # --- the target ------------------------------------------------------------------------------------
    def current_target(self, kind: Optional[str] = None) -> Target:
        """The target of this kind (the panel's choice by default); InputError when there is none."""
        kind = kind or self.dock.target_kind()
        crs = self.canvas.mapSettings().destinationCrs()
        if kind == BOX:
            return box_target(self.tool.box, crs)
        if kind == SELECTION:
            return selection_target(self.iface.activeLayer())
        return view_target(self.canvas.extent(), crs)

    def refresh_target(self, *_: Any) -> None:
        """Show the current target, and its size, in the panel."""
        kind = self.dock.target_kind()
        try:
            target = self.current_target(kind)
            text = target.label
            if kind in (VIEW, BOX):
                text += f" ({describe_rect(target.geometry.boundingBox(), target.crs)})"
        except InputError as exc:
            text = str(exc)
        self.dock.set_target(kind, text)

    def set_target_kind(self, kind: str) -> None:
        """The panel picked a target kind: the box shows only while it is the target; none yet -> draw one."""
        self.tool.set_band_visible(kind == BOX)
        if kind == BOX and self.tool.box is None:
            self.activate_tool()
        elif kind != BOX and self.canvas.mapTool() is self.tool:
            self.canvas.unsetMapTool(self.tool)
        self.refresh_target()

    def activate_tool(self) -> None:
        """Make the draw-box tool the canvas's map tool."""
        self.canvas.setMapTool(self.tool)

    def _tool_changed(self, new_tool: Any, *_: Any) -> None:
        self.dock.set_drawing(new_tool is self.tool)

    def on_box_drawn(self, rect: QgsRectangle) -> None:
        """A box was drawn: it becomes the target."""
        self.dock.set_target(BOX, "")
        self.refresh_target()

    # --- asking ----------------------------------------------------------------------------------------
    def submit(self, request: ChatRequest) -> Optional[Turn]:
        """Validate a request, start its task and return the new turn (None after a message)."""
        if self.task is not None:
            self.message("An answer is still running: wait for it or cancel it.")
            return None
        from .compare_picker import is_change_question, submit_change

        if getattr(request, "compare_id", "") and is_change_question(request.text):  # a second date is picked
            return submit_change(self, request)
        try:
            intent = parse_intent(request.text)
            layer = QgsProject.instance().mapLayer(request.layer_id) if request.layer_id else None
            if not isinstance(layer, QgsRasterLayer) or not layer.isValid():
                raise InputError("Add a raster layer and pick it in the EarthAsk panel first.")
            target = self.current_target(request.target_kind)
            aoi = aoi_in_raster_crs(target, layer)
        except InputError as exc:
            self.message(str(exc))
            return None
        turn = self.conversation.add(intent.kind, request.text.strip(), target.label, layer.name())
        self.inputs[turn.id] = TurnInput(layer.id(), layer.source(), layer.crs(), aoi, intent.query,
                                         layer_bands(layer))
        self.dock.add_turn(turn)
        self._start(turn, intent)
        self._offer_true_color(layer)
        return turn

    def _start(self, turn: Turn, intent: Intent) -> None:
        src = self.inputs[turn.id]
        settings = PluginSettings.load()
        config = settings.to_engine_config()
        try:
            out_dir = self.out_dir if intent.kind == SEGMENT else ""
            method, kwargs = engine_call(intent, src.source, src.aoi, out_dir, src.imagery)
        except InputError as exc:
            self._failed(turn, str(exc))
            return
        task = EngineTask(f"EarthAsk: {turn.text[:60]}", method, kwargs, config, self.holder, settings.python)
        self.last_call = (method, kwargs)
        task.textReceived.connect(lambda piece, t=turn.id: self._alive and self.dock.append_text(t, piece))
        task.progressChanged.connect(self.dock.set_progress)
        task.messageChanged.connect(self.dock.status_label.setText)
        task.resultReady.connect(lambda result, t=turn: self._done(t, result))
        task.errorOccurred.connect(lambda text, t=turn: self._failed(t, text))
        task.wasCancelled.connect(lambda t=turn: self._cancelled(t))
        self.task = task
        self.dock.set_busy(True, "Loading model…" if self.holder.builds == 0 else "Working…")
        QgsApplication.taskManager().addTask(task)

    def _end(self, turn: Turn) -> bool:
        self.task = None
        if not self._alive:
            return False
        self.dock.set_busy(False)
        prov = (turn.result or {}).get("provenance")
        self.dock.show_result(turn, provenance_lines(prov))
        return True

    def _done(self, turn: Turn, result: Any) -> None:
        turn.result_obj = result
        turn.result = to_dict(result)
        turn.answer = answer_text(turn.kind, turn.result)
        turn.status = DONE
        if not self._end(turn):
            return
        if turn.kind == GROUND and has_found(turn.result):
            self.add_boxes(turn.id)
            self.zoom_to(turn.id)
        elif turn.kind == GROUND:
            self.message(f"Nothing like \u201c{result.prompt}\u201d was found in the {turn.target}.",
                         Qgis.MessageLevel.Info)
        elif turn.kind == SEGMENT:
            self.add_segmentation(turn.id)

    def _failed(self, turn: Turn, text: str) -> None:
        turn.status, turn.error = FAILED, text
        if self._end(turn):
            self.message(text, Qgis.MessageLevel.Critical)

    def _cancelled(self, turn: Turn) -> None:
        turn.status = CANCELLED
        if self._end(turn):
            self.message("Cancelled.", Qgis.MessageLevel.Info, 3)

    def cancel(self) -> None:
        """Ask the running task to stop (it stops within one tile)."""
        if self.task is not None:
            self.task.cancel()

    # --- acting on results -----------------------------------------------------------------------------
    def add_segmentation(self, turn_id: int) -> None:
        """Add a segment turn's mask as a styled layer, or segment the turn's area first."""
        turn = self.conversation.get(turn_id)
        if turn is None:
            return
        result = turn.result_obj
        if turn.kind != SEGMENT or result is None:
            if self.task is not None:
                self.message("An answer is still running: wait for it or cancel it.")
                return
            src = self.inputs[turn_id]
            new = self.conversation.add(SEGMENT, f"Land cover of: {turn.text}", turn.target, turn.raster)
            self.inputs[new.id] = src
            self.dock.add_turn(new)
            self._start(new, Intent(SEGMENT))
            return
        areas = {s.name: format_area(s.area_m2) for s in result.provenance.class_stats}
        layer = layers.segmentation_layer(result.mask_path, result.classes, f"Land cover ({turn.raster})", areas)
        layers.add_to_project(layer)

    def _found_layers(self, turn_id: int) -> list[Any]:
        turn = self.conversation.get(turn_id)
        result = turn.result_obj if turn else None
        if result is None or turn.kind != GROUND:
            raise InputError("This answer has no boxes.")
        src = self.inputs[turn_id]
        return found_layers(result, src.crs, QgsProject.instance().crs(), src.source,
                            PluginSettings.load().oriented_boxes)

    def add_boxes(self, turn_id: int) -> Any:
        """Add what a ground turn found (measured polygons, or the model's boxes); returns the first layer.

        Each layer is a GeoPackage in the output folder, so a saved project keeps it.
        """
        try:
            found = self._kept(self._found_layers(turn_id), self.conversation.get(turn_id).result_obj)
        except InputError as exc:
            self.message(str(exc))
            return None
        for layer in reversed(found):  # the first ends on top
            layers.add_to_project(layer)
        self.box_layers[turn_id] = [layer.id() for layer in found]
        return found[0]

    def _kept(self, found: list[Any], result: Any) -> list[Any]:
        """The found layers as GeoPackages in the output folder (same names and styles)."""
        folder = self.out_dir
        kept = []
        for i, layer in enumerate(found):
            table = "oriented_boxes" if i else ("objects" if result.source == "measured" else "boxes")
            kept.append(layers.kept_copy(layer, output_path(f"find_{result.prompt}", ".gpkg", folder), table))
        return kept

    def _live_layers(self, turn_id: int) -> list[Any]:
        """The layers a turn added that are still in the project (a removed layer is gone for good)."""
        project = QgsProject.instance()
        return [lyr for lyr in map(project.mapLayer, self.box_layers.get(turn_id, [])) if lyr is not None]

    def zoom_to(self, turn_id: int) -> None:
        """Zoom to the union of what a turn found (no closer than 1:5000), or to the area it was about."""
        src = self.inputs.get(turn_id)
        if src is None:
            return
        dest = self.canvas.mapSettings().destinationCrs()
        rect = union_extent(self._live_layers(turn_id), dest)
        if rect.isNull():
            rect = aoi_extent(src.aoi, src.crs, dest)
        zoom_canvas_to(self.canvas, rect)

    def save_boxes(self, turn_id: int, path: str) -> Optional[str]:
        """Save what a turn found (its first layer: objects or boxes) to a GeoPackage; returns the path written."""
        try:
            layer = (self._live_layers(turn_id) or self._found_layers(turn_id))[0]
            written = layers.save_as_geopackage(layer, path)
        except InputError as exc:
            self.message(str(exc))
            return None
        self.message(f"Saved {layer.name()} to {written}.", Qgis.MessageLevel.Success, 5)
        return written

    def export(self, path: str) -> None:
        """Save the conversation as Markdown (.md) or JSON (.json)."""
        try:
            written = self.conversation.save(path)
        except OSError as exc:
            self.message(f"Could not write {path}: {exc.strerror or exc}.")
            return
        self.message(f"Saved the conversation to {written}.", Qgis.MessageLevel.Success, 5)

    def clear(self) -> None:
        """Forget the conversation (layers already added stay)."""
        self.conversation.clear()
        self.inputs.clear()
        self.box_layers.clear()
        self.dock.clear_turns()

    def shutdown(self) -> None:
        """Stop the running task and disconnect everything (on unload)."""
        self.cancel()
        self.labels.shutdown()
        self._alive = False
        for signal, slot in self._connections:
            try:
                signal.disconnect(slot)
            except (TypeError, RuntimeError):
                pass
        self._connections.clear()

    # --- true colour -----------------------------------------------------------------------------------
    def show_true_color(self, layer: Optional[Any] = None) -> bool:
        """Draw a raster (the active layer by default) with the bands the engine reads as red, green, blue (under
        the layer's own band choice, if any)."""
        layer = layer if layer is not None else self.iface.activeLayer()
        try:
            bands = layer_rgb_bands(layer, *astuple(layer_bands(layer))) if layer is not None else None
            if bands is None or not show_layer_true_color(layer):
                self.message("Pick a raster layer of three bands or more to show in true colour.")
                return False
        except InputError as exc:  # the layer's band choice does not fit the raster
            self.message(str(exc))
            return False
        self.message(f"{layer.name()} is shown in true colour: red = band {bands[0]}, green = band {bands[1]}, "
                     f"blue = band {bands[2]}.", Qgis.MessageLevel.Success, 5)
        return True

    def edit_bands(self, layer: Optional[Any] = None) -> Optional[BandsDialog]:
        """Open "Bands of this layer…" for a raster (the panel's raster, else the active layer); the dialog saves
        the choice on the layer and draws it. Returns the open dialog (None after a message)."""
        layer = layer or self.dock.raster_combo.currentLayer() or self.iface.activeLayer()
        if not isinstance(layer, QgsRasterLayer) or not layer.isValid():
            self.message("Pick a raster layer to choose its bands.")
            return None
        dialog = BandsDialog(layer, self.iface.mainWindow())
        dialog.accepted.connect(lambda: self._bands_saved(dialog))
        dialog.open()
        return dialog

    def _bands_saved(self, dialog: BandsDialog) -> None:
        choice = dialog.choice()
        said = f"its {choice.text()}" if choice.is_set else "what its file says"
        self.message(f"EarthAsk reads {dialog.layer.name()} with {said}.", Qgis.MessageLevel.Success, 5)

    def _offer_true_color(self, layer: QgsRasterLayer) -> None:
        """Once per layer: when QGIS shows other bands than the engine reads, offer the engine's true colour."""
        if layer.id() not in self._hinted:
            layer_id = layer.id()
            if offer_true_color(self.iface.messageBar(), layer, lambda: self._true_color_of(layer_id)):
                self._hinted.add(layer_id)

    def _true_color_of(self, layer_id: str) -> None:
        layer = QgsProject.instance().mapLayer(layer_id)
        if layer is not None:  # not removed since the offer
            self.show_true_color(layer)

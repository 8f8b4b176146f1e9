"""The plugin object QGIS holds: initGui/initProcessing add the panel, tool, menu and provider; unload removes them."""

from __future__ import annotations

import os
from typing import Any, Optional

from qgis.core import QgsApplication, QgsRasterLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QAction, QIcon

ICON_DIR = os.path.join(os.path.dirname(__file__), "resources", "icons")
MENU = "&EarthAsk"


def icon(name: str) -> QIcon:
    """An icon from resources/icons."""
    return QIcon(os.path.join(ICON_DIR, name))


class EarthAskPlugin:
    """Everything initGui adds, unload takes away again, in reverse order."""

    def __init__(self, iface: Any) -> None:
        self.iface = iface
        self.provider = None
        self.dock = None
        self.tool = None
        self.controller = None
        self.actions: list[QAction] = []

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name)
        """Register the Processing provider (batch mode, modeler, qgis_process)."""
        from .processing_provider.provider import EarthAskProvider

        registry = QgsApplication.processingRegistry()
        if self.provider is None and registry.providerById("earthask") is None:  # a duplicate id is deleted
            self.provider = EarthAskProvider()
            if not registry.addProvider(self.provider):
                self.provider = None

    def initGui(self) -> None:  # noqa: N802
        """Add the chat panel, the draw-box tool, the menu and toolbar actions."""
        from .chat_dock import ChatDock
        from .controller import ChatController
        from .map_tools import BoxMapTool

        self.initProcessing()
        main = self.iface.mainWindow()
        self.dock = ChatDock(main)
        self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.tool = BoxMapTool(self.iface.mapCanvas())
        self.controller = ChatController(self.iface, self.dock, self.tool)
        self.dock.settingsRequested.connect(self.show_settings)
        layer = self.iface.activeLayer()
        if isinstance(layer, QgsRasterLayer):
            self.dock.raster_combo.setLayer(layer)
        self.iface.currentLayerChanged.connect(self._current_layer_changed)

        panel = self._action("earthask.svg", "EarthAsk chat", self.dock.toggleViewAction().trigger, checkable=True)
        self.dock.visibilityChanged.connect(panel.setChecked)
        self._action("draw_box.svg", "Draw a box to ask about", self.controller.activate_tool)
        self._action("settings.svg", "EarthAsk settings…", self.show_settings, toolbar=False)
        from .engine_setup.first_use import FirstUse  # the engine's Python: checked when the panel first shows

        self.first_use = FirstUse(main)
        self.dock.visibilityChanged.connect(self.first_use.dock_visible)
        self._action("settings.svg", "Set up engine…", self.first_use.show_dialog, toolbar=False)
        self._action("earthask.svg", "Show as true colour", lambda: self.controller.show_true_color(), toolbar=False)
        self._action("earthask.svg", "Bands of this layer…", self.edit_bands, toolbar=False)
        from .chat_dock import show_on_first_start

        show_on_first_start(self.dock, self.iface)  # once per profile: the user sees where the panel is

    def _action(self, icon_name: str, text: str, slot: Any, checkable: bool = False,
                toolbar: bool = True) -> QAction:
        action = QAction(icon(icon_name), text, self.iface.mainWindow())
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.iface.addPluginToMenu(MENU, action)
        if toolbar:
            self.iface.addToolBarIcon(action)
        self.actions.append(action)
        return action

    def _current_layer_changed(self, layer: Optional[Any]) -> None:
        if isinstance(layer, QgsRasterLayer) and self.dock is not None:
            self.dock.raster_combo.setLayer(layer)
        if self.controller is not None:
            self.controller.refresh_target()

    def edit_bands(self) -> None:
        """Open "Bands of this layer…" for the active raster layer (else the chat panel's raster)."""
        layer = self.iface.activeLayer()
        if self.controller is not None:
            self.controller.edit_bands(layer if isinstance(layer, QgsRasterLayer) else None)

    def show_settings(self) -> None:
        """Open the settings dialog; saved settings apply to the next question."""
        from .settings import PluginSettings
        from .settings_dialog import SettingsDialog

        dialog = SettingsDialog(PluginSettings.load(), self.iface.mainWindow())
        if dialog.exec():
            dialog.values().save()

    def unload(self) -> None:
        """Undo initGui and initProcessing."""
        if getattr(self, "first_use", None) is not None:
            self.first_use.stop()
            self.first_use = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        try:
            self.iface.currentLayerChanged.disconnect(self._current_layer_changed)
        except (TypeError, RuntimeError):
            pass
        for action in self.actions:
            self.iface.removePluginMenu(MENU, action)
            self.iface.removeToolBarIcon(action)
            action.deleteLater()
        self.actions.clear()
        if self.controller is not None:
            self.controller.shutdown()
            self.controller = None
        if self.tool is not None:
            canvas = self.iface.mapCanvas()
            if canvas.mapTool() is self.tool:
                canvas.unsetMapTool(self.tool)
            self.tool.remove_band()
            self.tool.deleteLater()
            self.tool = None
        from .engine_client import ENGINES

        ENGINES.shutdown()  # frees the model and the engine thread
        if self.dock is not None:
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None

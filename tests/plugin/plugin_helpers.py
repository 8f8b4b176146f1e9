"""Test helpers: a real-widget stand-in for QgisInterface, and small steps the GUI tests share."""

from __future__ import annotations

from typing import Any, Optional

from qgis.core import QgsApplication, QgsCoordinateTransform, QgsMapLayer, QgsProject
from qgis.gui import QgsLayerTreeMapCanvasBridge, QgsMapCanvas, QgsMessageBar
from qgis.PyQt.QtCore import QObject, Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QMainWindow, QMenu, QToolBar, QVBoxLayout, QWidget


class StubIface(QObject):
    """What EarthAsk uses of ``iface``, backed by real widgets (no mocks)."""

    currentLayerChanged = pyqtSignal(object)

    def __init__(self) -> None:
        super().__init__()
        self.window = QMainWindow()
        central = QWidget()
        layout = QVBoxLayout(central)
        self.bar = QgsMessageBar()
        self.canvas = QgsMapCanvas()
        self.canvas.resize(400, 300)
        layout.addWidget(self.bar)
        layout.addWidget(self.canvas, 1)
        self.window.setCentralWidget(central)
        self.window.resize(900, 600)
        self.bridge = QgsLayerTreeMapCanvasBridge(QgsProject.instance().layerTreeRoot(), self.canvas, self.canvas)
        self.toolbar = QToolBar("Plugins")
        self.window.addToolBar(self.toolbar)
        self.menus: dict[str, QMenu] = {}
        self.docks: list[Any] = []
        self._active: Optional[QgsMapLayer] = None

    def mainWindow(self) -> QMainWindow:  # noqa: N802 (QGIS's names)
        return self.window

    def mapCanvas(self) -> QgsMapCanvas:  # noqa: N802
        return self.canvas

    def messageBar(self) -> QgsMessageBar:  # noqa: N802
        return self.bar

    def activeLayer(self) -> Optional[QgsMapLayer]:  # noqa: N802
        return self._active

    def setActiveLayer(self, layer: Optional[QgsMapLayer]) -> bool:  # noqa: N802
        self._active = layer
        self.currentLayerChanged.emit(layer)
        return True

    def addDockWidget(self, area: Qt.DockWidgetArea, dock: Any) -> None:  # noqa: N802
        self.window.addDockWidget(area, dock)
        self.docks.append(dock)

    def removeDockWidget(self, dock: Any) -> None:  # noqa: N802
        self.window.removeDockWidget(dock)
        self.docks.remove(dock)

    def addPluginToMenu(self, name: str, action: Any) -> None:  # noqa: N802
        self.menus.setdefault(name, QMenu(name, self.window)).addAction(action)

    def removePluginMenu(self, name: str, action: Any) -> None:  # noqa: N802
        menu = self.menus.get(name)
        if menu is not None:
            menu.removeAction(action)
            if not menu.actions():
                del self.menus[name]

    def addToolBarIcon(self, action: Any) -> None:  # noqa: N802
        self.toolbar.addAction(action)

    def removeToolBarIcon(self, action: Any) -> None:  # noqa: N802
        self.toolbar.removeAction(action)

    def messages(self) -> list[str]:
        """Texts of the message bar's items, newest last."""
        return [item.text() for item in self.bar.items()]


def wait_for_task(qtbot, controller, timeout: int = 180000) -> None:
    """Wait until the controller's task has finished (answer, error or cancel)."""
    qtbot.waitUntil(lambda: controller.task is None, timeout=timeout)


def show_layer(iface: StubIface, layer: QgsMapLayer, crs=None) -> None:
    """Make ``layer`` active and fill the canvas with it, in ``crs`` (default: the layer's) as project CRS."""
    crs = crs or layer.crs()
    canvas = iface.mapCanvas()
    QgsProject.instance().setCrs(crs)
    canvas.setDestinationCrs(crs)
    transform = QgsCoordinateTransform(layer.crs(), crs, QgsProject.instance())
    canvas.setExtent(transform.transformBoundingBox(layer.extent()))
    iface.setActiveLayer(layer)


def ask(qtbot, plugin, text: str) -> None:
    """Type ``text`` into the chat panel and press Return."""
    dock = plugin.dock
    dock.input.clear()
    qtbot.keyClicks(dock.input, text)
    qtbot.keyClick(dock.input, Qt.Key.Key_Return)


def start_task(task: Any) -> dict:
    """Start an EngineTask; the dict it returns fills with ``result``, ``error`` (a sentence) or ``cancelled``."""
    import time

    outcome: dict = {}
    task.resultReady.connect(lambda r: outcome.setdefault("result", r))
    task.errorOccurred.connect(lambda m: outcome.setdefault("error", m))
    task.wasCancelled.connect(lambda: outcome.setdefault("cancelled", time.perf_counter()))
    QgsApplication.taskManager().addTask(task)
    return outcome


def run_task(qtbot, task: Any, timeout: int = 30000) -> dict:
    """Run an EngineTask to its end; its outcome as :func:`start_task` fills it."""
    outcome = start_task(task)
    qtbot.waitUntil(lambda: bool(outcome), timeout=timeout)
    return outcome

"""Drive the real QGIS desktop with EarthAsk and save a screenshot of the whole window (not a test).

Run inside QGIS (under Xvfb here), with the plugin installed from the zip:

    python build.py --out /tmp/ea && unzip -q -o /tmp/ea/earthask-*.zip -d /tmp/ea/plugins
    QGIS_PLUGINPATH=/tmp/ea/plugins QGIS_CUSTOM_CONFIG_PATH=$(mktemp -d) \
    PYTHONPATH=$PWD/.venv/lib/python3.11/site-packages EARTHASK_SHOT=docs/screenshot.png \
    EARTHASK_RASTER=resources/demo/sentinel2_demo.tif EARTHASK_MODEL=tiny \
    xvfb-run -a -s "-screen 0 1600x1000x24" qgis --nologo --noversioncheck --code scripts/qgis_screenshot.py

It loads the raster, starts the plugin, asks a question about the view and finds what ``$EARTHASK_FIND`` names
(with ``EARTHASK_BOX=1``: draws a box, grounds in it and adds the box's land cover as a styled layer), then saves
``$EARTHASK_SHOT`` and quits. ``EARTHASK_MODEL``
is the model setting (tiny, default or a checkpoint directory). Progress goes to stdout (``EARTHASK:`` lines).
"""

import os
import time

from qgis.core import (
    QgsApplication,
    QgsContrastEnhancement,
    QgsMultiBandColorRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsRasterMinMaxOrigin,
    QgsRectangle,
    QgsSettings,
)
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.utils import iface, loadPlugin, plugins, startPlugin

SHOT = os.environ.get("EARTHASK_SHOT", "screenshot.png")
QUESTION = os.environ.get("EARTHASK_QUESTION", "How much of this scene is water?")
FIND = os.environ.get("EARTHASK_FIND", "find the water bodies")
BOX = os.environ.get("EARTHASK_BOX", "0") == "1"  # ask the find question about a drawn box, not the view


def say(text: str) -> None:
    print(f"EARTHASK: {text}", flush=True)


def setup():
    settings = QgsSettings()
    settings.setValue("earthask/model", os.environ.get("EARTHASK_MODEL", "tiny"))
    settings.setValue("earthask/device", "cpu")
    settings.setValue("earthask/max_new_tokens", int(os.environ.get("EARTHASK_TOKENS", "48")))
    layer = QgsRasterLayer(os.path.abspath(os.environ["EARTHASK_RASTER"]), "Sentinel-2 demo (RGB)")
    assert layer.isValid(), "the raster did not load"
    if layer.bandCount() >= 3 and "B2" in layer.bandName(1):  # the demo stores B2, B3, B4: show natural colour
        layer.setRenderer(QgsMultiBandColorRenderer(layer.dataProvider(), 3, 2, 1))
        layer.setContrastEnhancement(QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum,
                                     QgsRasterMinMaxOrigin.Limits.CumulativeCut)
    QgsProject.instance().addMapLayer(layer)
    iface.setActiveLayer(layer)
    iface.mainWindow().resize(1600, 1000)
    iface.mapCanvas().setExtent(layer.extent())
    assert loadPlugin("earthask") and startPlugin("earthask"), "the plugin did not start"
    plugin = plugins["earthask"]
    plugin.dock.show()
    iface.mainWindow().resizeDocks([plugin.dock], [560], Qt.Orientation.Horizontal)
    plugin.dock.raster_combo.setLayer(layer)
    return plugin, layer


def run() -> None:
    plugin, layer = setup()
    controller, dock = plugin.controller, plugin.dock
    steps = ["ask", "wait", "box", "wait", "landcover", "wait", "shot"] if BOX else ["ask", "wait", "find", "wait",
                                                                                     "shot"]
    state = {"t0": time.time()}

    def tick() -> None:
        if not steps:
            return
        step = steps[0]
        if step == "wait":
            if controller.task is not None:
                return
            turn = controller.conversation.turns[-1]
            say(f"turn {turn.id} {turn.kind} {turn.status}: {turn.answer or turn.error!r} "
                f"({time.time() - state['t0']:.0f} s)")
        elif step == "ask":
            dock.input.setText(QUESTION)
            dock.submit()
            say(f"asked: {QUESTION}")
        elif step == "box":
            e = layer.extent()
            box = QgsRectangle(e.xMinimum() + 0.30 * e.width(), e.yMinimum() + 0.35 * e.height(),
                               e.xMinimum() + 0.62 * e.width(), e.yMinimum() + 0.70 * e.height())
            plugin.tool.show_box(box)  # the canvas is in the raster's CRS here
            controller.on_box_drawn(box)
            dock.input.setText(FIND)
            dock.submit()
            say(f"drew a box and asked: {FIND}")
        elif step == "find":
            dock.input.setText(FIND)
            dock.submit()
            say(f"asked: {FIND}")
        elif step == "landcover":
            dock.turn_widgets[controller.conversation.turns[-1].id].segmentation_button.click()
            say("asked for the land cover of the box")
        elif step == "shot":
            if BOX:
                iface.mapCanvas().setExtent(layer.extent())  # the whole scene, not the last result's zoom
            else:
                dock.scroll.verticalScrollBar().setValue(0)  # the first answer, its source and figures in view
            QgsApplication.processEvents()
            iface.mapCanvas().refreshAllLayers()
            QTimer.singleShot(3000, finish)
        steps.pop(0)

    def finish() -> None:
        iface.mainWindow().grab().save(SHOT)
        say(f"saved {SHOT}")
        timer.stop()
        QgsProject.instance().setDirty(False)
        iface.actionExit().trigger()  # the normal way out (QgsApplication.exit crashes QGIS 3.40 at teardown)

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(250)
    run.timer = timer  # keep it alive


QTimer.singleShot(2000, run)

"""Drive the real QGIS desktop with EarthAsk and save a screenshot of the whole window (not a test).

Run inside plain QGIS (under Xvfb here; no PYTHONPATH), with the plugin installed from the zip on a fresh profile:

    python build.py --out /tmp/ea && unzip -q -o /tmp/ea/earthask-*.zip -d /tmp/ea/plugins
    env -i HOME=$HOME PATH=/usr/bin:/bin QGIS_PLUGINPATH=/tmp/ea/plugins QGIS_CUSTOM_CONFIG_PATH=$(mktemp -d) \
    EARTHASK_PYTHON=$PWD/.venv/bin/python EARTHASK_SETUP_SHOT=docs/screenshot_setup.png \
    EARTHASK_SHOT=docs/screenshot.png EARTHASK_RASTER=$PWD/resources/demo/sentinel2_demo.tif EARTHASK_MODEL=default \
    xvfb-run -a -s "-screen 0 1600x1000x24" qgis --nologo --noversioncheck --code scripts/qgis_screenshot.py

On a fresh profile the panel's first show opens the engine set-up dialog; with ``$EARTHASK_PYTHON`` the script
adopts that interpreter there (as a user would: "Use an existing Python", then "Set up"), saves the dialog to
``$EARTHASK_SETUP_SHOT`` and closes it. Then it styles the raster with the engine's bands (the plugin's "Show
as true colour"), asks a question about the view and finds what ``$EARTHASK_FIND`` names
(with ``EARTHASK_BOX=1``: draws a box, grounds in it and adds the box's land cover as a styled layer), then saves
``$EARTHASK_SHOT`` and quits. ``EARTHASK_MODEL``
is the model setting (tiny, default or a checkpoint directory). Progress goes to stdout (``EARTHASK:`` lines).
"""

import os
import time

from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsRectangle, QgsSettings
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.utils import iface, loadPlugin, plugins, startPlugin

SHOT = os.environ.get("EARTHASK_SHOT", "screenshot.png")
QUESTION = os.environ.get("EARTHASK_QUESTION", "How much of this scene is water?")
FIND = os.environ.get("EARTHASK_FIND", "find the water bodies")
BOX = os.environ.get("EARTHASK_BOX", "0") == "1"  # ask the find question about a drawn box, not the view
PYTHON = os.environ.get("EARTHASK_PYTHON", "")  # adopt this interpreter in the first-use set-up dialog
SETUP_SHOT = os.environ.get("EARTHASK_SETUP_SHOT", "")


def say(text: str) -> None:
    print(f"EARTHASK: {text}", flush=True)


def setup():
    settings = QgsSettings()
    settings.setValue("earthask/model", os.environ.get("EARTHASK_MODEL", "tiny"))
    settings.setValue("earthask/device", "cpu")
    settings.setValue("earthask/max_new_tokens", int(os.environ.get("EARTHASK_TOKENS", "48")))
    layer = QgsRasterLayer(os.path.abspath(os.environ["EARTHASK_RASTER"]), "Sentinel-2 demo (RGB)")
    assert layer.isValid(), "the raster did not load"
    QgsProject.instance().addMapLayer(layer)
    iface.setActiveLayer(layer)
    iface.mainWindow().resize(1600, 1000)
    iface.mapCanvas().setExtent(layer.extent())
    assert loadPlugin("earthask") and startPlugin("earthask"), "the plugin did not start"
    plugin = plugins["earthask"]
    from earthask.true_color import apply_true_color

    say(f"true colour: {apply_true_color(layer)}")  # the demo stores B2, B3, B4: the engine reads 3, 2, 1
    plugin.dock.show()
    iface.mainWindow().resizeDocks([plugin.dock], [560], Qt.Orientation.Horizontal)
    plugin.dock.raster_combo.setLayer(layer)
    return plugin, layer


def run() -> None:
    plugin, layer = setup()
    controller, dock = plugin.controller, plugin.dock
    steps = ["ask", "wait", "box", "wait", "landcover", "wait", "shot"] if BOX else ["ask", "wait", "find", "wait",
                                                                                     "shot"]
    if PYTHON:
        steps[:0] = ["setup", "setup_wait"]
    state = {"t0": time.time()}

    def tick() -> None:
        if not steps:
            return
        step = steps[0]
        if step == "setup":
            dialog = plugin.first_use.dialog
            if dialog is None or not dialog.isVisible():
                return  # the first-use check runs in the background, then opens the dialog
            say(f"set-up dialog: {dialog.message_label.text()}")
            dialog.existing_radio.setChecked(True)
            dialog.python_edit.setText(PYTHON)
            dialog.run_button.click()
        elif step == "setup_wait":
            dialog = plugin.first_use.dialog
            if dialog.busy:
                return
            say(f"set-up: {dialog.status_label.text()}")
            if SETUP_SHOT:
                dialog.grab().save(SETUP_SHOT)
            dialog.close()
            QgsSettings().setValue("earthask/model", os.environ.get("EARTHASK_MODEL", "tiny"))
        elif step == "wait":
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
        # QGIS's own "Open Sans font installation failed" bar (it tries to download a font; this machine is
        # offline) is not EarthAsk's: it is closed before the shot
        iface.messageBar().clearWidgets()
        QgsApplication.processEvents()
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

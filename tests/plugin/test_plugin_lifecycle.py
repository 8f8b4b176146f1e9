"""Loading the plugin: no torch at import, initGui/unload undo each other, settings round-trip."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsSettings

from plugin.settings import PluginSettings

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "faiss", "onnxruntime", "rasterio", "models")


def test_loading_the_plugin_imports_no_heavy_module(tmp_path) -> None:
    """Import every plugin module, classFactory + initGui + initProcessing + unload; torch stays out."""
    script = textwrap.dedent(f"""
        import importlib, pkgutil, sys
        sys.path[:0] = [{str(REPO)!r}, {str(Path(__file__).parent)!r}]
        from qgis.core import QgsApplication
        app = QgsApplication([], True)
        app.initQgis()
        import plugin
        names = [m.name for m in pkgutil.walk_packages(plugin.__path__, "plugin.")]
        for name in names:
            importlib.import_module(name)
        from plugin_helpers import StubIface
        iface = StubIface()
        instance = plugin.classFactory(iface)
        instance.initProcessing()
        instance.initGui()
        instance.dock.show()
        assert QgsApplication.processingRegistry().providerById("earthask") is not None
        instance.unload()
        heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
        print("MODULES", len(names), "HEAVY", heavy)
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_CUSTOM_CONFIG_PATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES"))
    assert int(line.split()[1]) >= 15
    assert line.endswith("HEAVY []"), line


def test_init_gui_and_unload_undo_each_other(iface, qtbot) -> None:
    import plugin as plugin_package

    registry = QgsApplication.processingRegistry()
    own_provider = registry.providerById("earthask") is None
    instance = plugin_package.classFactory(iface)
    instance.initGui()
    assert instance.dock in iface.docks and "&EarthAsk" in iface.menus
    menu = [action.text() for action in iface.menus["&EarthAsk"].actions()]
    assert len(iface.toolbar.actions()) == 2 and len(menu) == len(instance.actions)
    assert {"EarthAsk chat", "Draw a box to ask about", "EarthAsk settings…", "Show as true colour"} <= set(menu)
    instance.dock.show()
    instance.actions[1].trigger()  # the draw-box tool
    assert iface.mapCanvas().mapTool() is instance.tool
    instance.unload()
    assert not iface.docks and not iface.menus and not iface.toolbar.actions()
    assert iface.mapCanvas().mapTool() is None
    assert instance.dock is None and instance.tool is None and instance.controller is None
    if own_provider:
        assert registry.providerById("earthask") is None
    instance.initGui()  # a second load works (plugin reloader)
    assert instance.dock in iface.docks
    instance.unload()


def test_settings_round_trip_and_validation() -> None:
    settings = PluginSettings(model="/models/earth", device="cuda", backend="onnx", tile=256, overlap=32,
                              semantic_db="/db", max_new_tokens=40, oriented_boxes=True)
    settings.save()
    assert PluginSettings.load() == settings
    QgsSettings().setValue("earthask/oriented_boxes", "false")  # as an INI file hands it back
    assert PluginSettings.load().oriented_boxes is False
    config = settings.to_engine_config()
    assert (config.model, config.device, config.backend, config.tile, config.overlap, config.semantic_db,
            config.max_new_tokens) == ("/models/earth", "cuda", "onnx", 256, 32, "/db", 40)
    QgsSettings().setValue("earthask/device", "quantum")
    QgsSettings().setValue("earthask/tile", "not a number")
    loaded = PluginSettings.load()
    assert loaded.device == "auto" and loaded.tile == 512
    assert PluginSettings(tile=64, overlap=500).validated().overlap == 32
    assert PluginSettings(model="  ").to_engine_config().model == "default"
    assert PluginSettings().to_engine_config().semantic_db is None


def test_settings_dialog_shows_and_returns_values(qtbot) -> None:
    from plugin.settings_dialog import SettingsDialog

    start = PluginSettings(model="tiny", device="cpu", tile=128, overlap=16)
    dialog = SettingsDialog(start)
    qtbot.addWidget(dialog)
    assert dialog.values() == start.validated()
    dialog.device_combo.setCurrentText("cuda")
    dialog.tile_spin.setValue(384)
    dialog.oriented_check.setChecked(True)
    assert dialog.values().device == "cuda" and dialog.values().tile == 384 and dialog.values().oriented_boxes
    from qgis.PyQt.QtWidgets import QDialogButtonBox

    dialog.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).click()
    assert dialog.values() == PluginSettings()

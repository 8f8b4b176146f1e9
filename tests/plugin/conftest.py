"""QGIS test session for the plugin: one real QgsApplication (reused as pytest-qt's qapp), Processing, rasters."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QGIS_CUSTOM_CONFIG_PATH", tempfile.mkdtemp(prefix="earthask-qgis-"))
_runtime = Path(f"/tmp/runtime-{os.getuid()}")
_runtime.mkdir(mode=0o700, exist_ok=True)
os.environ.setdefault("XDG_RUNTIME_DIR", str(_runtime))

import pytest  # noqa: E402

qgis_core = pytest.importorskip("qgis.core", reason="QGIS (python3-qgis) is not installed")

from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsSettings  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
for _p in (str(REPO), str(HERE), "/usr/share/qgis/python/plugins"):
    if _p not in sys.path:
        sys.path.insert(0 if _p != "/usr/share/qgis/python/plugins" else len(sys.path), _p)

# Settings the tests run with: the tiny random model on the CPU, small tiles.
TEST_SETTINGS = {"model": "tiny", "device": "cpu", "backend": "torch", "tile": 64, "overlap": 8, "semantic_db": "",
                 "max_new_tokens": 12, "oriented_boxes": False}


@pytest.fixture(scope="session")
def qgis_app() -> QgsApplication:
    """The one QgsApplication of the session, with Processing and the EarthAsk provider."""
    app = QgsApplication.instance()
    if not isinstance(app, QgsApplication):
        app = QgsApplication([], True)
        QgsApplication.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    from plugin.processing_provider.provider import EarthAskProvider

    registry = QgsApplication.processingRegistry()
    if registry.providerById("earthask") is None:
        provider = EarthAskProvider()
        registry.addProvider(provider)
        app._earthask_provider = provider  # keep the Python object alive
    return app


@pytest.fixture(scope="session")
def qapp(qgis_app: QgsApplication) -> QgsApplication:
    """pytest-qt's application is the QgsApplication."""
    return qgis_app


@pytest.fixture(autouse=True)
def tiny_settings(qgis_app: QgsApplication):
    """Every test starts from the tiny model settings and an empty project."""
    settings = QgsSettings()
    for key, value in TEST_SETTINGS.items():
        settings.setValue(f"earthask/{key}", value)
    QgsProject.instance().clear()
    yield settings
    QgsProject.instance().clear()


@pytest.fixture
def utm_raster(tmp_path: Path) -> str:
    """A 128 x 96 three-band uint8 GeoTIFF in UTM 18N (EPSG:32618), seeded."""
    from rasters import make_raster

    return make_raster(tmp_path / "utm.tif", width=128, height=96, seed=1)


@pytest.fixture
def utm_layer(utm_raster: str) -> QgsRasterLayer:
    """``utm_raster`` as a layer in the project."""
    layer = QgsRasterLayer(utm_raster, "utm scene")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


@pytest.fixture
def iface(qgis_app: QgsApplication):
    """A real-widget stand-in for QgisInterface."""
    from plugin_helpers import StubIface

    stub = StubIface()
    stub.window.show()
    yield stub
    stub.window.close()
    stub.window.deleteLater()


@pytest.fixture
def plugin(iface, qtbot):
    """The plugin after classFactory + initGui; unloaded afterwards."""
    import plugin as plugin_package

    instance = plugin_package.classFactory(iface)
    instance.initGui()
    instance.dock.show()
    yield instance
    if instance.controller is not None and instance.controller.task is not None:
        instance.controller.cancel()
        qtbot.waitUntil(lambda: instance.controller.task is None, timeout=60000)
    instance.unload()



@pytest.fixture(scope="module")
def holder():
    """An engine holder over the slow stand-in engine (tests/plugin/slow_engine.py), for the plumbing tests."""
    from plugin.engine_client import EngineHolder

    h = EngineHolder(factory="slow_engine:SlowEngine", extra_path=(str(HERE),), cancel_grace=2.0)
    yield h
    h.shutdown()


@pytest.fixture()
def clean_engine_settings():
    """The automatic Python, never checked: the engine settings removed before a test and put back after."""
    from qgis.core import QgsSettings

    from plugin.engine_setup.setup import CHECKED_KEY, DEVICE_KEY

    q = QgsSettings()
    keys = ("earthask/python", CHECKED_KEY, DEVICE_KEY)
    for key in keys:
        q.remove(key)
    yield q
    for key in keys:
        q.remove(key)

"""Writes a tiny stand-in ``qgis`` package whose ``qgis.PyQt.*`` is PyQt6, for the Qt6 import test.

Only ``qgis.PyQt`` is real (PyQt6); ``qgis.core`` / ``qgis.gui`` / ``qgis.utils`` give stub classes, with Qt
bases where the plugin subclasses them and declares signals (QgsTask, QgsMapTool, QgsDockWidget, ...).
"""

from __future__ import annotations

from pathlib import Path

PYQT = {
    "QtCore": "from PyQt6.QtCore import *  # noqa\n",
    "QtGui": "from PyQt6.QtGui import *  # noqa\n",
    # QGIS's Qt6 shim re-exports QAction & co. from QtWidgets as well, like Qt5 had them.
    "QtWidgets": "from PyQt6.QtWidgets import *  # noqa\nfrom PyQt6.QtGui import QAction, QActionGroup, QShortcut\n",
    "QtTest": "from PyQt6.QtTest import *  # noqa\n",
    "QtSvg": "from PyQt6.QtSvg import *  # noqa\n",
}

STUBS = '''
"""Stub names for the Qt6 import test (generated)."""
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QComboBox, QDockWidget


class _StubMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _stub(cls.__name__ + "." + name)

    def __or__(cls, other):
        return cls

    __ror__ = __or__


def _stub(name):
    return _StubMeta(name, (), {"__init__": lambda self, *a, **k: None,
                                "__getattr__": lambda self, n: (lambda *a, **k: None)})


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _stub(name)
'''

CORE = STUBS + '''

class QgsTask(QObject):
    Flag = _stub("QgsTask.Flag")
    progressChanged = pyqtSignal(float)

    def __init__(self, description="", flags=None):
        super().__init__()
        self._cancelled = False

    def setProgress(self, value):
        self.progressChanged.emit(float(value))

    def isCanceled(self):
        return self._cancelled

    def cancel(self):
        self._cancelled = True


class QgsSettings:
    _values = {}

    def value(self, key, default=None, type=None):
        return self._values.get(key, default)

    def setValue(self, key, value):
        self._values[key] = value
'''

GUI = STUBS + '''

class QgsDockWidget(QDockWidget):
    pass


class QgsMapTool(QObject):
    def __init__(self, canvas=None):
        super().__init__()

    def setCursor(self, cursor):
        pass


class QgsMapLayerComboBox(QComboBox):
    layerChanged = pyqtSignal(object)

    def setFilters(self, filters):
        pass

    def setExceptedLayerList(self, layers):
        pass

    def setAllowEmptyLayer(self, allow):
        pass

    def currentLayer(self):
        return None

    def setLayer(self, layer):
        pass


class QgsFieldComboBox(QComboBox):
    fieldChanged = pyqtSignal(str)

    def setLayer(self, layer):
        pass

    def currentField(self):
        return ""

    def setField(self, name):
        pass
'''


def write_fake_qgis(root: Path) -> Path:
    """Create ``root/qgis`` and return ``root`` (to put first on sys.path)."""
    pkg = root / "qgis"
    (pkg / "PyQt").mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text('"""Fake qgis for the Qt6 import test."""\n')
    (pkg / "PyQt" / "__init__.py").write_text("")
    for name, text in PYQT.items():
        (pkg / "PyQt" / f"{name}.py").write_text(text)
    (pkg / "core.py").write_text(CORE)
    (pkg / "gui.py").write_text(GUI)
    (pkg / "utils.py").write_text("iface = None\n")
    return root

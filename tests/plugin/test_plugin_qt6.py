"""Qt6 readiness: every plugin module imports, and the panel and dialogs build, under PyQt6.

PyQt6 must not be installed in .venv (pytest-qt would pick it and QGIS widgets would abort), so it lives in
its own folder: ``.venv/bin/python -m pip install --target .cache/pyqt6 PyQt6`` (or set EARTHASK_PYQT6_DIR).
The test runs in a subprocess whose ``qgis`` is a small stand-in (tests/plugin/fake_qgis_qt6.py) mapping
``qgis.PyQt.*`` to PyQt6. It also checks every ``Qt.X.Y``-style name in the plugin's source exists in PyQt6
(fully scoped enums), and that no PyQt5-only call (``exec_``) or direct PyQt5 import is left.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugin"
INSTALL = ".venv/bin/python -m pip install --target .cache/pyqt6 PyQt6"


def _pyqt6_dir() -> Path | None:
    for candidate in (os.environ.get("EARTHASK_PYQT6_DIR"), str(REPO / ".cache" / "pyqt6")):
        if candidate and (Path(candidate) / "PyQt6" / "QtCore.abi3.so").exists():
            return Path(candidate)
    return None


def test_no_pyqt5_only_code_in_the_plugin() -> None:
    problems = []
    for path in sorted(PLUGIN.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bPyQt5\b|\bexec_\(|\bQVariant\.(?!Type\b)|\bpyqtSlot\b.*QVariant", line) and \
                    "# Qt5 only" not in line:
                problems.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
            if re.search(r"^\s*(from|import)\s+(PyQt5|PyQt6|sip)\b", line):
                problems.append(f"{path.relative_to(REPO)}:{number}: import through qgis.PyQt instead")
    assert not problems, "\n".join(problems)


def test_metadata_declares_qt6_support() -> None:
    text = (REPO / "metadata.txt").read_text()
    assert re.search(r"^supportsQt6=True$", text, re.M)
    assert re.search(r"^hasProcessingProvider=yes$", text, re.M)


SCRIPT = textwrap.dedent("""
    import ast, importlib, pkgutil, sys
    from pathlib import Path
    from PyQt6.QtWidgets import QApplication
    app = QApplication([])
    import plugin
    names = [m.name for m in pkgutil.walk_packages(plugin.__path__, "plugin.")]
    for name in names:
        importlib.import_module(name)
    assert "PyQt5" not in sys.modules, "PyQt5 was imported"

    # Build the widgets: enum use inside methods runs too.
    from plugin.chat_dock import ChatDock
    from plugin.conversation import Conversation, DONE
    from plugin.settings import PluginSettings
    from plugin.settings_dialog import SettingsDialog
    dock = ChatDock()
    turn = Conversation().add("ground", "find all playgrounds", "drawn box", "scene")
    dock.add_turn(turn)
    dock.append_text(turn.id, "Found ")
    turn.status, turn.answer, turn.result = DONE, "Found 1 box", {"boxes": [{"label": "playground"}]}
    dock.show_result(turn, ["forest: 1 m2", "4 tiles"])
    dock.set_busy(True, "working")
    dock.set_progress(40)
    assert dock.turn_widgets[turn.id].boxes_button.isEnabled()
    dialog = SettingsDialog(PluginSettings())
    assert dialog.values() == PluginSettings()

    # Every Qt name chain in the source (Qt.AlignmentFlag.AlignTop, QDialogButtonBox.StandardButton.Ok...)
    # must exist in PyQt6: unscoped PyQt5 enums (Qt.AlignTop) do not.
    missing = []
    for path in sorted(Path(plugin.__path__[0]).rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        qt = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qgis.PyQt."):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    qt[alias.asname or alias.name] = getattr(module, alias.name)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or "# Qt5 only" in lines[node.lineno - 1]:
                continue
            chain, base = [], node
            while isinstance(base, ast.Attribute):
                chain.insert(0, base.attr)
                base = base.value
            if not isinstance(base, ast.Name) or base.id not in qt:
                continue
            obj = qt[base.id]
            for attr in chain:
                if not hasattr(obj, attr):
                    missing.append(f"{path.name}:{node.lineno}: {base.id}.{'.'.join(chain)}")
                    break
                obj = getattr(obj, attr)
    assert not missing, "not in PyQt6:\\n" + "\\n".join(sorted(set(missing)))
    print("QT6 OK", len(names), "modules")
""")


def test_every_plugin_module_imports_under_pyqt6(tmp_path) -> None:
    pyqt6 = _pyqt6_dir()
    if pyqt6 is None:
        pytest.skip(f"PyQt6 is not installed beside the venv; install it with: {INSTALL}")
    from fake_qgis_qt6 import write_fake_qgis

    fake = write_fake_qgis(tmp_path / "fake")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": os.pathsep.join([str(fake), str(pyqt6), str(REPO)])}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "QT6 OK" in proc.stdout

"""After installation the chat panel opens once, and says where it lives; later starts leave it as the user left it."""

from __future__ import annotations

import pytest
from qgis.core import QgsSettings
from qgis.PyQt.QtWidgets import QApplication

from plugin.chat_dock import SHOWN_ONCE_KEY

pytestmark = pytest.mark.qgis


def _start(iface):
    import plugin as plugin_package

    instance = plugin_package.classFactory(iface)
    instance.initGui()
    QApplication.processEvents()
    return instance


def test_the_panel_opens_once_after_installation(iface, qtbot) -> None:
    QgsSettings().remove(SHOWN_ONCE_KEY)  # a profile that never ran EarthAsk
    first = _start(iface)
    try:
        qtbot.waitUntil(first.dock.isVisible, timeout=2000)
        assert QgsSettings().value(SHOWN_ONCE_KEY, False, type=bool)
        assert any("chat panel is open on the right" in m for m in iface.messages())
        assert first.actions[0].isChecked()  # the toolbar button shows the panel is open
    finally:
        first.unload()
    iface.bar.clearWidgets()
    again = _start(iface)  # the next start: QGIS restores the panel with its window state; EarthAsk leaves it
    try:
        assert not again.dock.isVisible()
        assert not any("chat panel" in m for m in iface.messages())
        again.actions[0].trigger()  # the user opens it with the toolbar button
        assert again.dock.isVisible()
    finally:
        again.unload()

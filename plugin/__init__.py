"""EarthAsk QGIS plugin: QGIS imports this package and calls ``classFactory(iface)``."""

import os
import sys

# The plugin imports ``core`` and ``models`` as top-level packages. In the installed zip they sit beside
# this file (earthask/core, earthask/models); in the source tree they sit one folder up.
_here = os.path.dirname(os.path.abspath(__file__))
for _root in (_here, os.path.dirname(_here)):
    if os.path.isfile(os.path.join(_root, "core", "__init__.py")):
        if _root not in sys.path:
            sys.path.insert(0, _root)
        break


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """Build the plugin for QGIS; heavy modules load only when the user first asks something."""
    from .earthask_plugin import EarthAskPlugin

    return EarthAskPlugin(iface)

"""The plugin tests' QGIS session (one QgsApplication, Processing, the EarthAsk provider, tiny settings)."""

from tests.plugin.conftest import qapp, qgis_app, tiny_settings  # noqa: F401 (fixtures)

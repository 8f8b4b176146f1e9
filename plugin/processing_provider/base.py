"""What every EarthAsk algorithm shares: the model parameter, the engine session, progress and errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Optional

from qgis.core import (
    Qgis,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterString,
    QgsRasterLayer,
    QgsRectangle,
)
from qgis.PyQt.QtGui import QIcon

from core.config import EngineConfig
from core.errors import Cancelled, InputError
from core.imagery import SENSORS

from ..engine_client import ENGINES, EngineUnavailable
from ..layer_bands import LayerBands, layer_bands, parse_choice
from ..settings import PluginSettings
from ..tasks import error_sentence, log_failure

BANDS_DESCRIPTION = "Red, green and blue bands as R,G,B, e.g. 3,2,1; empty to read them from the file"
SENSOR_DESCRIPTION = "Sensor the raster comes from, to pick its red, green and blue bands"
ICON = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources", "icons", "earthask.svg")


def source_type(name: str) -> Any:
    """``Qgis.ProcessingSourceType.<name>`` (QGIS >= 3.36) or ``QgsProcessing.Type<name>`` (3.34)."""
    enum = getattr(Qgis, "ProcessingSourceType", None)
    return getattr(enum, name) if enum is not None else getattr(QgsProcessing, "Type" + name)


def advanced_flag() -> Any:
    """The "advanced parameter" flag (``Qgis.ProcessingParameterFlag`` from QGIS 3.36)."""
    enum = getattr(Qgis, "ProcessingParameterFlag", None)
    return enum.Advanced if enum is not None else QgsProcessingParameterDefinition.FlagAdvanced


def bands_help() -> str:
    """The help paragraph on BANDS and SENSOR, listing every sensor name."""
    names = ", ".join(f"{s.name} ({s.title})" for s in SENSORS.values())
    return (" BANDS (1-based red, green, blue, e.g. 3,2,1) or SENSOR say which bands the engine reads as red, "
            "green and blue; BANDS wins when both are given. Left empty, the layer's own choice (EarthAsk "
            "▸ Bands of this layer…) is used, else the file's band names, wavelengths, product name "
            f"or band count decide. Sensors: {names}.")


def progress_fn(feedback: QgsProcessingFeedback, start: float = 0.0, end: float = 1.0) -> Callable[[float, str], None]:
    """A core ProgressFn that drives ``feedback`` between ``start`` and ``end`` (fractions)."""

    def progress(fraction: float, message: str) -> None:
        feedback.setProgress(100.0 * (start + (end - start) * min(max(fraction, 0.0), 1.0)))
        if message:
            feedback.setProgressText(message)

    return progress


class EngineAlgorithm(QgsProcessingAlgorithm):
    """Base of the EarthAsk algorithms: an advanced MODEL parameter and a shared, reused engine."""

    MODEL, BANDS, SENSOR = "MODEL", "BANDS", "SENSOR"

    def createInstance(self) -> EngineAlgorithm:  # noqa: N802 (QGIS's name)
        return type(self)()

    def icon(self) -> QIcon:
        return QIcon(ICON)

    def add_model_parameter(self) -> None:
        """Advanced: a model other than the one in the settings ("tiny", "default" or a directory)."""
        param = QgsProcessingParameterString(self.MODEL, "Model, empty for the one in the EarthAsk settings",
                                             optional=True)
        param.setFlags(param.flags() | advanced_flag())
        self.addParameter(param)

    def add_band_parameters(self) -> None:
        """BANDS ("R,G,B", 1-based) and SENSOR (a name of ``core.imagery.SENSORS``), both optional."""
        self.addParameter(QgsProcessingParameterString(self.BANDS, BANDS_DESCRIPTION, optional=True))
        self.addParameter(QgsProcessingParameterEnum(self.SENSOR, SENSOR_DESCRIPTION, list(SENSORS),
                                                     optional=True, usesStaticStrings=True))

    def band_choice(self, parameters: dict, context: QgsProcessingContext,
                    layer: Optional[QgsRasterLayer] = None) -> dict[str, Any]:
        """The engine's ``bands`` / ``sensor`` keyword arguments: the BANDS and SENSOR parameters, else the
        layer's own choice (its EarthAsk custom properties); {} when neither says.

        Raises:
            QgsProcessingException: a BANDS value that is not three band numbers (one sentence).
        """
        bands = (self.parameterAsString(parameters, self.BANDS, context) or "").strip()
        sensor = ""
        if parameters.get(self.SENSOR) not in (None, "", []):
            sensor = (self.parameterAsEnumString(parameters, self.SENSOR, context) or "").strip()
        try:
            choice = parse_choice(bands, sensor)
        except InputError as exc:
            raise QgsProcessingException(str(exc).replace("--bands", "BANDS")) from exc
        if choice.bands is not None:  # BANDS wins over SENSOR, as in the engine
            choice = LayerBands(choice.bands)
        if not choice.is_set:
            choice = layer_bands(layer)
        return choice.engine_kwargs()

    def engine_config(self, parameters: dict, context: QgsProcessingContext) -> tuple[EngineConfig, str]:
        """The settings' EngineConfig (with the MODEL parameter applied) and the engine's Python."""
        settings = PluginSettings.load()
        config = settings.to_engine_config()
        model = (self.parameterAsString(parameters, self.MODEL, context) or "").strip()
        return (replace(config, model=model) if model else config), settings.python

    def run_engine(self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback,
                   method: str, progress: Optional[Callable[[float, str], None]] = None,
                   keep_input_errors: bool = False, **kwargs: Any) -> Any:
        """``engine.<method>(**kwargs)`` in the shared engine process; errors become one-sentence exceptions.

        With ``keep_input_errors`` an InputError is returned instead of raised (one bad raster in a batch).
        """
        config, python = self.engine_config(parameters, context)
        try:
            return ENGINES.call(config, method, kwargs, progress or progress_fn(feedback), feedback.isCanceled,
                                python=python or None)
        except Cancelled as exc:
            raise QgsProcessingException("Cancelled by the user.") from exc
        except InputError as exc:
            if keep_input_errors and not isinstance(exc, EngineUnavailable):  # no engine: every raster would fail
                return exc
            raise QgsProcessingException(str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - report one sentence, keep the traceback in the log
            log_failure(exc)
            raise QgsProcessingException(error_sentence(exc)) from exc

    def raster(self, parameters: dict, name: str, context: QgsProcessingContext) -> QgsRasterLayer:
        """The raster layer parameter ``name``; an exception when it is missing or unreadable."""
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None or not layer.isValid():
            raise QgsProcessingException("Pick a valid raster layer.")
        return layer

    def extent_aoi(self, parameters: dict, name: str, context: QgsProcessingContext,
                   raster: QgsRasterLayer) -> Optional[list[float]]:
        """The optional extent parameter in the raster's CRS, clipped to the raster; None for the whole raster."""
        if parameters.get(name) in (None, ""):
            return None
        rect: QgsRectangle = self.parameterAsExtent(parameters, name, context, raster.crs())
        if rect is None or rect.isNull() or rect.isEmpty():
            return None
        clipped = rect.intersect(raster.extent())
        if clipped.width() <= 0 or clipped.height() <= 0:
            raise QgsProcessingException(f"The extent does not overlap the raster {raster.name()}.")
        return [clipped.xMinimum(), clipped.yMinimum(), clipped.xMaximum(), clipped.yMaximum()]


def retrieved_text(provenance: Any, limit: int = 5) -> str:
    """``"text (0.82); text (0.77)"`` of the retrieved descriptions."""
    return "; ".join(f"{r.text} ({r.score:.2f})" for r in list(provenance.retrieved)[:limit])


def total_seconds(provenance: Any) -> float:
    """Sum of the stage timings."""
    return float(sum(provenance.timings.values())) if provenance.timings else 0.0

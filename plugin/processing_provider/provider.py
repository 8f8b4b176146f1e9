"""The EarthAsk Processing provider: id ``earthask``."""

from __future__ import annotations

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .batch_algorithm import BatchAlgorithm
from .caption_algorithms import CaptionGridAlgorithm, CaptionRastersAlgorithm
from .change_algorithm import ChangeAlgorithm
from .engine_algorithms import AskAlgorithm, GroundAlgorithm, SegmentAlgorithm
from .label_algorithms import CheckLabelsAlgorithm, TeachAlgorithm
from .setup_algorithm import SetupEngineAlgorithm

ICON = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources", "icons", "earthask.svg")


class EarthAskProvider(QgsProcessingProvider):
    """Captioning, segmentation, questions and grounding over rasters."""

    def id(self) -> str:
        return "earthask"

    def name(self) -> str:
        return "EarthAsk"

    def longName(self) -> str:  # noqa: N802 (QGIS's name)
        return "EarthAsk: ask your imagery questions"

    def icon(self) -> QIcon:
        return QIcon(ICON)

    def loadAlgorithms(self) -> None:  # noqa: N802
        for algorithm in (CaptionRastersAlgorithm(), CaptionGridAlgorithm(), SegmentAlgorithm(), AskAlgorithm(),
                          GroundAlgorithm()):
            self.addAlgorithm(algorithm)
        self.addAlgorithm(ChangeAlgorithm())
        self.addAlgorithm(SetupEngineAlgorithm())
        self.addAlgorithm(CheckLabelsAlgorithm())
        self.addAlgorithm(TeachAlgorithm())
        self.addAlgorithm(BatchAlgorithm())

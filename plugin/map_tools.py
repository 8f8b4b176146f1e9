"""The draw-box map tool: drag a rectangle with a rubber band; it emits the box and shows the current one."""

from __future__ import annotations

from typing import Optional

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsPointXY,
    QgsProject,
    QgsRectangle,
)
from qgis.gui import QgsMapCanvas, QgsMapMouseEvent, QgsMapTool, QgsRubberBand
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor

MIN_DRAG_PIXELS = 4  # a smaller drag is a click, not a box


class BoxMapTool(QgsMapTool):
    """Drag to draw a box; the box stays on the map as long as it is the panel's target.

    Signals:
        boxDrawn(QgsRectangle): the box in the map canvas CRS, after the mouse is released.
    """

    boxDrawn = pyqtSignal(QgsRectangle)

    def __init__(self, canvas: QgsMapCanvas) -> None:
        super().__init__(canvas)
        self._canvas = canvas
        self._start: Optional[QgsPointXY] = None
        self._start_px = None
        self._box: Optional[QgsRectangle] = None
        self._box_crs = QgsCoordinateReferenceSystem(canvas.mapSettings().destinationCrs())
        canvas.destinationCrsChanged.connect(self._reproject_box)
        self._band = QgsRubberBand(canvas, Qgis.GeometryType.Polygon)
        self._band.setColor(QColor(255, 0, 200, 200))
        self._band.setFillColor(QColor(255, 0, 200, 40))
        self._band.setWidth(2)
        self.setCursor(Qt.CursorShape.CrossCursor)

    @property
    def box(self) -> Optional[QgsRectangle]:
        """The last box drawn (canvas CRS), or None."""
        return QgsRectangle(self._box) if self._box is not None else None

    def canvasPressEvent(self, e: QgsMapMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if e.button() != Qt.MouseButton.LeftButton:
            return
        self._start = QgsPointXY(self.toMapCoordinates(e.pos()))  # copy: the event's point does not live on
        self._start_px = e.pos()
        self._band.reset(Qgis.GeometryType.Polygon)

    def canvasMoveEvent(self, e: QgsMapMouseEvent) -> None:  # noqa: N802
        if self._start is None:
            return
        self._show(QgsRectangle(self._start, QgsPointXY(self.toMapCoordinates(e.pos()))))

    def canvasReleaseEvent(self, e: QgsMapMouseEvent) -> None:  # noqa: N802
        if self._start is None or e.button() != Qt.MouseButton.LeftButton:
            return
        end = QgsPointXY(self.toMapCoordinates(e.pos()))
        moved = (e.pos() - self._start_px).manhattanLength() if self._start_px is not None else 0
        rect = QgsRectangle(self._start, end)
        rect.normalize()
        self._start = None
        if moved < MIN_DRAG_PIXELS or rect.isEmpty():
            self.show_box(self._box)  # a click keeps the previous box
            return
        self._box = rect
        self._box_crs = QgsCoordinateReferenceSystem(self._canvas.mapSettings().destinationCrs())
        self._show(rect)
        self.boxDrawn.emit(QgsRectangle(rect))

    def keyPressEvent(self, e) -> None:  # noqa: N802
        if e.key() == Qt.Key.Key_Escape:
            self._start = None
            self.show_box(self._box)

    def _show(self, rect: QgsRectangle) -> None:
        self._band.setToGeometry(QgsGeometry.fromRect(rect), None)
        self._band.show()

    def _reproject_box(self) -> None:
        """Keep the box on the same ground when the project CRS changes."""
        crs = self._canvas.mapSettings().destinationCrs()
        if self._box is not None and self._box_crs.isValid() and crs != self._box_crs:
            transform = QgsCoordinateTransform(self._box_crs, crs, QgsProject.instance())
            self.show_box(transform.transformBoundingBox(self._box))
            self.boxDrawn.emit(QgsRectangle(self._box))
        self._box_crs = QgsCoordinateReferenceSystem(crs)

    def show_box(self, rect: Optional[QgsRectangle]) -> None:
        """Show ``rect`` (canvas CRS) as the current target, or hide the band when None."""
        self._box = QgsRectangle(rect) if rect is not None else None
        self._box_crs = QgsCoordinateReferenceSystem(self._canvas.mapSettings().destinationCrs())
        if rect is None or rect.isEmpty():
            self._band.reset(Qgis.GeometryType.Polygon)
            self._band.hide()
        else:
            self._show(rect)

    def set_band_visible(self, visible: bool) -> None:
        """Show the current box (when there is one) or hide it, without forgetting it."""
        if visible and self._box is not None:
            self._show(self._box)
        else:
            self._band.hide()

    def clear(self) -> None:
        """Forget the box and hide it."""
        self.show_box(None)

    def remove_band(self) -> None:
        """Take the rubber band off the canvas (on unload)."""
        self._band.reset(Qgis.GeometryType.Polygon)
        try:
            self._canvas.destinationCrsChanged.disconnect(self._reproject_box)
        except TypeError:
            pass
        scene = self._canvas.scene()
        if scene is not None:
            scene.removeItem(self._band)


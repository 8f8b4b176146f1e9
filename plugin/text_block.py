"""Two widgets whose height is exactly what their content needs at the width they are given.

QLabel's word wrap asks the layout for a height computed at a guessed width: in a narrow panel a card was then
taller than its text (blank gaps) or shorter (clipped text). These widgets fix their own height from the width
they really have, each time it changes, so a card is the sum of its parts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

from qgis.PyQt.QtCore import QSize, Qt
from qgis.PyQt.QtGui import QColor, QPalette
from qgis.PyQt.QtWidgets import QAbstractScrollArea, QFrame, QSizePolicy, QTextBrowser, QWidget

SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard


class TextBlock(QTextBrowser):
    """Read-only, selectable text, exactly as tall as its wrapped content; above ``max_height`` it scrolls.

    Args:
        max_height: the most pixels it takes (0: no limit, it never scrolls); taller content gets a scroll bar.
        rich: the text is HTML (else plain text).
    """

    def __init__(self, max_height: int = 0, rich: bool = False, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.max_height = max_height
        self._rich = rich
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setReadOnly(True)
        self.setOpenLinks(False)
        self.setTextInteractionFlags(SELECTABLE)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded if max_height
                                        else Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustIgnored)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(40)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Base, QColor(0, 0, 0, 0))  # the card shows through
        self.setPalette(palette)
        self.viewport().setAutoFillBackground(False)
        self.document().setDocumentMargin(0)
        self.document().setIndentWidth(14)  # list bullets, not a 40 px indent
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self._fit()

    def set_text(self, text: str) -> None:
        """Show ``text`` (HTML for a rich block), or hide the block when it is empty."""
        if self._rich:
            self.setHtml(text)
        else:
            self.setPlainText(text)
        self.setVisible(bool(text))
        self._fit()

    def text(self) -> str:
        """The text shown, as plain text."""
        return self.toPlainText()

    def content_height(self) -> int:
        """Pixels the whole text needs at the current width."""
        return math.ceil(self.document().size().height()) + 2 * self.frameWidth()

    def scrolls(self) -> bool:
        """True when the text is taller than ``max_height`` and scrolls inside the block."""
        return bool(self.max_height) and self.content_height() > self.max_height

    def _fit(self, *_: object) -> None:
        height = self.content_height()
        if self.max_height:
            height = min(height, self.max_height)
        if self.minimumHeight() != height or self.maximumHeight() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(200, self.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(self.minimumWidth(), self.height())


class FlowRow(QWidget):
    """Widgets side by side, wrapping onto more rows when the width runs out; as tall as its rows."""

    def __init__(self, widgets: Sequence[QWidget], spacing: int = 2, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self._widgets = list(widgets)
        self._spacing = spacing
        for widget in self._widgets:
            widget.setParent(self)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._place()

    def _place(self) -> None:
        """Position the visible widgets row by row at the current width and fix the height to the rows'."""
        width = max(self.width(), 1)
        x = y = row = 0
        for widget in self._widgets:
            if widget.isHidden():
                continue
            size = widget.sizeHint()
            if x and x + size.width() > width:
                x, y, row = 0, y + row + self._spacing, 0
            widget.setGeometry(x, y, size.width(), size.height())
            x += size.width() + self._spacing
            row = max(row, size.height())
        height = y + row
        if self.minimumHeight() != height or self.maximumHeight() != height:
            self.setFixedHeight(height)

    def refresh(self) -> None:
        """Place the widgets again (after one changed its text)."""
        self._place()
        self.updateGeometry()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._place()

    def sizeHint(self) -> QSize:  # noqa: N802
        shown = [w.sizeHint() for w in self._widgets if not w.isHidden()]
        width = sum(s.width() for s in shown) + self._spacing * max(len(shown) - 1, 0)
        return QSize(width, self.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(max((w.sizeHint().width() for w in self._widgets if not w.isHidden()), default=0),
                     self.height())

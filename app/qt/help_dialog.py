"""Help > Keyboard shortcuts: the list the window's actions use."""

from __future__ import annotations

from PySide6 import QtWidgets

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Space", "play / pause"),
    ("Left / Right", "previous / next frame"),
    ("Shift+Left / Shift+Right", "jump 10 frames back / forward"),
    ("Home / End", "first / last frame"),
    ("+ / -", "faster / slower playback"),
    ("Ctrl+O", "open a video, image or SCARED file"),
    ("Ctrl+Shift+O", "open a folder (SCARED keyframe/dataset, image folder)"),
    ("Ctrl+E", "export (current frame, range, whole video)"),
    ("Ctrl+S / Ctrl+Shift+S", "save session / open session"),
    ("F1", "this list"),
    ("Ctrl+Q", "quit"),
    ("3D view: drag", "orbit; Ctrl+drag or middle-drag: pan; wheel: zoom"),
    ("3D view: Shift+click", "pick a point; two picks make a measurement"),
    ("Image views: drag / wheel", "pan / zoom (linked in the comparison view)"),
)


class HelpDialog(QtWidgets.QDialog):
    """A two-column table of SHORTCUTS."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("EndoDepth - keyboard shortcuts")
        table = QtWidgets.QTableWidget(len(SHORTCUTS), 2, self)
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, (keys, action) in enumerate(SHORTCUTS):
            table.setItem(row, 0, QtWidgets.QTableWidgetItem(keys))
            table.setItem(row, 1, QtWidgets.QTableWidgetItem(action))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.resize(560, 460)

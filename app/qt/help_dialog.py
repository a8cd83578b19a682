"""Help > Keyboard shortcuts: the key table the window binds its actions from, and the dialog that lists it."""

from __future__ import annotations

from PySide6 import QtWidgets

# action -> (keys, what they do); MainWindow binds each action's shortcuts from here
KEYS: dict[str, tuple[tuple[str, ...], str]] = {
    "play": (("Space",), "play / pause"),
    "previous": (("Left",), "previous frame"),
    "next": (("Right",), "next frame"),
    "back": (("Shift+Left",), "jump 10 frames back"),
    "forward": (("Shift+Right",), "jump 10 frames forward"),
    "first": (("Home",), "first frame"),
    "last": (("End",), "last frame"),
    "faster": (("+", "="), "faster playback"),
    "slower": (("-",), "slower playback"),
    "open": (("Ctrl+O",), "open a video, image or SCARED file"),
    "open_folder": (("Ctrl+Shift+O",), "open a folder (SCARED keyframe/dataset, image folder)"),
    "export": (("Ctrl+E",), "export (current frame, range, whole video)"),
    "save_session": (("Ctrl+S",), "save session"),
    "open_session": (("Ctrl+Shift+S",), "open session"),
    "help": (("F1",), "this list"),
    "quit": (("Ctrl+Q",), "quit"),
}
POINTER: tuple[tuple[str, str], ...] = (
    ("3D view: drag", "orbit; Ctrl+drag or middle-drag: pan; wheel: zoom"),
    ("3D view: Shift+click", "pick a point; two picks make a measurement"),
    ("Image views: drag / wheel", "pan / zoom (linked in the comparison view)"),
)
SHORTCUTS: tuple[tuple[str, str], ...] = tuple((" / ".join(keys), text) for keys, text in KEYS.values()) + POINTER


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
        self.resize(560, 520)

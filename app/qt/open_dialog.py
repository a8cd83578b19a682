"""File > Open: Qt's own (non-native) file dialog with a stereo layout choice under the file list."""

from __future__ import annotations

from PySide6 import QtWidgets

from endodepth.io.stereo import MONO

# (shown text, layout passed to endodepth.io.detect.open_source)
LAYOUT_LABELS = (
    ("auto-detect (from a calibration beside the file)", None),
    ("mono", MONO),
    ("stacked (left over right)", "stacked"),
    ("side-by-side (left | right)", "sbs"),
)


def layout_label(layout: str | None) -> str:
    """The short name of a layout choice in menus ("" for auto-detection)."""
    return "" if layout is None else next(text for text, value in LAYOUT_LABELS if value == layout).split(" (")[0]


class OpenDialog(QtWidgets.QFileDialog):
    """Chooses a video or image and how to read it: `stereo_layout()` after `exec()`."""

    def __init__(self, parent: QtWidgets.QWidget | None, start: str, filters: str,
                 layout: str | None = None) -> None:
        super().__init__(parent, "Open video or image", start, filters)
        self.setOption(QtWidgets.QFileDialog.Option.DontUseNativeDialog, True)  # a native one takes no extra row
        self.setFileMode(QtWidgets.QFileDialog.FileMode.ExistingFile)
        self.layout_box = QtWidgets.QComboBox(self)
        for text, value in LAYOUT_LABELS:
            self.layout_box.addItem(text, value)
        self.layout_box.setCurrentIndex([v for _, v in LAYOUT_LABELS].index(layout))
        self.layout_box.setToolTip("How the video holds its views; a stereo video needs a calibration beside it "
                                   "(<video>.yaml or endoscope_calibration.yaml)")
        grid = self.layout()
        if isinstance(grid, QtWidgets.QGridLayout):
            row = grid.rowCount()
            grid.addWidget(QtWidgets.QLabel("Stereo layout:", self), row, 0)
            grid.addWidget(self.layout_box, row, 1)

    def stereo_layout(self) -> str | None:
        """The chosen layout (None: detect from the calibration beside the file)."""
        return self.layout_box.currentData()

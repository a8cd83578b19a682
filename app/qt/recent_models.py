"""File > Open recent models: the checkpoints adapted in the window or loaded from a file, newest first."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from endodepth.qt import settings as prefs


class RecentModels:
    """Keeps the menu in step with the stored list; choosing an entry makes it the primary model."""

    def __init__(self, window, menu: QtWidgets.QMenu) -> None:
        self.window, self.menu = window, menu
        self.refresh()

    def paths(self) -> list[str]:
        """The stored list, most recent first."""
        return prefs.recent_files(self.window.store, prefs.RECENT_MODELS)

    def add(self, path: str | Path) -> None:
        """Put a checkpoint first in the list and the menu."""
        prefs.add_recent(self.window.store, path, key=prefs.RECENT_MODELS)
        self.refresh()

    def refresh(self) -> None:
        self.menu.clear()
        paths = self.paths()
        for path in paths:
            action = self.menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.window.set_models([p]))
        if not paths:
            self.menu.addAction("(none yet: Model > Adapt to this video...)").setEnabled(False)

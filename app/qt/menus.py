"""The main window's menus, bound to the shortcut table (help_dialog.KEYS), and the file dialogs they open."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from endodepth.io.gt_cache import cache_root, clear_cache
from endodepth.qt import settings as prefs
from endodepth.qt.adapt_dialog import adapt_to_video
from endodepth.qt.export import ExportDialog
from endodepth.qt.help_dialog import KEYS, HelpDialog
from endodepth.qt.open_dialog import OpenDialog, layout_label
from endodepth.qt.recent_models import RecentModels

VIDEO_FILTER = "Videos and images (*.mp4 *.avi *.mov *.mkv *.m4v *.png *.jpg *.jpeg *.tif *.tiff);;All files (*)"
CHECKPOINT_FILTER = "Checkpoints (*.safetensors *.pt *.pth);;All files (*)"


def add_action(menu: QtWidgets.QMenu, text: str, key: str | None, slot) -> QtGui.QAction:
    """A menu action; `key` names its shortcuts in the help table (KEYS)."""
    action = menu.addAction(text)
    if key:
        action.setShortcuts([QtGui.QKeySequence(k) for k in KEYS[key][0]])
        action.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
    action.triggered.connect(lambda _=False: slot())
    return action


def build_menus(window) -> QtWidgets.QMenu:
    """File, Model, Playback, View and Help menus of `window` (a MainWindow); returns the recent-files menu
    (the recent-models list is `window.recent_models`)."""
    menu, transport = window.menuBar(), window.transport
    file_menu = menu.addMenu("&File")
    add_action(file_menu, "&Open file...", "open", lambda: open_file(window))
    add_action(file_menu, "Open &folder...", "open_folder", lambda: open_folder(window))
    recent = file_menu.addMenu("Open &recent")
    window.recent_models = RecentModels(window, file_menu.addMenu("Open recent &models"))
    file_menu.addSeparator()
    add_action(file_menu, "&Export...", "export", lambda: export(window))
    add_action(file_menu, "Clear ground-truth cache", None, lambda: clear_gt_cache(window))
    file_menu.addSeparator()
    add_action(file_menu, "&Save session...", "save_session", lambda: save_session(window))
    add_action(file_menu, "Open sess&ion...", "open_session", lambda: open_session(window))
    file_menu.addSeparator()
    add_action(file_menu, "&Quit", "quit", window.close)
    model_menu = menu.addMenu("&Model")
    add_action(model_menu, "Load &checkpoint...", None, lambda: open_checkpoint(window))
    add_action(model_menu, "&Adapt to this video...", None, lambda: adapt_to_video(window))
    play_menu = menu.addMenu("&Playback")
    add_action(play_menu, "Play / pause", "play", window.toggle_play)
    add_action(play_menu, "Previous frame", "previous", lambda: transport.step(-1))
    add_action(play_menu, "Next frame", "next", lambda: transport.step(1))
    add_action(play_menu, "Back 10 frames", "back", lambda: transport.step(-10))
    add_action(play_menu, "Forward 10 frames", "forward", lambda: transport.step(10))
    add_action(play_menu, "First frame", "first", lambda: transport.seek_requested.emit(0))
    add_action(play_menu, "Last frame", "last", lambda: transport.step(10**9))
    add_action(play_menu, "Faster", "faster", lambda: transport.change_speed(1))
    add_action(play_menu, "Slower", "slower", lambda: transport.change_speed(-1))
    view_menu = menu.addMenu("&View")
    for dock in window.docks.values():
        view_menu.addAction(dock.toggleViewAction())
    view_menu.addSeparator()
    add_action(view_menu, "Reset layout", None, window.reset_layout)
    add_action(view_menu, "Reset 3D view", None, window.cloud_view.reset_view)
    help_menu = menu.addMenu("&Help")
    add_action(help_menu, "&Keyboard shortcuts", "help", lambda: HelpDialog(window).exec())
    add_action(help_menu, "&About", None, lambda: QtWidgets.QMessageBox.about(
        window, "EndoDepth", "EndoDepth: depth visualization for endoscopic video."))
    return recent


def last_dir(store: QtCore.QSettings) -> str:
    """The folder of the most recent file (home when none), where the file dialogs start."""
    recent = prefs.recent_files(store)
    return str(Path(recent[0]).parent) if recent else str(Path.home())


def open_file(window) -> None:
    """The open dialog with its stereo layout choice (auto-detect, mono, stacked, side by side)."""
    dialog = OpenDialog(window, last_dir(window.store), VIDEO_FILTER)
    if dialog.exec() and dialog.selectedFiles():
        window.open_path(dialog.selectedFiles()[0], dialog.stereo_layout())


def fill_recent(window, paths: list[str]) -> None:
    """The recent-files menu: each file opens again with the stereo layout it was opened with."""
    window.recent_menu.clear()
    layouts = prefs.recent_layouts(window.store)
    for path in paths:
        layout = layouts.get(path)
        action = window.recent_menu.addAction(f"{path}  [{layout_label(layout)}]" if layout else path)
        action.triggered.connect(lambda _=False, p=path, lay=layout: window.open_path(p, lay))


def open_folder(window) -> None:
    path = QtWidgets.QFileDialog.getExistingDirectory(window, "Open SCARED keyframe/dataset or image folder",
                                                      last_dir(window.store))
    if path:
        window.open_path(path)


def open_checkpoint(window) -> None:
    path, _ = QtWidgets.QFileDialog.getOpenFileName(
        window, "Load checkpoint", last_dir(window.store), CHECKPOINT_FILTER
    )
    if path:
        window.recent_models.add(path)
        window.set_models([path])


def export(window) -> None:
    """The export dialog for the frame on display (paused while it is open)."""
    if window.last_update is None:
        window.show_notice("nothing to export yet: open a file first")
        return
    window.play(False)
    ExportDialog(window, window.worker, window.last_update, window.image_view.ranges.colormap_name).exec()


def clear_gt_cache(window) -> None:
    """Delete the decoded ground truth kept in the user cache folder (io.gt_cache) and say how much."""
    root = cache_root()
    freed = clear_cache(root)
    window.show_notice(f"ground-truth cache cleared: {freed / 2**20:.1f} MB freed in {root}")


def save_session(window) -> None:
    path, _ = QtWidgets.QFileDialog.getSaveFileName(
        window, "Save session", "session.endodepth.json", "Sessions (*.json)"
    )
    if path:
        prefs.save_session(path, window.session())


def open_session(window) -> None:
    path, _ = QtWidgets.QFileDialog.getOpenFileName(window, "Open session", last_dir(window.store), "Sessions (*.json)")
    if path:
        try:
            window.apply_session(prefs.load_session(path))
        except Exception as exc:
            window.show_error(str(exc))

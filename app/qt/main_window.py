"""The main window: docks for the four views, transport bar, menus, status bar; forwards user actions
to the worker and draws what comes back (results of a replaced file or model are dropped)."""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from endodepth.models import available
from endodepth.pipeline.stats import RollingWindow
from endodepth.qt import settings as prefs
from endodepth.qt.comparison_view import ComparisonView
from endodepth.qt.export import ExportDialog
from endodepth.qt.help_dialog import HelpDialog
from endodepth.qt.image_depth_view import ImageDepthView
from endodepth.qt.point_cloud_view import PointCloudView
from endodepth.qt.reconstruction_view import add_reconstruction_dock
from endodepth.qt.selectivity_view import SelectivityView
from endodepth.qt.transport import TransportBar
from endodepth.qt.worker import SourceInfo, Update, Worker

DEVICES = ("auto", "cuda", "cpu")
# Redraw rates of the docks that need not follow every frame: the 3D view (enough to follow the
# motion; software OpenGL spends ms of the GUI thread per redraw) and the slowly changing statistics.
MAX_FPS = {"cloud": 12.0, "selectivity": 4.0}
VIDEO_FILTER = "Videos and images (*.mp4 *.avi *.mov *.mkv *.m4v *.png *.jpg *.jpeg *.tif *.tiff);;All files (*)"


class MainWindow(QtWidgets.QMainWindow):
    """EndoDepth's window; `frame_shown` fires after each drawn frame (index)."""

    frame_shown = QtCore.Signal(int)

    def __init__(self, store: QtCore.QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("EndoDepth")
        self.setObjectName("EndoDepthMainWindow")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.store = store or prefs.settings()
        self.info: SourceInfo | None = None
        self.generation = -1
        self.last_update: Update | None = None
        self._pending: Update | None = None
        self._draw_scheduled = False
        self.draw_ms: defaultdict[str, deque[float]] = defaultdict(lambda: deque(maxlen=10_000))  # GUI slot times
        self._drawn_at: dict[str, float] = {}  # view -> perf_counter of its last redraw
        self._catch_up: dict[str, QtCore.QTimer] = {}  # view -> timer drawing the newest frame after a skip
        for key in MAX_FPS:
            timer = self._catch_up[key] = QtCore.QTimer(self)
            timer.setSingleShot(True)
            timer.timeout.connect(lambda key=key: self._draw_latest(key))
        self.gui_dropped = 0  # results replaced by a newer one before the GUI could draw them
        self.shown = 0
        self.shown_window = RollingWindow(1.0)
        self.models: list[str] = []
        self.compare: list[str] = []
        self.device = "auto"
        self._pending_seek = 0
        self.quiet = False  # scripted runs (--quit-after, tests): errors go to the status bar only

        self.image_view = ImageDepthView()
        self.cloud_view = PointCloudView()
        self.selectivity_view = SelectivityView()
        self.comparison_view = ComparisonView()
        self.cloud_view.gl_view.paint_ms = self.draw_ms["cloud paint (GL)"]
        self.docks = {}
        for key, title, view, area in (
            ("image", "Image and depth", self.image_view, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea),
            ("cloud", "3D point cloud", self.cloud_view, QtCore.Qt.DockWidgetArea.RightDockWidgetArea),
            ("selectivity", "Neuron selectivity", self.selectivity_view, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea),
            ("comparison", "Model comparison", self.comparison_view, QtCore.Qt.DockWidgetArea.RightDockWidgetArea),
        ):
            dock = QtWidgets.QDockWidget(title, self)
            dock.setObjectName(f"dock-{key}")
            dock.setWidget(view)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        self._default_layout()

        self.transport = TransportBar(self)
        bar = QtWidgets.QToolBar("Transport", self)
        bar.setObjectName("toolbar-transport")
        bar.setMovable(False)
        bar.addWidget(self.transport)
        self.addToolBar(QtCore.Qt.ToolBarArea.BottomToolBarArea, bar)
        self._build_model_bar()
        self._build_status_bar()
        self._build_menus()

        self.worker_thread = QtCore.QThread(self)
        self.worker_thread.setObjectName("endodepth-worker")
        self.worker = Worker()
        self.worker.moveToThread(self.worker_thread)
        self.worker_thread.start()
        queued = QtCore.Qt.ConnectionType.QueuedConnection  # the worker emits from its own threads
        self.worker.opened.connect(self._on_opened, queued)
        self.worker.models_ready.connect(self._on_models_ready, queued)
        self.worker.result.connect(self._on_result, queued)
        self.worker.error.connect(self.show_error, queued)
        self.worker.notice.connect(self.show_notice, queued)
        self.worker.finished.connect(self._on_finished, queued)
        self.reconstruction_view = add_reconstruction_dock(self, self.worker)  # issue 14: self-contained dock
        for key, dock in self.docks.items():
            dock.visibilityChanged.connect(lambda visible, key=key: self._on_dock_visibility(key, visible))

        self.transport.seek_requested.connect(self._on_seek)
        self.transport.play_toggled.connect(self._on_play)
        self.transport.speed_changed.connect(self.worker.runner.set_speed)
        self.transport.loop_changed.connect(self.worker.runner.set_loop)
        self.transport.every_frame_changed.connect(lambda on: self.worker.runner.set_realtime(not on))
        self.image_view.ranges.changed.connect(self._on_colouring_changed)
        self.image_view.specular_toggled.connect(lambda on: self._configure(specular=on))
        self.image_view.hovered.connect(lambda text: self.statusBar().showMessage(text, 4000))
        self.cloud_view.budget_changed.connect(lambda n: self._configure(max_points=int(n)))
        self.selectivity_view.layer_changed.connect(self._on_layer)
        self.selectivity_view.unit_changed.connect(lambda u: self._refresh_after(lambda: self.worker.set_selectivity(unit=u)))
        self.comparison_view.models_changed.connect(self._on_compare_changed)

        self.stats_timer = QtCore.QTimer(self)
        self.stats_timer.timeout.connect(self._update_stats)
        self.stats_timer.start(500)
        self._restore_settings()

    # --- public API (menus, CLI, tests) ---------------------------------------------------

    def open_path(self, path: str | Path) -> None:
        """Open a video, image folder or SCARED keyframe/dataset in the worker thread."""
        self.transport.set_playing(False)
        self.worker.pause()
        self.statusBar().showMessage(f"opening {path} ...")
        self.worker.open(str(path))

    def set_models(self, models: list[str], device: str | None = None) -> None:
        """Primary model first; the comparison models run beside it."""
        self.models = [m for m in dict.fromkeys(models) if m]
        self.device = device or self.device
        if self.model_box.findText(self.models[0]) < 0:
            self.model_box.addItem(self.models[0])
        with QtCore.QSignalBlocker(self.model_box), QtCore.QSignalBlocker(self.device_box):
            self.model_box.setCurrentText(self.models[0])
            self.device_box.setCurrentText(self.device)
        self._send_models()

    def play(self, playing: bool = True) -> None:
        self.transport.set_playing(playing)
        self._on_play(playing)

    def toggle_play(self) -> None:
        self.play(not self.transport.play_button.isChecked())

    def seek(self, index: int) -> None:
        self.transport.set_position(index)
        self._on_seek(index)

    def _on_seek(self, index: int) -> None:
        self.worker.request(index)

    @QtCore.Slot(str)
    def show_error(self, message: str) -> None:
        """Errors from the worker: status bar, and a dialog unless playing (the app keeps running)."""
        self.notice_label.setText(f"error: {message}")
        self.statusBar().showMessage(message, 10000)
        if not self.worker.runner.playing and self.isVisible() and not self.quiet:
            QtWidgets.QMessageBox.warning(self, "EndoDepth", message)

    @QtCore.Slot(str)
    def show_notice(self, message: str) -> None:
        self.notice_label.setText(message)
        self.statusBar().showMessage(message, 10000)

    def session(self) -> dict:
        """What a session file holds."""
        return {
            "file": self.info.path if self.info else None,
            "position": self.transport.position,
            "models": self.models,
            "compare": self.compare,
            "device": self.device,
            "image": self.image_view.options(),
            "cloud": self.cloud_view.options(),
            "selectivity": self.selectivity_view.options(),
            "measurements": [m.as_dict() for m in self.cloud_view.measurements],
        }

    def apply_session(self, data: dict) -> None:
        self.image_view.set_options(data.get("image", {}))
        self.cloud_view.set_options(data.get("cloud", {}))
        self.cloud_view.set_measurements(data.get("measurements", []))
        self.compare = list(data.get("compare", []))
        self._pending_seek = int(data.get("position", 0))
        if data.get("models"):
            self.set_models(list(data["models"]), data.get("device", self.device))
        if data.get("file"):
            self.open_path(data["file"])

    # --- construction ---------------------------------------------------------------------

    def _default_layout(self) -> None:
        self.splitDockWidget(self.docks["image"], self.docks["selectivity"], QtCore.Qt.Orientation.Vertical)
        self.splitDockWidget(self.docks["cloud"], self.docks["comparison"], QtCore.Qt.Orientation.Vertical)
        self.size_docks()

    def size_docks(self) -> None:
        """Default dock sizes for the window's current size: columns about equal, image dock taller."""
        width, height = max(self.width(), 800), max(self.height(), 600)
        self.resizeDocks([self.docks["image"], self.docks["cloud"]], [width * 52 // 100, width * 48 // 100],
                         QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["image"], self.docks["selectivity"]], [height * 57 // 100, height * 43 // 100],
                         QtCore.Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["cloud"], self.docks["comparison"]], [height // 2, height // 2],
                         QtCore.Qt.Orientation.Vertical)

    def _build_model_bar(self) -> None:
        bar = QtWidgets.QToolBar("Model", self)
        bar.setObjectName("toolbar-model")
        self.model_box = QtWidgets.QComboBox(bar)
        self.model_box.addItems(available())
        self.model_box.setMinimumContentsLength(22)
        self.model_box.setToolTip("Depth model (a registered name or a checkpoint file)")
        self.device_box = QtWidgets.QComboBox(bar)
        self.device_box.addItems(list(DEVICES))
        self.align_box = QtWidgets.QCheckBox("Scale to GT (mm)", bar)
        self.align_box.setChecked(True)
        self.align_box.setToolTip("When the source has ground truth, median-scale relative depth to millimetres")
        bar.addWidget(QtWidgets.QLabel(" Model "))
        bar.addWidget(self.model_box)
        bar.addWidget(QtWidgets.QLabel(" Device "))
        bar.addWidget(self.device_box)
        bar.addWidget(self.align_box)
        self.mc_box = QtWidgets.QSpinBox(bar)
        self.mc_box.setRange(1, 32)
        self.mc_box.setPrefix("MC dropout x")
        self.mc_box.setToolTip("Passes per frame with dropout on (1: off); models with dropout then show an uncertainty")
        bar.addWidget(self.mc_box)
        self.mc_box.valueChanged.connect(lambda n: self._refresh_after(lambda: self.worker.set_mc_samples(n)))
        self.addToolBar(QtCore.Qt.ToolBarArea.TopToolBarArea, bar)
        self.model_box.currentTextChanged.connect(lambda name: self.set_models([name] + self.compare) if name else None)
        self.device_box.currentTextChanged.connect(lambda d: self.set_models(self.models, d) if self.models else None)
        self.align_box.toggled.connect(self._on_align)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.frame_label = QtWidgets.QLabel("no file")
        self.timing_label = QtWidgets.QLabel("")
        self.fps_label = QtWidgets.QLabel("")
        self.device_label = QtWidgets.QLabel("")
        self.notice_label = QtWidgets.QLabel("")
        for label in (self.frame_label, self.timing_label, self.fps_label, self.device_label, self.notice_label):
            status.addPermanentWidget(label)

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self._action(file_menu, "&Open file...", "Ctrl+O", self._open_file_dialog)
        self._action(file_menu, "Open &folder...", "Ctrl+Shift+O", self._open_folder_dialog)
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        self._action(file_menu, "&Export...", "Ctrl+E", self._export_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "&Save session...", "Ctrl+S", self._save_session_dialog)
        self._action(file_menu, "Open sess&ion...", "Ctrl+Shift+S", self._open_session_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", "Ctrl+Q", self.close)
        model_menu = menu.addMenu("&Model")
        self._action(model_menu, "Load &checkpoint...", None, self._open_checkpoint_dialog)
        play_menu = menu.addMenu("&Playback")
        self._action(play_menu, "Play / pause", "Space", self.toggle_play)
        self._action(play_menu, "Previous frame", "Left", lambda: self.transport.step(-1))
        self._action(play_menu, "Next frame", "Right", lambda: self.transport.step(1))
        self._action(play_menu, "Back 10 frames", "Shift+Left", lambda: self.transport.step(-10))
        self._action(play_menu, "Forward 10 frames", "Shift+Right", lambda: self.transport.step(10))
        self._action(play_menu, "First frame", "Home", lambda: self.transport.seek_requested.emit(0))
        self._action(play_menu, "Last frame", "End", lambda: self.transport.step(10**9))
        faster = self._action(play_menu, "Faster", "+", lambda: self.transport.change_speed(1))
        faster.setShortcuts([QtGui.QKeySequence("+"), QtGui.QKeySequence("=")])
        self._action(play_menu, "Slower", "-", lambda: self.transport.change_speed(-1))
        view_menu = menu.addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        self._action(view_menu, "Reset layout", None, self._reset_layout)
        self._action(view_menu, "Reset 3D view", None, self.cloud_view.reset_view)
        help_menu = menu.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", "F1", lambda: HelpDialog(self).exec())
        self._action(help_menu, "&About", None, lambda: QtWidgets.QMessageBox.about(
            self, "EndoDepth", "EndoDepth: depth visualization for endoscopic video."))

    def _action(self, menu: QtWidgets.QMenu, text: str, shortcut: str | None, slot) -> QtGui.QAction:
        action = menu.addAction(text)
        if shortcut:
            action.setShortcut(QtGui.QKeySequence(shortcut))
            action.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
        action.triggered.connect(lambda _=False: slot())
        return action

    # --- worker signals -------------------------------------------------------------------

    @QtCore.Slot(object, int)
    def _on_opened(self, info: SourceInfo, generation: int) -> None:
        self.info, self.generation = info, generation
        self.last_update, self._pending, self.gui_dropped = None, None, 0
        self.transport.set_source(info.count, info.fps)
        self.image_view.clear()
        self.cloud_view.clear()
        self.selectivity_view.clear()
        self.comparison_view.clear()
        gt = ", ground truth" if info.has_ground_truth else ""
        k = ", K assumed (default FOV)" if info.intrinsics_assumed else ", calibrated K"
        self.setWindowTitle(f"EndoDepth - {info.name}")
        self.statusBar().showMessage(f"{info.name}: {info.kind}, {info.count} frames, "
                                     f"{info.size[0]}x{info.size[1]} @ {info.fps:g} fps{gt}{k}", 8000)
        self._update_recent(prefs.add_recent(self.store, info.path))
        start, self._pending_seek = self._pending_seek, 0
        self.seek(min(start, info.count - 1))

    @QtCore.Slot(list, str, int)
    def _on_models_ready(self, names: list[str], device: str, generation: int) -> None:
        self.generation = generation
        self._pending, self.gui_dropped = None, 0
        self.device_label.setText(f"device: {device}")
        self.selectivity_view.set_layers(*self.worker.available_layers())
        self.comparison_view.set_available(sorted(set(available()) | set(names)), self.compare)
        self.comparison_view.clear()
        self.cloud_view.clear()
        if self.info is None:
            return
        if self.transport.play_button.isChecked():
            self.worker.request(self.transport.position)
            self._on_play(True)
        else:
            self.seek(self.transport.position)

    @QtCore.Slot(object)
    def _on_result(self, update: Update) -> None:
        """Keep only the newest result and draw it when the event loop is free (no backlog of stale frames)."""
        if update.generation != self.generation or update.primary not in update.result.results:
            return
        if self._pending is not None:
            self.gui_dropped += 1
        self._pending = update
        if not self._draw_scheduled:
            self._draw_scheduled = True
            QtCore.QTimer.singleShot(0, self._draw_pending)

    def _draw_pending(self) -> None:
        self._draw_scheduled = False
        update, self._pending = self._pending, None
        if update is None or update.generation != self.generation or update.view is None:
            return
        self.last_update = update
        self.draw_ms["worker prepare (inference thread)"].append(update.prepare_ms)
        start = time.perf_counter()
        self._draw_views(update, self.visible_views())
        result = update.result
        if not self.transport.slider.isSliderDown():
            self.transport.set_position(result.index)
        self.frame_label.setText(f"frame {result.index}" + (f" ({result.frame.source})" if result.frame.source else ""))
        self.shown += 1
        self.shown_window.add("shown")
        self._timed("draw slot", start)
        self.frame_shown.emit(result.index)

    def visible_views(self) -> set[str]:
        """Keys of the docks one can see now (closed docks and hidden tabs are not drawn)."""
        return {key for key, dock in self.docks.items() if dock.isVisible()}

    def _draw_views(self, update: Update, views: set[str]) -> None:
        """Draw `update` into the named views, those in MAX_FPS at most at that rate (the newest
        frame follows when its time comes)."""
        now = time.perf_counter()
        for key in self.docks:
            if key not in views:
                continue
            wait_s = self._drawn_at.get(key, -math.inf) + 1.0 / MAX_FPS.get(key, math.inf) - now
            if wait_s <= 0:
                self._draw_view(key, update)
            elif not self._catch_up[key].isActive():
                self._catch_up[key].start(math.ceil(1e3 * wait_s))

    def _draw_view(self, key: str, update: Update) -> None:
        start = self._drawn_at[key] = time.perf_counter()
        if key == "image":
            self.image_view.show_depth(update.view)
        elif key == "cloud":
            self.cloud_view.show_depth(update.view, self.image_view.ranges.colormap_name)
        elif key == "selectivity" and update.selectivity is not None:
            self.selectivity_view.show_snapshot(update.selectivity, update.result.frame.rgb)
        elif key == "comparison" and update.comparison is not None:
            self.comparison_view.colormap_name = self.image_view.ranges.colormap_name
            self.comparison_view.show_snapshot(update.comparison)
        self._timed(key, start)

    def _draw_latest(self, key: str) -> None:
        """A throttled view catches up with the newest drawn frame."""
        update = self.last_update
        if update is not None and update.generation == self.generation and key in self.visible_views():
            self._draw_view(key, update)

    def _on_dock_visibility(self, key: str, visible: bool) -> None:
        """A dock that appears shows the current frame at once; hidden docks are not kept up to date,
        and the worker skips the analyses of hidden ones (selectivity accumulates while shown)."""
        self.worker.analyses = self.visible_views() & {"selectivity", "comparison"}
        if visible:
            self._draw_latest(key)
            if key in ("selectivity", "comparison"):
                self._refresh()

    def _timed(self, name: str, start: float) -> float:
        """Record the milliseconds since `start` under `name` in `draw_ms`; returns now."""
        now = time.perf_counter()
        self.draw_ms[name].append(1e3 * (now - start))
        return now

    def _on_finished(self) -> None:
        self.transport.set_playing(False)

    # --- forwarding -----------------------------------------------------------------------

    def _on_play(self, playing: bool) -> None:
        if playing:
            self.worker.play(self.transport.speed, not self.transport.every_frame_box.isChecked(),
                             self.transport.loop_box.isChecked())
        else:
            self.worker.pause()

    def _send_models(self) -> None:
        self.store.setValue("models", self.models)
        self.store.setValue("device", self.device)
        self.worker.compare = [m for m in self.compare if m]
        self.worker.set_models(self.models + [m for m in self.compare if m not in self.models], self.device)

    def _on_compare_changed(self, names: list[str]) -> None:
        self.compare = names
        if self.models:
            self._send_models()

    def _on_colouring_changed(self) -> None:
        ranges = self.image_view.ranges
        self._configure(colormap=ranges.colormap_name, range_policy=ranges.policy_factory())

    def _on_align(self, on: bool) -> None:
        self.worker.align_to_gt = on
        self._refresh()

    def _on_layer(self, layer: str) -> None:
        self._refresh_after(lambda: self.worker.set_selectivity(layer=layer))

    def _configure(self, **changes) -> None:
        self._refresh_after(lambda: self.worker.configure(**changes))

    def _refresh_after(self, change) -> None:
        change()
        self._refresh()

    def _refresh(self) -> None:
        """Re-run the shown frame after a change of options (playback picks it up by itself)."""
        if self.info is not None and not self.worker.runner.playing:
            self.worker.request(self.transport.position)

    def _update_stats(self) -> None:
        stats = self.worker.runner.stats()
        self.timing_label.setText(
            f"decode {_ms(stats['decode_ms'])} (p95 {_ms(stats['decode_ms_p95'])})  "
            f"infer {_ms(stats['infer_ms'])} (p95 {_ms(stats['infer_ms_p95'])})")
        self.fps_label.setText(f"{self.shown_window.rate('shown'):.1f} fps shown, {stats['dropped']} dropped, "
                               f"{self.gui_dropped} not drawn")
        gpu = f", GPU {stats['gpu_memory_mb']:.0f} MiB" if "gpu_memory_mb" in stats else ""
        self.device_label.setText(f"device: {stats['device']}{gpu}")

    # --- dialogs --------------------------------------------------------------------------

    def _open_file_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open video or image", self._last_dir(), VIDEO_FILTER)
        if path:
            self.open_path(path)

    def _open_folder_dialog(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open SCARED keyframe/dataset or image folder", self._last_dir())
        if path:
            self.open_path(path)

    def _open_checkpoint_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Load checkpoint", self._last_dir(),
                                                        "Checkpoints (*.safetensors *.pt *.pth);;All files (*)")
        if path:
            self.set_models([path] + self.compare)

    def _export_dialog(self) -> None:
        if self.last_update is None:
            self.show_notice("nothing to export yet: open a file first")
            return
        self.play(False)
        ExportDialog(self, self.worker, self.last_update, self.image_view.ranges.colormap_name).exec()

    def _save_session_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save session", "session.endodepth.json", "Sessions (*.json)")
        if path:
            prefs.save_session(path, self.session())

    def _open_session_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open session", self._last_dir(), "Sessions (*.json)")
        if path:
            try:
                self.apply_session(prefs.load_session(path))
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self.show_error(str(exc))

    def _last_dir(self) -> str:
        recent = prefs.recent_files(self.store)
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def _update_recent(self, paths: list[str]) -> None:
        self.recent_menu.clear()
        for path in paths:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))

    def _reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self.restoreState(self._initial_state)

    # --- drag and drop, settings, close ---------------------------------------------------

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_path(urls[0])
            event.acceptProposedAction()

    def _restore_settings(self) -> None:
        self._initial_state = self.saveState()
        geometry = self.store.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.store.value("state")
        if state is not None:
            self.restoreState(state)
        self.image_view.set_options(prefs.read_value(self.store, "image", {}) or {})
        self.cloud_view.set_options(prefs.read_value(self.store, "cloud", {}) or {})
        self.compare = [str(m) for m in prefs.read_value(self.store, "compare", [])]
        self.device = str(prefs.read_value(self.store, "device", "auto"))
        self._update_recent(prefs.recent_files(self.store))
        self._on_colouring_changed()
        self.worker.configure(max_points=self.cloud_view.budget_box.value())

    def save_settings(self) -> None:
        self.store.setValue("geometry", self.saveGeometry())
        self.store.setValue("state", self.saveState())
        self.store.setValue("image", self.image_view.options())
        self.store.setValue("cloud", self.cloud_view.options())
        self.store.setValue("compare", self.compare)
        self.store.setValue("models", self.models)
        self.store.setValue("device", self.device)
        self.store.sync()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the runner threads and the worker thread."""
        self.stats_timer.stop()
        self.worker.stop(timeout=30.0)  # a slow model on the CPU may need seconds to finish its frame
        self.worker_thread.quit()
        self.worker_thread.wait(5000)


def _ms(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.0f} ms"

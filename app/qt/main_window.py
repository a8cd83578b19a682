"""The main window: docks for the five views, transport bar, menus, status bar; forwards user actions
to the worker and draws what comes back (results of a replaced file or model are dropped)."""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict, deque
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from endodepth.models import available
from endodepth.pipeline.source_models import offered, untrained_note
from endodepth.pipeline.stats import RollingWindow
from endodepth.qt import gui_gc
from endodepth.qt import settings as prefs
from endodepth.qt.adapt_dialog import stop_adapting
from endodepth.qt.comparison_view import ComparisonView
from endodepth.qt.image_depth_view import ImageDepthView
from endodepth.qt.menus import build_menus, fill_recent
from endodepth.qt.model_bar import ModelBar
from endodepth.qt.point_cloud_view import PointCloudView
from endodepth.qt.reconstruction_view import ReconstructionView
from endodepth.qt.selectivity_view import SelectivityView
from endodepth.qt.status_labels import StatusLabels
from endodepth.qt.transport import TransportBar
from endodepth.qt.worker import Update, Worker

# Redraw rates of the docks that need not follow every frame: the 3D view (enough to follow the
# motion; software OpenGL spends ms of the GUI thread per redraw) and the slowly changing statistics.
MAX_FPS = {"cloud": 12.0, "selectivity": 4.0}
SELF_DRAWN = {"reconstruction"}  # fed every worker result and redrawn on its own timer, not per drawn frame
REFRESHING = {"align_to_gt", "mc_samples", "selectivity_layer", "selectivity_unit", "post"}  # re-run the shown frame


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
        self.info: dict | None = None  # Source.describe() of the opened file
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
        self._pending_seek = 0
        self.quiet = False  # scripted runs (--quit-after, tests): errors go to the status bar only
        gui_gc.hold(self)  # before the worker thread exists: no collection on it from now on

        self.image_view = ImageDepthView()
        self.cloud_view = PointCloudView()
        self.selectivity_view = SelectivityView()
        self.comparison_view = ComparisonView()
        self.reconstruction_view = ReconstructionView()
        self.cloud_view.gl_view.paint_ms = self.draw_ms["cloud paint (GL)"]
        self.docks = {}
        left, right = QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, QtCore.Qt.DockWidgetArea.RightDockWidgetArea
        for key, title, view, area in (
            ("image", "Image and depth", self.image_view, left),
            ("cloud", "3D point cloud", self.cloud_view, right),
            ("selectivity", "Neuron selectivity", self.selectivity_view, left),
            ("comparison", "Model comparison", self.comparison_view, right),
            ("reconstruction", "Reconstruction", self.reconstruction_view, right),
        ):
            dock = QtWidgets.QDockWidget(title, self)
            dock.setObjectName(f"dock-{key}")
            dock.setWidget(view)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        self._default_layout()
        self.docks["reconstruction"].hide()  # opened from View > Reconstruction or --views; the default four stay

        self.transport = TransportBar(self)
        bar = QtWidgets.QToolBar("Transport", self)
        bar.setObjectName("toolbar-transport")
        bar.setMovable(False)
        bar.addWidget(self.transport)
        self.addToolBar(QtCore.Qt.ToolBarArea.BottomToolBarArea, bar)
        self.worker = Worker()
        self.model_bar = ModelBar(self.worker.state, self)
        self.addToolBar(QtCore.Qt.ToolBarArea.TopToolBarArea, self.model_bar)
        self.labels = StatusLabels(self.statusBar())
        self.recent_menu = build_menus(self)

        self.worker_thread = QtCore.QThread(self)
        self.worker_thread.setObjectName("endodepth-worker")
        self.worker.moveToThread(self.worker_thread)
        self.worker_thread.start()
        queued = QtCore.Qt.ConnectionType.QueuedConnection  # the worker emits from its own threads
        self.worker.opened.connect(self._on_opened, queued)
        self.worker.models_ready.connect(self._on_models_ready, queued)
        self.worker.result.connect(self._on_result, queued)
        self.worker.error.connect(self.show_error, queued)
        self.worker.notice.connect(self.show_notice, queued)
        self.worker.finished.connect(self._on_finished, queued)
        self.worker.state_changed.connect(self._on_state_changed, queued)
        self.worker.result.connect(self.reconstruction_view.offer_update, queued)  # every result, drawn or not
        self.worker.gt_arrived.connect(self.reconstruction_view.offer_update, queued)  # and those left for their GT
        for key, dock in self.docks.items():
            dock.visibilityChanged.connect(lambda visible, key=key: self._on_dock_visibility(key, visible))

        self.transport.seek_requested.connect(self._on_seek)
        self.transport.play_toggled.connect(self._on_play)
        state = self.worker.state
        self.model_bar.model_chosen.connect(lambda name: self.set_models([name]))
        self.model_bar.device_chosen.connect(lambda d: self.set_models(state.models, d) if state.models else None)
        self.transport.speed_changed.connect(self.worker.set_speed)
        self.transport.loop_changed.connect(self.worker.set_loop)
        self.transport.every_frame_changed.connect(lambda on: self.worker.set_realtime(not on))
        self.image_view.ranges.changed.connect(self._on_colouring_changed)
        self.image_view.specular_toggled.connect(lambda on: state.configure(specular=on))
        self.image_view.hovered.connect(lambda text: self.statusBar().showMessage(text, 4000))
        self.cloud_view.budget_changed.connect(lambda n: state.configure(max_points=int(n)))
        self.selectivity_view.layer_changed.connect(state.set_selectivity_layer)
        self.selectivity_view.unit_changed.connect(state.set_selectivity_unit)
        self.comparison_view.models_changed.connect(state.set_compared)

        self.stats_timer = QtCore.QTimer(self)
        self.stats_timer.timeout.connect(self._update_stats)
        self.stats_timer.start(500)
        self._restore_settings()

    # --- public API (menus, CLI, tests) ---------------------------------------------------

    def open_path(self, path: str | Path, layout: str | None = None) -> None:
        """Open a video, image folder or SCARED keyframe/dataset in the worker thread, a video with a
        stereo layout choice (None: detect; endodepth.io.stereo.LAYOUT_CHOICES)."""
        self.transport.set_playing(False)
        self.worker.pause()
        self.statusBar().showMessage(f"opening {path} ...")
        self.worker.open(str(path), layout)

    def set_models(self, models: list[str], device: str | None = None) -> None:
        """Primary model first; the comparison models run beside it (on `device`, default the current one)."""
        state = self.worker.state
        self.worker.set_models(models, device or state.device)
        self.model_bar.show_state(state)
        self.store.setValue("viewer", json.dumps(state.dump()))
        note = untrained_note(state.primary)
        if note:
            self.show_notice(note)

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
        self.labels.notice.setText(f"error: {message}")
        self.statusBar().showMessage(message, 10000)
        if not self.worker.playing and self.isVisible() and not self.quiet:
            QtWidgets.QMessageBox.warning(self, "EndoDepth", message)

    @QtCore.Slot(str)
    def show_notice(self, message: str) -> None:
        self.labels.notice.setText(message)
        self.statusBar().showMessage(message, 10000)

    def session(self) -> dict:
        """What a session file holds: the viewer state, the position and the views' options."""
        return {
            **self.worker.state.dump(),
            "position": self.transport.position,
            "image": self.image_view.options(),
            "cloud": self.cloud_view.options(),
            "selectivity": self.selectivity_view.options(),
            "reconstruction": self.reconstruction_view.options(),
            "measurements": [m.as_dict() for m in self.cloud_view.measurements],
        }

    def apply_session(self, data: dict) -> None:
        self.image_view.set_options(data.get("image", {}))
        self.cloud_view.set_options(data.get("cloud", {}))
        self.reconstruction_view.set_options(data.get("reconstruction", {}))
        self.cloud_view.set_measurements(data.get("measurements", []))
        self._pending_seek = int(data.get("position", 0))
        self.worker.state.load(data)
        self.model_bar.show_state(self.worker.state)
        if data.get("file"):
            self.open_path(data["file"], data.get("layout"))

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

    # --- worker signals -------------------------------------------------------------------

    @QtCore.Slot(object, int)
    def _on_opened(self, info: dict, generation: int) -> None:
        self.info, self.generation = info, generation
        self.last_update, self._pending, self.gui_dropped = None, None, 0
        count = info["frames"]
        self.transport.set_source(count, info["fps"])
        self.image_view.clear()
        self.cloud_view.clear()
        self.selectivity_view.clear()
        self.comparison_view.clear()
        self._offer_models()
        self.model_bar.show_state(self.worker.state)  # scaling to ground truth only where there is some
        self.setWindowTitle(f"EndoDepth - {info['name']}")
        self.statusBar().clearMessage()  # "opening ..." gives way to the source's line
        self.labels.show_source(info)
        fill_recent(self, prefs.add_recent(self.store, info["path"], info["layout"]))
        start, self._pending_seek = self._pending_seek, 0
        self.seek(min(start, count - 1))

    @QtCore.Slot(list, str, int)
    def _on_models_ready(self, names: list[str], device: str, generation: int) -> None:
        self.generation = generation
        self._pending, self.gui_dropped = None, 0
        self.labels.device.setText(f"device: {device}")
        self.model_bar.show_state(self.worker.state)
        self.selectivity_view.set_layers(*self.worker.available_layers(), note=self.worker.layers_note())
        self._offer_models(names)
        self.comparison_view.clear()
        self.cloud_view.clear()
        if self.info is None:
            return
        if self.transport.play_button.isChecked():
            self.worker.request(self.transport.position)
            self._on_play(True)
        else:
            self.seek(self.transport.position)

    def _offer_models(self, built: list[str] = ()) -> None:
        """The model bar and the comparison list offer the models that fit the open source (stereo ones
        only for a stereo source), besides those built (a checkpoint); before a source opens, all."""
        names = sorted(set(available()) | set(built) | set(self.worker.state.running))
        if self.info is not None:  # the worker has read the models' cards by now (not on this thread)
            names = offered(names, self.info["stereo_pair"])
            self.model_bar.offer(names)  # with the checkpoints built: a file as the main model stays shown
        self.comparison_view.set_available(names, self.worker.state.compared)

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
        source = result.frame.source  # said when it is not the opened source's (a dataset's keyframe)
        origin = f" ({source})" if source and self.info is not None and source != self.info["name"] else ""
        self.labels.frame.setText(f"frame {result.index}{origin}")
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
            if key not in views or key in SELF_DRAWN:
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
            self.cloud_view.show_depth(update.view)
        elif key == "selectivity" and update.selectivity is not None:
            self.selectivity_view.show_snapshot(update.selectivity, update.result.frame.rgb)
        elif key == "comparison" and update.comparison is not None:
            self.comparison_view.colormap_name = self.image_view.ranges.colormap_name
            self.comparison_view.show_snapshot(update.comparison)
        self._timed(key, start)

    def _draw_latest(self, key: str) -> None:
        """A throttled view catches up with the newest drawn frame."""
        update = self.last_update
        if update is not None and update.generation == self.generation and key in self.visible_views() - SELF_DRAWN:
            self._draw_view(key, update)

    def _on_dock_visibility(self, key: str, visible: bool) -> None:
        """A dock that appears shows the current frame at once; hidden docks are not kept up to date,
        and the worker skips the analyses of hidden ones (selectivity accumulates while shown)."""
        self.worker.state.set_analyses(self.visible_views())
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

    def _on_colouring_changed(self) -> None:
        ranges = self.image_view.ranges
        self.worker.state.configure(colormap=ranges.colormap_name, range_policy=ranges.policy_factory())

    def _on_state_changed(self, name: str) -> None:
        """A change of the viewer state: re-run the shown frame when it changes what is drawn."""
        if name in REFRESHING:
            self._refresh()

    def _refresh(self) -> None:
        """Re-run the shown frame after a change of options (playback picks it up by itself)."""
        if self.info is not None and not self.worker.playing:
            self.worker.request(self.transport.position)

    def _update_stats(self) -> None:
        self.labels.show_stats(self.worker.stats(), self.shown_window.rate("shown"), self.gui_dropped)

    # --- recent files, layout, drag and drop, settings, close ------------------------------

    def reset_layout(self) -> None:
        """Every dock back in its place (View > Reset layout)."""
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self.restoreState(self._initial_state)

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
        self.reconstruction_view.set_options(prefs.read_value(self.store, "reconstruction", {}) or {})
        saved = prefs.saved_state(self.store)
        saved.pop("models", None)  # the models to run are chosen at start (endodepth-gui --model, or saved_state)
        self.worker.state.load(saved)
        self.model_bar.show_state(self.worker.state)
        fill_recent(self, prefs.recent_files(self.store))
        self._on_colouring_changed()
        self.worker.state.configure(max_points=self.cloud_view.budget_box.value())

    def save_settings(self) -> None:
        self.store.setValue("geometry", self.saveGeometry())
        self.store.setValue("state", self.saveState())
        self.store.setValue("image", self.image_view.options())
        self.store.setValue("cloud", self.cloud_view.options())
        self.store.setValue("reconstruction", self.reconstruction_view.options())
        self.store.setValue("viewer", json.dumps(self.worker.state.dump()))
        self.store.sync()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the runner threads and the worker thread."""
        self.stats_timer.stop()
        stop_adapting(self)
        self.worker.stop(timeout=30.0)  # a slow model on the CPU may need seconds to finish its frame
        self.reconstruction_view.shutdown()  # after the worker: no result, late or not, reaches it after this
        self.worker_thread.quit()
        # no time limit: the slot in progress (opening a file, building a model: seconds on a loaded CPU)
        # always ends, and a QThread destroyed while it runs crashes the interpreter (a scripted run
        # that failed while its model was still loading did)
        self.worker_thread.wait()
        gui_gc.release(self)

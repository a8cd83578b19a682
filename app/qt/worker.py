"""The Qt worker: a QObject in its own QThread that wires the core together for the window.

It owns the ViewerState (re-emitted as `state_changed`), opens files and builds models in its
thread (models that need stereo frames only for stereo sources: on a mono one they give way to the
default model, with a notice), runs the core Runner, and on each result asks the core analyses for what the views draw
(scale to mm, DepthView, live selectivity, comparison). Results cross to the GUI thread as signals,
tagged with the generation of the pipeline that produced them so the window can drop stale ones.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field, fields

from PySide6 import QtCore

from endodepth.errors import EndoDepthError
from endodepth.io.detect import open_source
from endodepth.io.source import Source
from endodepth.io.stereo import is_stereo_source
from endodepth.models import DepthEstimator, available, create, spec
from endodepth.models.registry import resolve_device
from endodepth.pipeline.deferred_gt import DeferredGroundTruth, defers
from endodepth.pipeline.live_comparison import ComparisonSnapshot, comparison_snapshot
from endodepth.pipeline.live_selectivity import LiveSelectivity, SelectivitySnapshot, no_layers_note
from endodepth.pipeline.processing import DeviceFallback, FrameResult, Pipeline
from endodepth.pipeline.runner import Runner
from endodepth.pipeline.source_models import fit_to_source, stereo_models
from endodepth.pipeline.viewer_state import ViewerState
from endodepth.pipeline.views import DepthView, depth_view, scales_to_mm
from endodepth.threads import ensure_applied

DEFAULT_MODEL = "default"
FALLBACK_MODEL = "meter-xxs"
AWAITING_GT = 8  # shown frames kept while their ground truth is read, to analyse them when it arrives


@dataclass
class Update:
    """One displayed frame: the core FrameResult plus what the worker derived for the views."""

    result: FrameResult
    primary: str
    scale: dict[str, float] = field(default_factory=dict)      # model -> factor to mm (GT median scaling)
    selectivity: SelectivitySnapshot | None = None
    comparison: ComparisonSnapshot | None = None
    view: DepthView | None = None  # the primary model's depth as the main views draw it
    prepare_ms: float = 0.0        # time the worker spent deriving the above (inference thread)
    gt_pending: bool = False       # the frame has ground truth still being read: analyses come later

    @property
    def generation(self) -> int:
        """The generation of the pipeline that produced this frame."""
        return self.result.generation


def default_model_name() -> tuple[str, str | None]:
    """The bundled default model, or the fallback and a notice while the default is absent."""
    if DEFAULT_MODEL in available() and spec(DEFAULT_MODEL).weights_path is not None:
        return DEFAULT_MODEL, None
    return FALLBACK_MODEL, f"bundled model '{DEFAULT_MODEL}' not available: using '{FALLBACK_MODEL}'"


class Worker(QtCore.QObject):
    """Lives in a QThread; its methods and `state` may be used from the GUI thread (they queue or are thread-safe)."""

    opened = QtCore.Signal(object, int)          # Source.describe() dict (+ stereo_pair, layout), generation
    models_ready = QtCore.Signal(list, str, int)  # model names, device, generation
    result = QtCore.Signal(object)               # Update
    gt_arrived = QtCore.Signal(object)           # Update of a frame shown before its ground truth, now analysed
    state_changed = QtCore.Signal(str)           # name of the ViewerState field that changed
    error = QtCore.Signal(str)
    notice = QtCore.Signal(str)
    finished = QtCore.Signal()

    _open = QtCore.Signal(str, object)
    _build = QtCore.Signal()

    def __init__(self) -> None:
        super().__init__()
        self.state = ViewerState()
        self.selectivity = LiveSelectivity()
        self._runner = Runner(on_result=self._on_result, on_error=self._on_error, on_finished=self.finished.emit)
        self._source: Source | None = None
        self._cache: dict[tuple[str, str], DepthEstimator] = {}
        self._models: dict[str, DepthEstimator] = {}
        self._built: tuple[tuple[str, ...], str] | None = None
        self._gt: DeferredGroundTruth | None = None
        self._awaiting: OrderedDict[int, FrameResult] = OrderedDict()  # shown before their ground truth
        self._late: dict[str, object] = {}  # analyses of frames whose ground truth came after they were shown
        self._held_scale: dict[str, float] = {}  # the last ground-truth scale, for frames still waiting
        self._shown: Update | None = None  # the last frame handed to the window
        self._lock = threading.Lock()
        self.threads = ensure_applied()
        self._open.connect(self._do_open)
        # queued even from the worker's own thread: a build asked for while opening runs after `opened`
        self._build.connect(self._do_models, QtCore.Qt.ConnectionType.QueuedConnection)
        self.state.listeners.append(self._on_state)

    # --- requests from the GUI --------------------------------------------------------

    def open(self, path: str, layout: str | None = None) -> None:
        """Open a file or folder with a stereo layout choice (None: detect; endodepth.io.stereo.LAYOUT_CHOICES)
        in the worker thread; `opened` follows, or `error`."""
        self._open.emit(str(path), layout)

    def set_models(self, names: list[str], device: str) -> None:
        """Run these models (first = primary) beside the compared ones on `device`; `models_ready` follows."""
        self.state.set_models(names, device)
        self._build.emit()

    def request(self, index: int) -> None:
        """Show frame `index` (the newest request wins)."""
        self._runner.request(index)

    def play(self, speed: float, realtime: bool, loop: bool) -> None:
        """Play from the current frame."""
        self._runner.play(speed=speed, realtime=realtime, loop=loop)

    def pause(self) -> None:
        """Stop playing; the frame on display stays."""
        self._runner.pause()

    def set_speed(self, speed: float) -> None:
        """Playback speed factor."""
        self._runner.set_speed(speed)

    def set_loop(self, loop: bool) -> None:
        """Start over at the end instead of stopping."""
        self._runner.set_loop(loop)

    def set_realtime(self, realtime: bool) -> None:
        """Real-time (drop late frames) or every-frame playback."""
        self._runner.set_realtime(realtime)

    @property
    def playing(self) -> bool:
        """True while playing."""
        return self._runner.playing

    def stats(self) -> dict:
        """The Runner's live numbers (Runner.stats), the thread budget and whether ground truth is
        still being read (indexed or decoded)."""
        gt = self._gt
        return {**self._runner.stats(), "thread_budget": self.threads.describe(), "threads": self.threads.short(),
                "gt_pending": gt is not None and gt.pending}

    def frame_count(self) -> int:
        """Frames of the opened source (0 before one is open)."""
        return len(self._source) if self._source is not None else 0

    def model(self, name: str) -> DepthEstimator:
        """A model the worker runs, by name."""
        return self._models[name]

    def available_layers(self) -> tuple[list[str], str | None]:
        """The primary model's layers for the selectivity view, and the one being accumulated."""
        model = self._models.get(self.state.primary)
        return (list(model.default_layers) if model is not None else []), self.state.selectivity_layer

    def layers_note(self) -> str:
        """What the selectivity view says when the primary model has no layers."""
        return no_layers_note(bool(getattr(self._models.get(self.state.primary), "needs_stereo", False)))

    def stop(self, timeout: float = 5.0) -> None:
        """End the Runner's threads (waiting up to `timeout` s for the frame in flight) and the
        ground-truth reader."""
        self._runner.stop(timeout)
        self._close_gt()

    def _close_gt(self) -> None:
        gt, self._gt = self._gt, None
        if gt is not None:
            gt.close()

    # --- state changes (the caller's thread) -------------------------------------------

    def _on_state(self, name: str) -> None:
        """Apply a ViewerState change to the running core, then re-emit it."""
        pipeline = self._runner.pipeline
        if name in ("models", "device", "compared", "stereo_source", "ground_truth", "analyses") and self.state.models:
            self._build.emit()
        elif name == "mc_samples":
            for model in self._models.values():
                model.mc_samples = self.state.mc_samples
        elif name == "selectivity_layer":
            self.selectivity.set_layer(self.state.selectivity_layer)
            if pipeline is not None:
                pipeline.layers = self._layers()
        elif name == "selectivity_unit":
            self.selectivity.set_unit(self.state.selectivity_unit)
        elif name == "post" and pipeline is not None:
            post = self.state.post
            pipeline.configure(**{f.name: getattr(post, f.name) for f in fields(post)})
        self.state_changed.emit(name)

    # --- worker-thread slots -----------------------------------------------------------

    @QtCore.Slot(str, object)
    def _do_open(self, path: str, layout: str | None) -> None:
        try:
            source = open_source(path, stereo=layout)
            if len(source) == 0:
                raise EndoDepthError(f"{path}: no frames")
            stereo = is_stereo_source(source)
            stereo_models()  # cached (endodepth-gui reads the cards before playback)
        except Exception as exc:
            self.error.emit(_message(exc))
            return
        old, self._source = self._source, source
        if not stereo:  # models that need stereo never run on a mono source (they are replaced below)
            self._models = {n: m for n, m in self._models.items() if not m.needs_stereo}
            self._built = None
        old_gt, self._gt = self._gt, DeferredGroundTruth(source, self._on_gt_ready) if defers(source) else None
        generation = self._install()
        if old_gt is not None:
            old_gt.close()
        if old is not None:
            old.close()
        self.state.set_file(path, layout, stereo, bool(source.has_ground_truth))
        self._fit_models()
        self.opened.emit({**source.describe(), "stereo_pair": stereo, "layout": layout}, generation)

    def _fit_models(self) -> bool:
        """Replace models that need stereo frames on a mono source (one notice); True when it did."""
        if self._source is None:
            return False
        state = self.state
        models, compared, notice = fit_to_source(state.models, state.compared, state.stereo_source,
                                                 default_model_name()[0])
        if notice is None:
            return False
        self.notice.emit(notice)
        state.set_compared(compared)
        state.set_models(models)
        return True

    @QtCore.Slot()
    def _do_models(self) -> None:
        if self._fit_models():
            return  # the changed models ask for another build
        names, requested = self.state.running, self.state.device
        try:
            device = str(resolve_device(requested))
            if self._built == (tuple(names), device):
                return
            models = {name: self._model(name, device) for name in names}
            self._cache = {(n, device): m for n, m in models.items()}  # models no longer used are freed
        except Exception as exc:
            self.error.emit(_message(exc))
            return
        self._models, self._built = models, (tuple(names), device)
        for model in models.values():
            model.mc_samples = self.state.mc_samples
        layers = list(models[self.state.primary].default_layers)
        if self.state.selectivity_layer not in layers:
            self.state.set_selectivity_layer(layers[-1] if layers else None)
        generation = self._install()
        self.models_ready.emit(list(models), device, generation)

    def _model(self, name: str, device: str) -> DepthEstimator:
        key = (name, device)
        if key not in self._cache:
            self._cache[key] = create(name, device=device)
        return self._cache[key]

    def _install(self) -> int:
        """A new Pipeline for the current source and models; the Runner's generation bumps."""
        self.selectivity.reset()
        with self._lock:
            self._awaiting.clear()
            self._late.clear()
            self._held_scale.clear()
            self._shown = None
        if self._source is None or not self._models:
            return self._runner.set_pipeline(None)
        source = self._source if self._gt is None else self._gt.source
        pipeline = Pipeline(source, self._models, layers=self._layers(), post=self.state.post)
        return self._runner.set_pipeline(pipeline)

    def _layers(self) -> dict[str, tuple[str, ...]]:
        layer = self.state.selectivity_layer
        return {self.state.primary: (layer,)} if layer else {}

    # --- Runner callbacks (inference thread) -------------------------------------------

    def _on_result(self, result: FrameResult) -> None:
        """Derive everything the views draw here, off the GUI thread, then hand it over. A frame
        whose ground truth is still being read is shown at once (with the last ground-truth scale)
        and analysed when its ground truth arrives (`_on_gt_ready`)."""
        start = time.perf_counter()
        update = Update(result, self.state.primary)
        update.gt_pending = self._gt is not None and not self._gt.attach(result.frame)
        if update.gt_pending:
            with self._lock:
                self._awaiting[result.index] = result
                while len(self._awaiting) > AWAITING_GT:
                    self._awaiting.popitem(last=False)
        self._prepare(update)
        update.prepare_ms = 1e3 * (time.perf_counter() - start)
        with self._lock:
            self._shown = update
        self.result.emit(update)

    def _prepare(self, update: Update, view: bool = True) -> None:
        """Scale, analyses (unless the ground truth is pending) and, with `view`, the primary model's view."""
        result, primary, state = update.result, update.primary, self.state
        if primary not in result.results:
            return
        try:
            update.scale = scales_to_mm(result, state.align_to_gt)
            with self._lock:
                if update.gt_pending:
                    update.scale = {**{k: v for k, v in self._held_scale.items() if state.align_to_gt},
                                    **update.scale}
                elif result.frame.gt_depth is not None:
                    self._held_scale = dict(update.scale)
            if not update.gt_pending:
                if "selectivity" in state.analyses:
                    update.selectivity = self.selectivity.update(result, primary, update.scale.get(primary))
                if "comparison" in state.analyses:
                    update.comparison = comparison_snapshot(result, state.compared, state.post.colormap,
                                                            state.reference)
        except Exception as exc:
            self.error.emit(f"analysis failed on frame {result.index}: {_message(exc)}")
            traceback.print_exc()
            update.selectivity = update.comparison = None
        self._take_late(update)
        if view:
            update.view = depth_view(result, primary, update.scale.get(primary))

    def _take_late(self, update: Update) -> None:
        """Put the analyses of earlier frames whose ground truth came late on `update`: the newest
        selectivity, and every comparison's errors (the newest comparison is drawn)."""
        with self._lock:
            late, self._late = self._late, {}
        update.selectivity = update.selectivity or late.get("selectivity")
        comparisons = late.get("comparison", [])
        if update.comparison is None and comparisons:
            update.comparison = comparisons.pop()
        if update.comparison is not None:
            for snap in comparisons:
                update.comparison.earlier_metrics[snap.frame] = snap.metrics

    def _on_gt_ready(self, index: int, depth) -> None:
        """Ground truth of a shown frame arrived (reader thread): analyse that frame now. The frame
        on display while paused is drawn again at once; during playback the analyses ride along
        with the next frame."""
        with self._lock:
            result = self._awaiting.pop(index, None)
        if result is None or result.generation != self._runner.generation:
            return
        result.frame.gt_depth = depth
        update = Update(result, self.state.primary)
        shown_now = not self._runner.playing and self._runner.position == index
        # during playback the frame is long gone: only its analyses ride along, so no view is made
        # (the CPU it took, on this thread, was the display's)
        self._prepare(update, view=shown_now)
        self.gt_arrived.emit(update)
        if shown_now:
            self.result.emit(update)
            return
        with self._lock:
            if update.selectivity is not None:
                self._late["selectivity"] = update.selectivity
            if update.comparison is not None:
                self._late.setdefault("comparison", []).append(update.comparison)
            shown = self._shown
        if not self._runner.playing and shown is not None and shown.generation == result.generation:
            again = dataclasses.replace(shown, selectivity=None, comparison=None)  # no next frame to ride on
            self._take_late(again)
            self.result.emit(again)

    def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, DeviceFallback):
            self.notice.emit(str(exc))
        else:
            self.error.emit(_message(exc))


def _message(exc: BaseException) -> str:
    """One line for the status bar or a dialog: ours as they are, others with their type."""
    if isinstance(exc, EndoDepthError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"

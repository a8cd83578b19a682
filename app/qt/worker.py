"""The Qt worker: a QObject in its own QThread that opens files, builds models and wraps the core Runner.

Opening a source and creating networks run in the worker thread; decoding and inference run on the
Runner's threads. Results cross to the GUI thread as signals carrying numpy arrays, tagged with the
generation of the pipeline that produced them so the window can drop results of a replaced file/model.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from dataclasses import dataclass, field

import numpy as np
from PySide6 import QtCore

from endodepth.analysis.comparison import GT, compare
from endodepth.analysis.depth import median_scale
from endodepth.analysis.selectivity import SelectivityAccumulator, depth_bin_edges, sort_responses, unit_map
from endodepth.errors import EndoDepthError
from endodepth.io.detect import open_source
from endodepth.io.source import Source
from endodepth.models import DepthEstimator, available, create, spec
from endodepth.models.registry import resolve_device
from endodepth.pipeline.runner import DeviceFallback, FrameResult, Pipeline, PostOptions, Runner
from endodepth.qt.comparison_view import ComparisonSnapshot
from endodepth.qt.depth_display import DepthView, depth_view, range_policy_factory
from endodepth.qt.selectivity_view import MAP_WIDTH, SelectivitySnapshot, activation_overlay
from endodepth.vis.colormap import colorize

DEFAULT_MODEL = "default"
FALLBACK_MODEL = "meter-xxs"
SELECTIVITY_BINS = 32
SELECTIVITY_SIZE = (96, 120)
COMPARISON_WIDTH = 480  # pixels across of each comparison panel's image (the panels are small)


def display_step(width: int, max_width: int) -> int:
    """The subsampling step that brings an image `width` pixels across to at most `max_width`."""
    return max(1, -(-int(width) // int(max_width)))


@dataclass
class SourceInfo:
    """What the window needs to know about an opened file."""

    path: str
    name: str
    kind: str
    count: int
    fps: float
    size: tuple[int, int]
    has_ground_truth: bool
    intrinsics_assumed: bool


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

    @property
    def generation(self) -> int:
        return self.result.generation


def default_model_name() -> tuple[str, str | None]:
    """The bundled default model, or the fallback and a notice while the default is absent."""
    if DEFAULT_MODEL in available() and spec(DEFAULT_MODEL).weights_path is not None:
        return DEFAULT_MODEL, None
    return FALLBACK_MODEL, f"bundled model '{DEFAULT_MODEL}' not available: using '{FALLBACK_MODEL}'"


class Worker(QtCore.QObject):
    """Lives in a QThread; control methods may be called from the GUI thread (they queue or are thread-safe)."""

    opened = QtCore.Signal(object, int)          # SourceInfo, generation
    models_ready = QtCore.Signal(list, str, int)  # model names, device, generation
    result = QtCore.Signal(object)               # Update
    error = QtCore.Signal(str)
    notice = QtCore.Signal(str)
    finished = QtCore.Signal()

    _open = QtCore.Signal(str)
    _models = QtCore.Signal(list, str)

    def __init__(self) -> None:
        super().__init__()
        self.runner = Runner(on_result=self._on_result, on_error=self._on_error, on_finished=self.finished.emit)
        self.source: Source | None = None
        self.model_names: list[str] = []
        self.device = "cpu"
        self.primary = ""
        self.compare: list[str] = []
        self.align_to_gt = True
        self.mc_samples = 1
        self.analyses = {"selectivity", "comparison"}  # computed only while their docks are shown
        self._cache: dict[tuple[str, str], DepthEstimator] = {}
        self._models_by_name: dict[str, DepthEstimator] = {}
        self._post = PostOptions(colormap="turbo", range_policy=range_policy_factory("global"))
        self._layer: str | None = None
        self._unit = -1
        self._accumulator: SelectivityAccumulator | None = None
        self._selectivity_unit = "relative"
        self._lock = QtCore.QMutex()
        self._open.connect(self._do_open)
        self._models.connect(self._do_models)

    # --- requests from the GUI (queued into the worker thread) ----------------------

    def open(self, path: str) -> None:
        """Open a file or folder (in the worker thread); `opened` follows, or `error`."""
        self._open.emit(str(path))

    def set_models(self, names: list[str], device: str) -> None:
        """Run these models (first = primary) on `device`; `models_ready` follows, or `error`."""
        self._models.emit(list(names), device)

    # --- thread-safe controls forwarded to the Runner --------------------------------

    def request(self, index: int) -> None:
        self.runner.request(index)

    def play(self, speed: float, realtime: bool, loop: bool) -> None:
        self.runner.play(speed=speed, realtime=realtime, loop=loop)

    def pause(self) -> None:
        self.runner.pause()

    def configure(self, **changes) -> None:
        """Change the pipeline's post-processing (colormap, range policy, point budget, specular)."""
        self._post = dataclasses.replace(self._post, **changes)
        pipeline = self.runner.pipeline
        if pipeline is not None:
            pipeline.configure(**changes)

    def set_selectivity(self, layer: str | None = None, unit: int | None = None) -> None:
        """Layer to accumulate (restarts accumulation) and unit whose map is shown (-1: most selective)."""
        with QtCore.QMutexLocker(self._lock):
            if layer is not None and layer != self._layer:
                self._layer = layer
                self._accumulator = None
                self._rebuild_pipeline_layers()
            if unit is not None:
                self._unit = int(unit)

    def set_mc_samples(self, samples: int) -> None:
        """Monte-Carlo dropout passes per frame (1: off); models with dropout then give an uncertainty."""
        self.mc_samples = max(1, int(samples))
        for model in self._models_by_name.values():
            model.mc_samples = self.mc_samples

    def stop(self, timeout: float = 5.0) -> None:
        """End the Runner's threads (waiting up to `timeout` s for the frame in flight)."""
        self.runner.stop(timeout)

    # --- worker-thread slots -----------------------------------------------------------

    @QtCore.Slot(str)
    def _do_open(self, path: str) -> None:
        try:
            source = open_source(path)
            if len(source) == 0:
                raise EndoDepthError(f"{path}: no frames")
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, the app keeps running
            self.error.emit(_message(exc))
            return
        old, self.source = self.source, source
        generation = self._install()
        if old is not None:
            old.close()
        self.opened.emit(_info(source), generation)

    @QtCore.Slot(list, str)
    def _do_models(self, names: list[str], device: str) -> None:
        try:
            device = str(resolve_device(device))
            models = {name: self._model(name, device) for name in dict.fromkeys(names)}
            self._cache = {(n, device): m for n, m in models.items()}  # models no longer used are freed
        except Exception as exc:  # noqa: BLE001
            self.error.emit(_message(exc))
            return
        self.model_names, self.device = list(models), device
        self.primary = self.model_names[0]
        self._models_by_name = models
        self.set_mc_samples(self.mc_samples)
        layers = list(models[self.primary].default_layers)
        with QtCore.QMutexLocker(self._lock):
            if self._layer not in layers:
                self._layer = layers[-1] if layers else None
            self._accumulator = None
        generation = self._install()
        self.models_ready.emit(self.model_names, device, generation)

    def available_layers(self) -> tuple[list[str], str | None]:
        """The primary model's layers for the selectivity view, and the one being accumulated."""
        model = self._models_by_name.get(self.primary)
        return (list(model.default_layers) if model is not None else []), self._layer

    def _model(self, name: str, device: str) -> DepthEstimator:
        key = (name, device)
        if key not in self._cache:
            self._cache[key] = create(name, device=device)
        return self._cache[key]

    def _install(self) -> int:
        """A new Pipeline for the current source and models; the Runner's generation bumps."""
        models = self._models_by_name
        if self.source is None or not models:
            return self.runner.set_pipeline(None)
        with QtCore.QMutexLocker(self._lock):
            self._accumulator = None
        pipeline = Pipeline(self.source, models, layers=self._layers(), post=self._post)
        return self.runner.set_pipeline(pipeline)

    def _layers(self) -> dict[str, list[str]]:
        return {self.primary: [self._layer]} if self._layer else {}

    def _rebuild_pipeline_layers(self) -> None:
        pipeline = self.runner.pipeline
        if pipeline is not None:
            pipeline.layers = {k: tuple(v) for k, v in self._layers().items()}

    # --- Runner callbacks (inference thread) -------------------------------------------

    def _on_result(self, result: FrameResult) -> None:
        """Derive everything the views draw here, off the GUI thread, then hand it over."""
        start = time.perf_counter()
        update = Update(result, self.primary)
        if self.primary in result.results:
            try:
                update.scale = self._scales(result)
                analyses = self.analyses
                if "selectivity" in analyses:
                    update.selectivity = self._selectivity(result, update.scale)
                if "comparison" in analyses:
                    update.comparison = self._comparison(result)
            except Exception as exc:  # noqa: BLE001 - a failing analysis must not stop playback
                self.error.emit(f"analysis failed on frame {result.index}: {_message(exc)}")
                traceback.print_exc()
                update.selectivity = update.comparison = None
            update.view = depth_view(result, self.primary, update.scale.get(self.primary))
        update.prepare_ms = 1e3 * (time.perf_counter() - start)
        self.result.emit(update)

    def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, DeviceFallback):
            self.device = "cpu"
            self.notice.emit(str(exc))
        else:
            self.error.emit(_message(exc))

    def _scales(self, result: FrameResult) -> dict[str, float]:
        """Per-model factor to millimetres: 1 for metric models, GT median ratio for relative ones."""
        gt = result.frame.gt_depth
        scales = {}
        for name, res in result.results.items():
            if res.kind == "metric-mm":
                scales[name] = 1.0
            elif self.align_to_gt and gt is not None:
                depth = result.depth[name]
                valid = result.valid & np.isfinite(gt) & (gt > 0) & np.isfinite(depth) & (depth > 0)
                if valid.sum() > 16:
                    scales[name] = median_scale(depth, gt, valid)[1]
        return scales

    def _selectivity(self, result: FrameResult, scales: dict[str, float]) -> SelectivitySnapshot | None:
        with QtCore.QMutexLocker(self._lock):
            layer, unit_choice = self._layer, self._unit
            res = result.results.get(self.primary)
            if layer is None or res is None or layer not in res.features:
                return None
            features = res.features[layer]
            if features.ndim != 3:
                return None
            gt = result.frame.gt_depth
            if gt is not None:
                depth, unit = np.where(result.valid, gt, np.nan), "mm"
            else:
                depth = np.where(result.valid, result.depth[self.primary] * scales.get(self.primary, 1.0), np.nan)
                unit = "mm" if self.primary in scales else "relative"
            if self._accumulator is None:
                finite = depth[np.isfinite(depth) & (depth > 0)]
                if finite.size < 16:
                    return None
                lo, hi = np.percentile(finite, (1, 99))
                edges = depth_bin_edges(SELECTIVITY_BINS, 0.8 * lo, 1.25 * hi, "uniform")
                self._accumulator = SelectivityAccumulator(edges, analysis_size=SELECTIVITY_SIZE)
                self._selectivity_unit = unit
            acc = self._accumulator
            acc.update({layer: features}, depth)
            responses = acc.responses(layer)
            matrix, order = sort_responses(responses)
            ds, _, mean = acc.selectivity(layer)
            shown = int(np.argmax(ds)) if unit_choice < 0 or unit_choice >= len(ds) else unit_choice
            step = display_step(result.frame.rgb.shape[1], MAP_WIDTH)
            frame = np.ascontiguousarray(result.frame.rgb[::step, ::step])
            activation = unit_map(features, shown, frame.shape[:2])
            return SelectivitySnapshot(layer, matrix, order, ds, mean, acc.frames, acc.bin_edges,
                                       self._selectivity_unit, activation, shown, frame,
                                       activation_overlay(activation))

    def _comparison(self, result: FrameResult) -> ComparisonSnapshot | None:
        names = [n for n in self.compare if n in result.results]
        if len(names) < 2:
            return None
        gt = result.frame.gt_depth
        comp = compare({n: result.results[n] for n in names}, gt=gt, valid=result.valid)
        cmap = self._post.colormap or "turbo"
        lo, hi = comp.range
        step = display_step(result.frame.rgb.shape[1], COMPARISON_WIDTH)
        shown = comp.valid[::step, ::step]
        colors = {n: colorize(d[::step, ::step], cmap, lo, hi, invalid=~shown) for n, d in comp.aligned.items()}
        if gt is not None:
            colors[GT] = colorize(gt[::step, ::step], cmap, lo, hi, invalid=~shown)
        diff_model = next((n for n in names if n in comp.difference), None)
        diff = comp.difference.get(diff_model)
        diff_colors = diff_mean = None
        if diff is not None:
            small = diff[::step, ::step]
            diff_colors = colorize(small, "magma", *comp.difference_range, invalid=~np.isfinite(small))
            diff_mean = float(np.nanmean(diff)) if np.isfinite(diff).any() else float("nan")
        return ComparisonSnapshot(result.index, names, comp.reference, comp.unit, colors, diff_model, diff,
                                  diff_colors, comp.range, comp.difference_range, comp.metrics, diff_mean)


def _info(source: Source) -> SourceInfo:
    return SourceInfo(str(source.path), source.name, source.kind, len(source), float(source.fps or 25.0),
                      tuple(source.size), bool(source.has_ground_truth), bool(source.intrinsics_assumed))


def _message(exc: BaseException) -> str:
    """One line for the status bar or a dialog: ours as they are, others with their type."""
    if isinstance(exc, EndoDepthError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"

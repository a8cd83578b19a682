"""The frame pipeline (decode -> infer each model -> post-process) and the threads that run it.

`Pipeline.process(i)` does one frame synchronously (CLI, tests, exports). `Runner` runs a
pipeline on two plain Python threads -- a decode thread and an inference thread joined by
a bounded queue, so decoding overlaps inference -- and hands results to callbacks. It knows
nothing of Qt: the GUI wraps it and re-emits the callbacks as signals.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from endodepth.analysis.depth import as_depth
from endodepth.errors import EndoDepthError
from endodepth.models.base import DepthEstimator, DepthResult
from endodepth.frame import Frame
from endodepth.pipeline.stats import RollingWindow, summarize
from endodepth.vis.backproject import backproject, stride_for_budget
from endodepth.vis.colormap import PercentileRange, RangePolicy, colorize
from endodepth.vis.masks import fov_mask, specular_mask


class FrameError(EndoDepthError):
    """One frame could not be decoded or inferred; the runner goes on with the next."""

    def __init__(self, index: int, stage: str, error: BaseException) -> None:
        self.index, self.stage, self.error = index, stage, error
        super().__init__(f"frame {index}: {stage} failed: {error}")


class DeviceFallback(RuntimeWarning):
    """A notice, not a failure: the GPU ran out of memory and the models moved to the CPU."""


@dataclass(frozen=True)
class PostOptions:
    """What the worker prepares for the views besides depth, so the GUI thread stays light.

    `max_points`: back-project each model's depth with the stride that keeps at most this
    many points (None: no clouds). `fov`/`specular`: compute those masks (used to leave
    pixels out of clouds). `colormap`: colorize each model's depth with its range policy
    (None: leave colouring to the view). `range_policy`: factory of one policy per model.
    """

    max_points: int | None = 50_000
    fov: bool = True
    specular: bool = False
    colormap: str | None = None
    range_policy: Callable[[], RangePolicy] = PercentileRange


@dataclass
class FrameResult:
    """Everything computed for one frame.

    `results`: each model's DepthResult, by model name. `timings`: milliseconds of
    "decode_ms", "infer_ms" (all models), "infer_ms/<model>", "post_ms" and, from the
    Runner, "latency_ms" (decode start to delivery). `generation`:
    the runner's generation when the frame was processed (compare with
    `Runner.generation` to ignore results of a file/model that was replaced).
    `depth`: depth (never inverse depth) per model. `valid`: pixels inside the field of
    view and off highlights. `clouds`: per model (points (N,3) float32, colours (N,3)
    uint8) in the camera frame. `colors`/`ranges`: colorized depth and its (lo, hi) when
    PostOptions.colormap is set.
    """

    frame: Frame
    results: dict[str, DepthResult]
    timings: dict[str, float]
    generation: int = 0
    depth: dict[str, np.ndarray] = field(default_factory=dict)
    valid: np.ndarray | None = None
    fov: np.ndarray | None = None
    specular: np.ndarray | None = None
    clouds: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    colors: dict[str, np.ndarray] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def index(self) -> int:
        """Index of the frame in its source."""
        return self.frame.index


def _check_speed(speed: float) -> float:
    speed = float(speed)
    if not speed > 0:
        raise ValueError(f"playback speed must be positive, got {speed}")
    return speed


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError)


class Pipeline:
    """A source and the models to run on it: `process(i)` = `infer(decode(i))`.

    `models` is a list of DepthEstimators (keyed by their `name`) or a {name: model} dict.
    `layers` asks for features: one list for every model, or {model name: layers}.
    `on_notice` receives DeviceFallback when CUDA runs out of memory.
    """

    def __init__(
        self, source, models: Sequence[DepthEstimator] | Mapping[str, DepthEstimator],
        layers: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
        post: PostOptions | None = None,
    ) -> None:
        self.source = source
        self.models = dict(models) if isinstance(models, Mapping) else {m.name: m for m in models}
        if isinstance(layers, Mapping):
            self.layers = {k: tuple(v) for k, v in layers.items()}
        else:
            self.layers = {k: tuple(layers or ()) for k in self.models}
        self.post = post or PostOptions()
        self.on_notice: Callable[[Exception], None] | None = None
        self._ranges: dict[str, RangePolicy] = {}

    def __len__(self) -> int:
        return len(self.source)

    @property
    def fps(self) -> float:
        """Frame rate of the source (25 when it has none)."""
        fps = float(getattr(self.source, "fps", 0.0) or 0.0)
        return fps if fps > 0 else 25.0

    @property
    def device(self) -> str:
        """Device of the first model ("cpu" without models)."""
        return str(next(iter(self.models.values())).device) if self.models else "cpu"

    def configure(self, **changes) -> None:
        """Change PostOptions fields (e.g. colormap, max_points); range policies restart."""
        self.post = dataclasses.replace(self.post, **changes)
        self._ranges = {}

    def decode(self, index: int) -> Frame:
        """The frame at `index` of the source."""
        return self.source.frame(index)

    def process(self, index: int) -> FrameResult:
        """Decode, infer and post-process one frame."""
        t0 = time.perf_counter()
        frame = self.decode(index)
        decode_ms = (time.perf_counter() - t0) * 1e3
        result = self.infer(frame)
        result.timings["decode_ms"] = decode_ms
        return result

    def infer(self, frame: Frame) -> FrameResult:
        """Run every model on a decoded frame, then post-process."""
        return self.post_process(self.predict(frame))

    def predict(self, frame: Frame) -> FrameResult:
        """Every model's answer for a decoded frame (no post-processing yet)."""
        timings: dict[str, float] = {}
        results: dict[str, DepthResult] = {}
        t0 = time.perf_counter()
        for name, model in self.models.items():
            t = time.perf_counter()
            results[name] = self._predict(model, frame, self.layers.get(name, ()))
            timings[f"infer_ms/{name}"] = (time.perf_counter() - t) * 1e3
        timings["infer_ms"] = (time.perf_counter() - t0) * 1e3
        return FrameResult(frame, results, timings)

    def post_process(self, out: FrameResult) -> FrameResult:
        """Add what the views need to a predicted frame: depth, masks, clouds, colours."""
        t0 = time.perf_counter()
        post, rgb = self.post, out.frame.rgb
        mask = out.frame.mask
        valid = np.ones(rgb.shape[:2], dtype=bool) if mask is None else mask.astype(bool)
        if post.fov:
            out.fov = fov_mask(rgb)
            valid &= out.fov
        if post.specular:
            out.specular = specular_mask(rgb)
            valid &= ~out.specular
        out.valid = valid
        for name, res in out.results.items():
            depth = as_depth(res.output, res.kind)
            out.depth[name] = depth
            if post.max_points:
                stride = stride_for_budget(*depth.shape, post.max_points)
                out.clouds[name] = backproject(depth, out.frame.K, valid, stride, rgb)
            if post.colormap:
                policy = self._ranges.setdefault(name, post.range_policy())
                lo, hi = policy.update(depth, valid)
                out.ranges[name] = (lo, hi)
                out.colors[name] = colorize(depth, post.colormap, lo, hi, invalid=~valid)
        out.timings["post_ms"] = (time.perf_counter() - t0) * 1e3
        return out

    def to_cpu(self) -> None:
        """Move every model to the CPU and release cached GPU memory."""
        for model in self.models.values():
            model.to("cpu")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _predict(self, model: DepthEstimator, frame: Frame, layers: tuple[str, ...]) -> DepthResult:
        try:
            return model.predict_frame(frame, layers)
        except Exception as exc:
            if not _is_oom(exc) or model.device.type != "cuda":
                raise
        self.to_cpu()
        if self.on_notice is not None:
            self.on_notice(DeviceFallback("CUDA ran out of memory; the models now run on the CPU"))
        return model.predict_frame(frame, layers)


@dataclass
class _Item:
    index: int
    ticket: int
    generation: int
    due: float
    frame: Frame | None = None
    decode_ms: float = 0.0
    started: float = 0.0


class Runner:
    """Runs a Pipeline on a decode thread and an inference thread.

    Modes: real-time (`realtime=True`): frames fall due on a clock at fps*speed; while
    the worker is busy the decoder waits and decodes, just in time, the frame that falls
    due when the worker is free; it skips frames that are already late and the worker
    keeps only the newest decoded frame, so the display never lags; skipped frames are
    counted in `stats()["dropped"]`. Every-frame (`realtime=False`): all frames in
    order, paced at most at fps*speed (speed=math.inf: as fast as possible).

    Callbacks run on the worker threads and must return quickly (a Qt wrapper emits a
    signal): `on_result(FrameResult)`, `on_error(Exception)` -- a FrameError for a frame
    that failed, or a DeviceFallback notice --, `on_finished()` when playback reaches the
    end without loop. After `set_pipeline` returns, no result of the old pipeline is
    delivered; queued signals may still carry one, so compare `FrameResult.generation`
    with `generation`.
    """

    def __init__(
        self, pipeline: Pipeline | None = None, *,
        on_result: Callable[[FrameResult], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        realtime: bool = True, speed: float = 1.0, loop: bool = False, queue_size: int = 2,
    ) -> None:
        _check_speed(speed)
        self.on_result = on_result
        self.on_error = on_error
        self.on_finished = on_finished
        self._cv = threading.Condition()
        self._deliver = threading.RLock()
        self._pipeline: Pipeline | None = None
        self._generation = 0
        self._ticket = 0
        self._queue: deque[_Item] = deque()
        self._queue_size = max(1, int(queue_size))
        self._request: int | None = None
        self._playing = False
        self._realtime = bool(realtime)
        self._speed = float(speed)
        self._loop = bool(loop)
        self._next = 0
        self._anchor = (0.0, 0)
        self._last_start = -math.inf
        self._busy_since: float | None = None
        self._decoding: Pipeline | None = None
        self._position = -1
        self._dropped = 0
        self._closing = False
        self._threads: dict[str, threading.Thread] = {}
        self._window = RollingWindow(1.0)
        if pipeline is not None:
            self.set_pipeline(pipeline)

    # --- control (any thread) -------------------------------------------------------

    @property
    def generation(self) -> int:
        """Bumped by every `set_pipeline`; carried by each FrameResult."""
        return self._generation

    @property
    def pipeline(self) -> Pipeline | None:
        """The pipeline being run."""
        return self._pipeline

    @property
    def position(self) -> int:
        """Index of the last delivered frame (-1 before the first)."""
        return self._position

    @property
    def playing(self) -> bool:
        """True while playing."""
        return self._playing

    def set_pipeline(self, pipeline: Pipeline | None) -> int:
        """Run `pipeline` from now on (new file or models); returns the new generation.

        Pending and in-flight work of the old pipeline is discarded; playback pauses. When
        it returns, the old pipeline's source is no longer being read (it may be closed).
        """
        with self._deliver, self._cv:
            self._generation += 1
            self._ticket += 1
            self._pipeline = pipeline
            if pipeline is not None:
                pipeline.on_notice = self._report
            self._queue.clear()
            self._request = None
            self._playing = False
            self._dropped = 0
            decoder = self._threads.get("decode")
            while self._decoding is not None and decoder is not threading.current_thread():
                self._cv.wait(0.1)
            self._position = -1 if pipeline is None else min(self._position, len(pipeline) - 1)
            self._window.clear()
            self._cv.notify_all()
            return self._generation

    def request(self, index: int) -> None:
        """Show frame `index` (scrubbing): the newest request wins, older ones are cancelled.

        While playing, playback continues from there.
        """
        with self._cv:
            if self._pipeline is None:
                return
            index = int(np.clip(index, 0, len(self._pipeline) - 1))
            self._ticket += 1
            self._queue.clear()
            self._request = index
            self._seek(index + 1)
            self._start_threads()
            self._cv.notify_all()

    def play(self, start: int | None = None, *, speed: float | None = None,
             realtime: bool | None = None, loop: bool | None = None) -> None:
        """Play from `start` (default: after the current position, or from 0 at the end)."""
        with self._cv:
            if self._pipeline is None or len(self._pipeline) == 0:
                return
            self._speed = self._speed if speed is None else _check_speed(speed)
            self._realtime = self._realtime if realtime is None else bool(realtime)
            self._loop = self._loop if loop is None else bool(loop)
            if start is None:
                start = self._position + 1 if 0 <= self._position < len(self._pipeline) - 1 else 0
            self._ticket += 1
            self._queue.clear()
            self._request = None
            self._seek(int(start))
            self._dropped = 0
            self._playing = True
            self._start_threads()
            self._cv.notify_all()

    def pause(self) -> None:
        """Stop playing; queued and in-flight frames are discarded, so the frame on display stays."""
        with self._cv:
            self._playing = False
            self._ticket += 1
            self._queue.clear()
            self._cv.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        """Pause and end the threads (they start again on the next play or request)."""
        with self._cv:
            self._playing = False
            self._request = None
            self._ticket += 1
            self._queue.clear()
            self._closing = True
            self._cv.notify_all()
        for t in list(self._threads.values()):
            if t is not threading.current_thread():
                t.join(timeout)
        with self._cv:
            self._closing = False

    def set_speed(self, speed: float) -> None:
        """Playback speed factor (2.0: twice as fast; math.inf: as fast as possible)."""
        with self._cv:
            self._speed = _check_speed(speed)
            self._seek(self._next)
            self._cv.notify_all()

    def set_realtime(self, realtime: bool) -> None:
        """Real-time (drop late frames) or every-frame mode."""
        with self._cv:
            self._realtime = bool(realtime)
            self._seek(self._next)
            self._cv.notify_all()

    def set_loop(self, loop: bool) -> None:
        """Start over at the end instead of stopping."""
        with self._cv:
            self._loop = bool(loop)

    def stats(self) -> dict:
        """Live numbers over the last second: decode/infer/post ms and latency (decode start
        to delivery) ms, mean and p95; displayed fps; dropped frames since play; device and,
        on CUDA, GPU memory in MiB."""
        out: dict = {}
        for stage in ("decode", "infer", "post", "latency"):
            s = summarize(self._window.values(stage))
            out[f"{stage}_ms"] = s["mean"]
            out[f"{stage}_ms_p95"] = s["p95"]
        out["fps"] = self._window.rate("delivered")
        out["dropped"] = self._dropped
        pipeline = self._pipeline
        out["device"] = pipeline.device if pipeline is not None else "cpu"
        if out["device"].startswith("cuda"):
            out["gpu_memory_mb"] = torch.cuda.memory_allocated() / 2**20
            out["gpu_memory_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return out

    # --- threads --------------------------------------------------------------------

    def _start_threads(self) -> None:
        """Start whichever of the two threads is not running (lock held)."""
        for role, target in (("decode", self._decode_loop), ("infer", self._infer_loop)):
            thread = self._threads.get(role)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(target=target, name=f"endodepth-{role}", daemon=True)
                self._threads[role] = thread
                thread.start()

    def _rate(self, pipeline: Pipeline) -> float:
        return pipeline.fps * self._speed

    def _seek(self, index: int) -> None:
        """Make `index` the next frame to decode, falling due now (lock held)."""
        self._next = index
        self._anchor = (time.monotonic(), index)
        self._last_start = -math.inf

    def _due(self, index: int, rate: float) -> float:
        t0, i0 = self._anchor
        return t0 + (index - i0) / rate if math.isfinite(rate) and rate > 0 else t0

    def _next_job(self) -> tuple[_Item | None, float]:
        """The next frame to decode, or how long to wait for one (lock held)."""
        pipeline = self._pipeline
        if pipeline is None or len(self._queue) >= self._queue_size:
            return None, 0.1
        if self._request is not None:
            index, self._request = self._request, None
            return _Item(index, self._ticket, self._generation, 0.0), 0.0
        if not self._playing:
            return None, 0.1
        n, rate = len(pipeline), self._rate(pipeline)
        paced = math.isfinite(rate) and rate > 0
        index = self._next
        if self._realtime and paced:
            now = target = time.monotonic()
            if self._busy_since is not None:
                # Decode just in time: the frame that falls due when the worker is free.
                if self._queue:
                    return None, 0.1
                decode = self._mean_s("decode")
                free_at = self._busy_since + self._mean_s("infer") + self._mean_s("post")
                if now < free_at - decode:
                    return None, min(free_at - decode - now, 0.1)
                target = max(free_at, now + decode)
            t0, i0 = self._anchor
            late = i0 + int((target - t0) * rate)
            limit = late if self._loop else min(late, n - 1)
            if limit > index:
                self._dropped += limit - index
                index = limit
        if index >= n:
            if not self._loop:
                return None, 0.1
            t0, i0 = self._anchor
            self._anchor = (t0 + (n - i0) / rate if paced else time.monotonic(), 0)
            index = min(index - n, n - 1)
        self._next = index + 1
        return _Item(index, self._ticket, self._generation, self._due(index, rate)), 0.0

    def _wait_for(self, get: Callable[[], tuple[_Item | None, float]]) -> tuple[_Item, Pipeline] | None:
        """Block until `get` (called with the lock held, returning an item or how long to
        wait) yields an item; None when the threads are to end."""
        with self._cv:
            while not self._closing:
                item, wait = get()
                if item is not None:
                    return item, self._pipeline
                self._cv.wait(wait)
        return None

    def _claim_job(self) -> tuple[_Item | None, float]:
        """`_next_job`, marking the pipeline whose source is about to be read (lock held)."""
        job, wait = self._next_job()
        if job is not None:
            self._decoding = self._pipeline
        return job, wait

    def _decode_loop(self) -> None:
        while (got := self._wait_for(self._claim_job)) is not None:
            job, pipeline = got
            t = job.started = time.perf_counter()
            try:
                job.frame = pipeline.decode(job.index)
            except Exception as exc:  # noqa: BLE001 - reported; playback goes on
                error = exc
            else:
                error = None
                job.decode_ms = (time.perf_counter() - t) * 1e3
                self._window.add("decode", job.decode_ms)
            with self._cv:
                self._decoding = None
                if error is None and self._current(job):
                    self._queue.append(job)
                self._cv.notify_all()
            if error is not None:
                self._fail(job, "decode", error)

    def _take(self) -> tuple[_Item | None, float]:
        """The next decoded frame once it falls due, dropping stale ones in real time (lock held)."""
        if not self._queue:
            return None, 0.1
        if self._realtime and self._queue[0].due > 0:
            while len(self._queue) > 1 and self._queue[1].due <= time.monotonic():
                self._queue.popleft()
                self._dropped += 1
        item = self._queue[0]
        start = item.due
        if not self._realtime and item.due > 0:
            rate = self._rate(self._pipeline)
            start = self._last_start + 1.0 / rate if math.isfinite(rate) and rate > 0 else 0.0
        wait = start - time.monotonic()
        if wait > 0:
            return None, min(wait, 0.1)
        self._last_start = self._busy_since = time.monotonic()
        self._cv.notify_all()
        return self._queue.popleft(), 0.0

    def _infer_loop(self) -> None:
        while (got := self._wait_for(self._take)) is not None:
            item, pipeline = got
            try:
                result = pipeline.infer(item.frame)
            except Exception as exc:  # noqa: BLE001 - reported; playback goes on
                self._fail(item, "inference", exc)
            else:
                result.timings["decode_ms"] = item.decode_ms
                result.generation = item.generation
                self._window.add("infer", result.timings["infer_ms"])
                self._window.add("post", result.timings["post_ms"])
                self._deliver_result(item, result)
            with self._cv:
                self._busy_since = None
                self._cv.notify_all()

    def _mean_s(self, stage: str) -> float:
        """Mean duration of a stage over the last second, in seconds (0 before any)."""
        values = self._window.values(stage)
        return sum(values) / len(values) / 1e3 if values else 0.0

    def _current(self, item: _Item) -> bool:
        return item.ticket == self._ticket and item.generation == self._generation

    def _ends_playback(self, item: _Item) -> bool:
        """True (and playback stops) when `item` is the last frame of a play without loop (lock held)."""
        if self._playing and not self._loop and item.due > 0 and item.index >= len(self._pipeline) - 1:
            self._playing = False
            return True
        return False

    def _deliver_result(self, item: _Item, result: FrameResult) -> None:
        with self._deliver:
            with self._cv:
                if not self._current(item):
                    return
                self._position = item.index
                finished = self._ends_playback(item)
            result.timings["latency_ms"] = (time.perf_counter() - item.started) * 1e3
            self._window.add("latency", result.timings["latency_ms"])
            self._window.add("delivered")
            if self.on_result is not None:
                self.on_result(result)
        if finished and self.on_finished is not None:
            self.on_finished()

    def _fail(self, item: _Item, stage: str, exc: Exception) -> None:
        with self._cv:
            current = self._current(item)
            finished = current and self._ends_playback(item)
        if current:
            self._report(FrameError(item.index, stage, exc))
        if finished and self.on_finished is not None:
            self.on_finished()

    def _report(self, exc: Exception) -> None:
        if self.on_error is not None:
            self.on_error(exc)

"""The threads that run a Pipeline: a decode thread and an inference thread joined by a bounded
queue, so decoding overlaps inference; results go to callbacks.

It knows nothing of Qt: the GUI wraps it and re-emits the callbacks as signals. The pacing
decisions (which frame next, when, which to drop) are the Pacer's; the clock is injected.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from endodepth.frame import Frame
from endodepth.pipeline.pacing import WAIT_S, Pacer, check_speed
from endodepth.pipeline.processing import FrameError, FrameResult, Pipeline
from endodepth.pipeline.stats import RollingWindow, timing_summary


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
    order, paced at most at fps*speed (speed=math.inf: as fast as possible). `clock`
    (seconds, monotonic) paces playback; the Pacer makes the decisions.

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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
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
        self._clock = clock
        self._pacer = Pacer(bool(realtime), check_speed(speed), bool(loop))
        self._busy_since: float | None = None
        self._decoding: Pipeline | None = None
        self._position = -1
        self._closing = False
        self._threads: dict[str, threading.Thread] = {}
        self._window = RollingWindow(1.0, clock)
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
            self._pacer.dropped = 0
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
            pacer = self._pacer
            pacer.speed = pacer.speed if speed is None else check_speed(speed)
            pacer.realtime = pacer.realtime if realtime is None else bool(realtime)
            pacer.loop = pacer.loop if loop is None else bool(loop)
            if start is None:
                start = self._position + 1 if 0 <= self._position < len(self._pipeline) - 1 else 0
            self._ticket += 1
            self._queue.clear()
            self._request = None
            self._seek(int(start))
            pacer.dropped = 0
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
            self._pacer.speed = check_speed(speed)
            self._seek(self._pacer.next)
            self._cv.notify_all()

    def set_realtime(self, realtime: bool) -> None:
        """Real-time (drop late frames) or every-frame mode."""
        with self._cv:
            self._pacer.realtime = bool(realtime)
            self._seek(self._pacer.next)
            self._cv.notify_all()

    def set_loop(self, loop: bool) -> None:
        """Start over at the end instead of stopping."""
        with self._cv:
            self._pacer.loop = bool(loop)

    def stats(self) -> dict:
        """Live numbers over the last second: decode/infer/post ms and latency (decode start
        to delivery) ms, mean and p95; displayed fps; dropped frames since play; device and,
        on CUDA, GPU memory in MiB."""
        out: dict = {}
        for stage in ("decode", "infer", "post", "latency"):
            s = timing_summary(self._window.values(stage))
            out[f"{stage}_ms"] = s["mean"]
            out[f"{stage}_ms_p95"] = s["p95"]
        out["fps"] = self._window.rate("delivered")
        out["dropped"] = self._pacer.dropped
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

    def _seek(self, index: int) -> None:
        """Make `index` the next frame to decode, falling due now (lock held)."""
        self._pacer.seek(index, self._clock())

    def _next_job(self) -> tuple[_Item | None, float]:
        """The next frame to decode, or how long to wait for one (lock held)."""
        pipeline = self._pipeline
        if pipeline is None or len(self._queue) >= self._queue_size:
            return None, WAIT_S
        if self._request is not None:
            index, self._request = self._request, None
            return _Item(index, self._ticket, self._generation, 0.0), 0.0
        if not self._playing:
            return None, WAIT_S
        work_s = self._mean_s("infer") + self._mean_s("post")
        index, wait = self._pacer.next_index(len(pipeline), pipeline.fps, self._clock(), self._busy_since,
                                             bool(self._queue), self._mean_s("decode"), work_s)
        if index is None:
            return None, wait
        return _Item(index, self._ticket, self._generation, self._pacer.due(index, pipeline.fps)), 0.0

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
            except Exception as exc:
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
            return None, WAIT_S
        now = self._clock()
        drop, wait = self._pacer.take([item.due for item in self._queue], self._pipeline.fps, now)
        for _ in range(drop):
            self._queue.popleft()
        if wait > 0:
            return None, wait
        self._busy_since = now
        self._cv.notify_all()
        return self._queue.popleft(), 0.0

    def _infer_loop(self) -> None:
        while (got := self._wait_for(self._take)) is not None:
            item, pipeline = got
            try:
                result = pipeline.process_frame(item.frame)
            except Exception as exc:
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
        if self._playing and not self._pacer.loop and item.due > 0 and item.index >= len(self._pipeline) - 1:
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

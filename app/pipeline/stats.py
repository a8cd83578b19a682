"""Timing statistics for the pipeline: a rolling window for the live display and
percentiles for benchmarks."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

import numpy as np


def timing_summary(values_ms: Iterable[float]) -> dict[str, float]:
    """Mean, p50, p95, p99 and max of durations in milliseconds (NaN when empty)."""
    v = np.asarray(list(values_ms), dtype=np.float64)
    if v.size == 0:
        return {k: float("nan") for k in ("mean", "p50", "p95", "p99", "max")}
    p50, p95, p99 = np.percentile(v, (50, 95, 99))
    return {"mean": float(v.mean()), "p50": float(p50), "p95": float(p95), "p99": float(p99),
            "max": float(v.max())}


class RollingWindow:
    """Named samples (milliseconds) and events kept for the last `seconds`; thread-safe."""

    def __init__(self, seconds: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._samples: dict[str, deque[tuple[float, float]]] = {}
        self._lock = threading.Lock()

    def add(self, name: str, value: float = 0.0) -> None:
        """Record one sample (or one event, for counting) now."""
        now = self._clock()
        with self._lock:
            self._samples.setdefault(name, deque()).append((now, float(value)))
            self._prune(now)

    def values(self, name: str) -> list[float]:
        """Samples of `name` from the last `seconds`."""
        with self._lock:
            self._prune(self._clock())
            return [v for _, v in self._samples.get(name, ())]

    def rate(self, name: str) -> float:
        """Events of `name` per second over the window."""
        with self._lock:
            now = self._clock()
            self._prune(now)
            stamps = [t for t, _ in self._samples.get(name, ())]
        if len(stamps) < 2:
            return 0.0
        return (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9)

    def clear(self) -> None:
        """Forget all samples."""
        with self._lock:
            self._samples.clear()

    def _prune(self, now: float) -> None:
        for q in self._samples.values():
            while q and now - q[0][0] > self.seconds:
                q.popleft()

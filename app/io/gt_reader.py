"""Ground truth decoded off the display path: its own thread, the newest request first.

Decoding one SCARED scene_points frame costs about 0.2 s of CPU at 1280x1024, far over a frame's
budget; the player asks `get(i)` each frame, shows what is there and lets metrics fill in as
`on_ready` reports frames. The thread runs at a lower priority (Linux), so on a small machine it
takes the CPU the display leaves rather than a share of it. Qt-free: the GUI forwards `on_ready` to its own thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from endodepth.errors import EndoDepthError
from endodepth.threads import lower_this_thread

ReadFn = Callable[[int], "np.ndarray | None"]
ReadyFn = Callable[[int, "np.ndarray | None"], None]


NICE = 10  # the reader's niceness above the process's: decoding ground truth uses the CPU the display leaves


class GroundTruthReader:
    """Reads `read(i)` on a worker thread; a newer request replaces one not yet started.

    `get(i)` returns the decoded depth, or None while it is pending (and then asks for it);
    `indexing` is True while a read is queued or running; a frame whose read failed is
    remembered in `errors` (its one-line message) and not asked again.
    """

    def __init__(self, read: ReadFn, on_ready: ReadyFn | None = None, keep: int = 8, nice: int = NICE):
        self._read = read
        self._nice = nice
        self._on_ready = on_ready
        self._keep = max(1, keep)
        self._done: OrderedDict[int, np.ndarray | None] = OrderedDict()
        self.errors: dict[int, str] = {}
        self._wanted: int | None = None
        self._busy: int | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="ground-truth", daemon=True)
        self._thread.start()

    @property
    def indexing(self) -> bool:
        """True while a ground-truth read is queued or running (the status bar says so)."""
        with self._cond:
            return self._wanted is not None or self._busy is not None

    def request(self, index: int) -> None:
        """Ask for frame `index`, replacing any request the thread has not started."""
        with self._cond:
            if self._closed or index in self._done or index in self.errors or index == self._busy:
                return
            self._wanted = index
            self._cond.notify()

    def get(self, index: int) -> np.ndarray | None:
        """The ground truth of frame `index` when decoded, else None (and it is requested)."""
        with self._cond:
            if index in self._done:
                self._done.move_to_end(index)
                return self._done[index]
        self.request(index)
        return None

    def ready(self, index: int) -> bool:
        """Whether frame `index` was read (its ground truth may still be None: the frame has none)."""
        with self._cond:
            return index in self._done

    def wait(self, index: int, timeout: float | None = None) -> np.ndarray | None:
        """Block until frame `index` is read (for scripts and tests); None on timeout or error."""
        self.request(index)
        with self._cond:
            self._cond.wait_for(
                lambda: index in self._done or index in self.errors or self._closed, timeout
            )
            return self._done.get(index)

    def _loop(self) -> None:
        if self._nice > 0:
            lower_this_thread(self._nice)
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._wanted is not None or self._closed)
                if self._closed:
                    return
                index, self._wanted, self._busy = self._wanted, None, self._wanted
            try:
                depth, error = self._read(index), None
            except EndoDepthError as exc:
                depth, error = None, str(exc)
            with self._cond:
                self._busy = None
                if error is None:
                    self._done[index] = depth
                    while len(self._done) > self._keep:
                        self._done.popitem(last=False)
                else:
                    self.errors[index] = error
                self._cond.notify_all()
            if error is None and self._on_ready is not None:
                self._on_ready(index, depth)

    def close(self) -> None:
        """Stop the thread after the read in progress (if any)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

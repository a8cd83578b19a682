"""Playback pacing: which frame to decode next, when a decoded frame falls due, which ones to drop.

`Pacer` holds the playback clock's anchor and takes the time as an argument on every decision, so
real-time dropping is a function of numbers (tested without threads or wall time). The Runner
asks it under its lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WAIT_S = 0.1  # the longest a loop sleeps before looking again (a notify wakes it sooner)


def check_speed(speed: float) -> float:
    """`speed` as a float, refusing zero and negative speeds."""
    speed = float(speed)
    if not speed > 0:
        raise ValueError(f"playback speed must be positive, got {speed}")
    return speed


@dataclass
class Pacer:
    """The pacing state of one playback: frames fall due at fps*speed from `anchor` (time, index).

    Real-time (`realtime=True`): frames already late are skipped (counted in `dropped`) and,
    while the inference stage is busy, the next frame is decoded just in time for when it is
    free. Every-frame: each frame in order, started at most at fps*speed (speed=inf: at once).
    """

    realtime: bool = True
    speed: float = 1.0
    loop: bool = False
    next: int = 0
    anchor: tuple[float, int] = (0.0, 0)
    last_start: float = -math.inf
    dropped: int = 0

    def rate(self, fps: float) -> float:
        """Frames per second of playback."""
        return fps * self.speed

    def seek(self, index: int, now: float) -> None:
        """Make `index` the next frame to decode, falling due at `now`."""
        self.next = index
        self.anchor = (now, index)
        self.last_start = -math.inf

    def due(self, index: int, fps: float) -> float:
        """The time frame `index` falls due (the anchor's time when unpaced)."""
        t0, i0 = self.anchor
        rate = self.rate(fps)
        return t0 + (index - i0) / rate if _paced(rate) else t0

    def next_index(self, count: int, fps: float, now: float, busy_since: float | None, queued: bool,
                   decode_s: float, work_s: float) -> tuple[int | None, float]:
        """The frame to decode next, or None and how long to wait.

        `busy_since`: when the inference stage started its frame (None: idle); `queued`: a decoded
        frame waits for it; `decode_s`/`work_s`: mean seconds of decoding and of inference plus
        post-processing, to decode just in time."""
        rate = self.rate(fps)
        paced = _paced(rate)
        index = self.next
        if self.realtime and paced:
            target = now
            if busy_since is not None:
                if queued:
                    return None, WAIT_S
                free_at = busy_since + work_s
                if now < free_at - decode_s:
                    return None, min(free_at - decode_s - now, WAIT_S)
                target = max(free_at, now + decode_s)
            t0, i0 = self.anchor
            late = i0 + int((target - t0) * rate)
            limit = late if self.loop else min(late, count - 1)
            if limit > index:
                self.dropped += limit - index
                index = limit
        if index >= count:
            if not self.loop:
                return None, WAIT_S
            t0, i0 = self.anchor
            self.anchor = (t0 + (count - i0) / rate if paced else now, 0)
            index = min(index - count, count - 1)
        self.next = index + 1
        return index, 0.0

    def take(self, dues: list[float], fps: float, now: float) -> tuple[int, float]:
        """Of decoded frames due at `dues` (oldest first; 0: a scrub request, at once): how many
        stale ones to drop from the front, and how long to wait before starting the next (0: now)."""
        drop = 0
        if self.realtime and dues[0] > 0:
            while len(dues) - drop > 1 and dues[drop + 1] <= now:
                drop += 1
        self.dropped += drop
        start = due = dues[drop]
        if not self.realtime and due > 0:
            rate = self.rate(fps)
            start = self.last_start + 1.0 / rate if _paced(rate) else 0.0
        wait = start - now
        if wait > 0:
            return drop, min(wait, WAIT_S)
        self.last_start = now
        return drop, 0.0


def _paced(rate: float) -> bool:
    return math.isfinite(rate) and rate > 0

"""The reconstruction a command or a window drives: frames + depth in, a growing mesh and camera path out.

`Reconstruction` is synchronous (the CLI, tests); `LiveFusion` runs one on a background thread with a
bounded queue (the newest frames win while the video plays) and publishes mesh snapshots a few times a
second, so a GUI never waits for fusion.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from endodepth.frame import Frame
from endodepth.geometry.depth_scale import DepthToMM
from endodepth.geometry.fusion import FusionSettings, MeshArrays, TSDFFusion
from endodepth.geometry.odometry import PoseTracker
from endodepth.vis.masks import fov_mask


@dataclass
class FusionCounts:
    """What happened to the frames offered: fused, and skipped for each reason."""

    fused: int = 0
    no_pose: int = 0
    no_scale: int = 0
    no_depth: int = 0

    def summary(self) -> str:
        """`N fused` plus the skipped counts that are not zero."""
        parts = [f"{self.fused} fused"]
        for name, n in (("without pose", self.no_pose), ("without a scale reference", self.no_scale),
                        ("without valid depth", self.no_depth)):
            if n:
                parts.append(f"{n} skipped {name}")
        return ", ".join(parts)


class Reconstruction:
    """Scale each frame's depth to mm, pose it, fuse it; the mesh and camera path on request."""

    def __init__(self, K: np.ndarray, size: tuple[int, int], scaling: DepthToMM, pose_mode: str,
                 settings: FusionSettings | None = None):
        self.fusion = TSDFFusion(K, size, settings)
        self.scaling = scaling
        self.poses = PoseTracker(pose_mode, self.fusion)
        self.counts = FusionCounts()
        self._pending: list[tuple[Frame, np.ndarray]] = []

    def add(self, frame: Frame, depth: np.ndarray | None) -> None:
        """Offer one frame's model output (of the scaling's kind; None: no depth for this frame)."""
        if depth is None:
            self.counts.no_depth += 1
            return
        depth = observed(frame, depth)
        if self.scaling.ready:
            self._fuse(frame, depth)
        else:
            self.scaling.observe(depth)
            self._pending.append((frame, depth))
            if self.scaling.ready:
                self._flush()

    def finish(self) -> None:
        """Fuse the frames still waiting for the clip scale (a clip shorter than its scale window)."""
        self.scaling.fix()
        if self.scaling.ready:
            self._flush()
        self.counts.no_depth += len(self._pending)
        self._pending = []

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for frame, depth in pending:
            self._fuse(frame, depth)

    def _fuse(self, frame: Frame, depth: np.ndarray) -> None:
        depth_mm = self.scaling(depth, frame)
        if depth_mm is None:
            self.counts.no_scale += 1
            return
        pose = self.poses.pose(frame.rgb, depth_mm, frame.pose)
        if pose is None:
            self.counts.no_pose += 1
            return
        if self.fusion.integrate(frame.rgb, depth_mm, pose):
            self.counts.fused += 1
        else:
            self.counts.no_depth += 1

    def mesh(self) -> MeshArrays:
        """The mesh fused so far (first fused frame's camera coordinates, mm)."""
        return self.fusion.mesh()

    def camera_path(self) -> np.ndarray:
        """Centres of the fused cameras (N, 3) mm."""
        return self.fusion.camera_path()


def observed(frame: Frame, depth: np.ndarray) -> np.ndarray:
    """The output only where the camera saw tissue (NaN elsewhere): inside the frame's mask and the field of
    view found in its image, so a model's guesses in the dark corners around an endoscope's view are not fused."""
    seen = fov_mask(frame.rgb)
    if frame.mask is not None:
        seen &= np.asarray(frame.mask, bool)
    return depth if seen.all() else np.where(seen, depth, np.float32(np.nan)).astype(np.float32)


@dataclass
class Snapshot:
    """What the live view draws: the mesh, the camera path and the counts at one moment."""

    mesh: MeshArrays
    normals: np.ndarray
    path: np.ndarray
    fused: int
    version: int


class LiveFusion:
    """A Reconstruction fed from another thread: `offer` never blocks, `snapshot` returns the newest mesh."""

    def __init__(self, reconstruction: Reconstruction, refresh_s: float = 0.4, queue_size: int = 2):
        self.reconstruction = reconstruction
        self.refresh_s = refresh_s
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._version = 0
        self._stop = threading.Event()
        self.error: str | None = None
        self.dropped = 0
        self._thread = threading.Thread(target=self._loop, name="live-fusion", daemon=True)
        self._thread.start()

    def offer(self, frame: Frame, depth: np.ndarray | Callable[[], np.ndarray]) -> None:
        """Queue a frame for fusion; when fusion lags, the oldest waiting frame is dropped. `depth` may be
        a callable that gives it (made on the fusion thread, e.g. upsampled from a network's output)."""
        item = (frame, depth if callable(depth) else np.array(depth, np.float32, copy=True))
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def snapshot(self) -> Snapshot | None:
        """The newest published mesh (None before the first)."""
        with self._lock:
            return self._snapshot

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the frame in hand, publish the final mesh and end the thread."""
        self._stop.set()
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the fusion thread is alive."""
        return self._thread.is_alive()

    def _loop(self) -> None:
        published = 0.0
        dirty = False
        while True:
            try:
                frame, depth = self._queue.get(timeout=0.05)
            except queue.Empty:
                if dirty:
                    self._publish()
                    dirty = False
                if self._stop.is_set():
                    return
                continue
            try:
                self.reconstruction.add(frame, depth() if callable(depth) else depth)
            except Exception as exc:  # shown by the view; the thread must not die silently
                self.error = f"fusion stopped: {exc}"
                return
            dirty = True
            if time.monotonic() - published >= self.refresh_s:
                self._publish()
                published, dirty = time.monotonic(), False

    def _publish(self) -> None:
        r = self.reconstruction
        mesh = r.mesh()
        snap = Snapshot(mesh, mesh.vertex_normals(), r.camera_path(), r.counts.fused, self._version + 1)
        with self._lock:
            self._version = snap.version
            self._snapshot = snap

"""Camera poses for fusion: the source's own, or frame-to-frame RGB-D odometry (open3d) on the fused depth.

Every pose maps the first fused frame's camera coordinates into the frame's camera (SCARED's
keyframe -> frame convention), so a trajectory starts at the identity.
"""

from __future__ import annotations

import numpy as np
import open3d as o3d

from endodepth.errors import EndoDepthError
from endodepth.geometry.fusion import TSDFFusion, camera_centres, relative_to

SOURCE, ESTIMATE, AUTO = "source", "estimate", "auto"
POSE_MODES = (AUTO, SOURCE, ESTIMATE)


class RGBDOdometry:
    """Frame-to-frame colour + geometry (hybrid) odometry, chained from the first frame."""

    def __init__(self, fusion: TSDFFusion, max_depth_diff_mm: float = 4.0):
        self._fusion = fusion
        w, h = (len(range(0, n, fusion.stride)) for n in fusion.size)
        self._intrinsic = o3d.camera.PinholeCameraIntrinsic(w, h, fusion.K[0, 0], fusion.K[1, 1], fusion.K[0, 2],
                                                            fusion.K[1, 2])
        self._option = o3d.pipelines.odometry.OdometryOption(
            iteration_number_per_pyramid_level=o3d.utility.IntVector([20, 10, 5]),
            depth_diff_max=max_depth_diff_mm,
            depth_min=0.1,
            depth_max=fusion.settings.max_depth_mm,
        )
        self._previous: o3d.geometry.RGBDImage | None = None
        self._pose = np.eye(4)
        self._step = np.eye(4)
        self.failures = 0

    def track(self, rgb: np.ndarray, depth_mm: np.ndarray) -> np.ndarray:
        """This frame's pose; a failed match keeps the last motion (constant velocity) and is counted."""
        color, depth = self._fusion.reduce(rgb, depth_mm)
        gray = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(color), o3d.geometry.Image(depth), depth_scale=1.0,
            depth_trunc=self._fusion.settings.max_depth_mm, convert_rgb_to_intensity=True,
        )
        if self._previous is not None:
            ok, step, _ = o3d.pipelines.odometry.compute_rgbd_odometry(
                self._previous, gray, self._intrinsic, self._step,
                o3d.pipelines.odometry.RGBDOdometryJacobianFromHybridTerm(), self._option,
            )
            if not ok:
                self.failures += 1
            else:
                # open3d's result maps the previous frame's points into the current frame's camera
                self._step = step
            self._pose = self._step @ self._pose
        self._previous = gray
        return self._pose.copy()


class PoseTracker:
    """Poses of the fused frames from `mode` (source or estimate), and the estimate's error vs the source."""

    def __init__(self, mode: str, fusion: TSDFFusion):
        if mode not in (SOURCE, ESTIMATE):
            raise ValueError(f"pose mode must be {SOURCE!r} or {ESTIMATE!r}, not {mode!r}")
        self.mode = mode
        self._odometry = RGBDOdometry(fusion) if mode == ESTIMATE else None
        self._first: np.ndarray | None = None
        self.estimated: list[np.ndarray] = []
        self.reference: list[np.ndarray] = []

    @property
    def odometry_failures(self) -> int:
        """Frames where odometry found no match (their motion was extrapolated)."""
        return 0 if self._odometry is None else self._odometry.failures

    def pose(self, rgb: np.ndarray, depth_mm: np.ndarray, source_pose: np.ndarray | None) -> np.ndarray | None:
        """The frame's pose from the first fused frame's camera; None when the source has none (source mode)."""
        if source_pose is not None and self._first is None:
            self._first = np.asarray(source_pose, np.float64)
        reference = None if source_pose is None or self._first is None else relative_to(source_pose, self._first)
        if self._odometry is None:
            return reference
        estimate = self._odometry.track(rgb, depth_mm)
        if reference is not None:
            self.estimated.append(estimate)
            self.reference.append(reference)
        return estimate

    def trajectory_error(self) -> dict | None:
        """Absolute trajectory error of the estimate against the source poses (no alignment: both start at
        the identity): RMSE and final drift of the camera centres in mm, mean rotation error in degrees."""
        if len(self.estimated) < 2:
            return None
        est, ref = np.array(self.estimated), np.array(self.reference)
        offsets = np.linalg.norm(camera_centres(est) - camera_centres(ref), axis=1)
        relative = np.einsum("nij,nkj->nik", est[:, :3, :3], ref[:, :3, :3])
        cos = np.clip((np.trace(relative, axis1=1, axis2=2) - 1) / 2, -1, 1)
        path = np.linalg.norm(np.diff(camera_centres(ref), axis=0), axis=1).sum()
        return {
            "frames": len(est),
            "ate_rmse_mm": float(np.sqrt(np.mean(offsets**2))),
            "final_drift_mm": float(offsets[-1]),
            "rotation_error_deg": float(np.degrees(np.arccos(cos)).mean()),
            "path_length_mm": float(path),
        }


def resolve_pose_mode(mode: str, has_source_poses: bool, where: str) -> str:
    """`source` or `estimate` for the requested mode: auto takes the source's poses when it has them."""
    if mode == AUTO:
        return SOURCE if has_source_poses else ESTIMATE
    if mode == SOURCE and not has_source_poses:
        raise EndoDepthError(f"{where}: has no camera poses for --poses source (use --poses estimate)")
    return mode

"""Stereo sources: side-by-side or stacked stereo videos with their calibration, and the calibration readers.

A frame of a stereo video holds both views: `sbs` puts left and right side by side (2W x H),
`stacked` puts the left over the right (W x 2H, SCARED's rgb.mp4). The calibration beside the
file (`<video>.yaml` or `endoscope_calibration.yaml`) gives the pair; without `--stereo`, a video
is opened as stereo when that calibration's principal point fits half the frame in one layout
and not the whole frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from endodepth.errors import InputError
from endodepth.frame import Frame, StereoCalibration
from endodepth.io.calibration import default_intrinsics, is_rectified, read_calibration, scale_intrinsics
from endodepth.io.source import Source, VideoSource

LAYOUTS = ("sbs", "stacked")
MONO = "mono"  # a layout choice that opens a video as one view, whatever calibration lies beside it
LAYOUT_CHOICES = (MONO, *LAYOUTS)
CALIBRATION_NAMES = ("endoscope_calibration.yaml",)


def view_size(frame_size: tuple[int, int], layout: str) -> tuple[int, int]:
    """(width, height) of one view of a `layout` stereo frame."""
    w, h = frame_size
    return (w // 2, h) if layout == "sbs" else (w, h // 2)


def split_views(image: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """The left and right views of a stereo frame (contiguous copies)."""
    h, w = image.shape[:2]
    if layout == "sbs":
        return np.ascontiguousarray(image[:, : w // 2]), np.ascontiguousarray(image[:, w // 2 :])
    return np.ascontiguousarray(image[: h // 2]), np.ascontiguousarray(image[h // 2 :])


def _fits(K: np.ndarray, size: tuple[int, int]) -> bool:
    """Whether a principal point lies within the central half of a (width, height) image."""
    (w, h), (cx, cy) = size, K[:2, 2]
    return abs(cx - w / 2) <= w / 4 and abs(cy - h / 2) <= h / 4


def calibration_beside(path: Path) -> Path | None:
    """`<video>.yaml` or `endoscope_calibration.yaml` in the video's folder, if present."""
    for candidate in (path.with_suffix(".yaml"), *(path.parent / n for n in CALIBRATION_NAMES)):
        if candidate.is_file():
            return candidate
    return None


def _off_centre(K: np.ndarray, size: tuple[int, int]) -> float:
    """How far a principal point is from the centre of a (width, height) image, as a fraction of its side."""
    (w, h), (cx, cy) = size, K[:2, 2]
    return max(abs(cx - w / 2) / w, abs(cy - h / 2) / h)


def detect_layout(calib: StereoCalibration, frame_size: tuple[int, int]) -> str | None:
    """The layout whose view the calibration fits (its image size, else the view its principal point
    is most central in, better than in the whole frame); None for a mono frame."""
    if calib.image_size is not None:
        matches = [lay for lay in LAYOUTS if view_size(frame_size, lay) == tuple(calib.image_size)]
        return matches[0] if len(matches) == 1 else None
    candidates = {None: frame_size, **{lay: view_size(frame_size, lay) for lay in LAYOUTS}}
    best = min(candidates, key=lambda lay: _off_centre(calib.K1, candidates[lay]))
    return best if best is not None and _fits(calib.K1, candidates[best]) else None


def calibration_from_frame_data(data: bytes, path: Path, fallback: StereoCalibration) -> StereoCalibration:
    """The `camera-calibration` block of a SCARED frame_data json (KL KR DL DR R T); `fallback` when absent."""
    try:
        block = json.loads(data).get("camera-calibration")
    except (ValueError, AttributeError) as exc:
        raise InputError(path, f"not a readable frame_data json ({exc})") from None
    if not block:
        return fallback
    try:
        values = {k: np.asarray(block[k], np.float64) for k in ("KL", "DL", "KR", "DR", "R", "T")}
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(path, f"'camera-calibration' lacks or garbles {exc}") from None
    if values["KL"].size != 9 or values["KR"].size != 9 or values["R"].size != 9 or values["T"].size != 3:
        raise InputError(path, "'camera-calibration' needs 3x3 KL, KR, R and a 3-vector T")
    return StereoCalibration(
        values["KL"], values["DL"], values["KR"], values["DR"], values["R"], values["T"],
        image_size=fallback.image_size,
        rectified=is_rectified(values["DL"], values["DR"], values["R"], values["T"]), path=path,
    )


def scaled_calibration(
    calib: StereoCalibration, size: tuple[int, int], calib_size: tuple[int, int]
) -> StereoCalibration:
    """`calib` for views resized from `calib_size` to `size` (intrinsics scaled; distortion is normalised)."""
    if tuple(size) == tuple(calib_size):
        return StereoCalibration(calib.K1, calib.D1, calib.K2, calib.D2, calib.R, calib.T, tuple(size),
                                 calib.rectified, calib.path)
    sx, sy = size[0] / calib_size[0], size[1] / calib_size[1]
    return StereoCalibration(scale_intrinsics(calib.K1, sx, sy), calib.D1, scale_intrinsics(calib.K2, sx, sy),
                             calib.D2, calib.R, calib.T, tuple(size), calib.rectified, calib.path)


class StereoVideoSource(Source):
    """A stereo video (`sbs` or `stacked`): frames carry the left view, the right view and the calibration."""

    kind = "stereo-video"

    def __init__(self, path: str | Path, layout: str, calibration: str | Path | None = None):
        super().__init__(path)
        if layout not in LAYOUTS:
            raise InputError(self.path, f"unknown stereo layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
        self.layout = layout
        calib_path = Path(calibration) if calibration is not None else calibration_beside(self.path)
        if calib_path is None:
            raise InputError(self.path, "stereo video needs a calibration beside it (<video>.yaml or "
                             "endoscope_calibration.yaml with M1 D1 M2 D2 R T)")
        self._video = VideoSource(self.path, K=np.eye(3))
        self.fps = self._video.fps
        w, h = self._video.size
        if (layout == "sbs" and w % 2) or (layout == "stacked" and h % 2):
            self._video.close()
            raise InputError(self.path, f"{w}x{h} frames cannot split evenly into a {layout} pair")
        self.size = view_size((w, h), layout)
        calib = read_calibration(calib_path)
        self.stereo = scaled_calibration(calib, self.size, calib.image_size or self.size)
        self.intrinsics, self.intrinsics_assumed = self.stereo.K1, False

    def __len__(self) -> int:
        return len(self._video)

    def frame(self, i: int) -> Frame:
        left, right = split_views(self._video.image(i), self.layout)
        frame = self.make_frame(i, left)
        frame.right, frame.stereo = right, self.stereo
        return frame

    def close(self) -> None:
        self._video.close()

    def describe(self) -> dict:
        return {**super().describe(), "stereo": self.layout, "baseline_mm": round(self.stereo.baseline_mm, 4)}


def open_mono_video(path: Path) -> VideoSource:
    """A video read as one view (`MONO`), even a stereo pair: K is the calibration beside it when that fits
    the whole frame, else (none, or a stereo pair's calibration of half the frame) assumed."""
    video = VideoSource(path, K=np.eye(3))
    calib_path = calibration_beside(path)
    K = None
    if calib_path is not None:
        calib = read_calibration(calib_path)
        if _fits(calib.K1, video.size) and detect_layout(calib, video.size) is None:
            K = calib.K1
    video.intrinsics_assumed = K is None
    video.intrinsics = default_intrinsics(*video.size) if K is None else K
    return video


def open_stereo_video(path: Path, layout: str | None = None) -> Source | None:
    """A StereoVideoSource when `layout` is given or a calibration beside the video fits half its frame;
    None for a video without a stereo layout."""
    if layout == MONO:
        return open_mono_video(path)
    if layout is not None:
        return StereoVideoSource(path, layout)
    calib_path = calibration_beside(path)
    if calib_path is None:
        return None
    calib = read_calibration(calib_path)
    video = VideoSource(path, K=np.eye(3))
    size = video.size
    video.close()
    detected = detect_layout(calib, size)
    return StereoVideoSource(path, detected, calib_path) if detected is not None else None


def is_stereo_source(source: Source) -> bool:
    """Whether the source's frames carry a right view and a stereo calibration (its first frame does)."""
    return bool(len(source)) and source.frame(0).is_stereo


def require_stereo(source: Source, model_name: str, needs_stereo: bool) -> None:
    """InputError naming the source when a model that needs stereo frames is given a mono source."""
    if needs_stereo and len(source) and not is_stereo_source(source):
        raise InputError(source.path, f"is a mono source: {model_name} needs a right view and a stereo calibration "
                         "(a SCARED keyframe, or a stereo video: --stereo sbs|stacked with a calibration beside it)")

"""Frame sources: one random-access interface over videos, image folders, SCARED and plain layouts."""

from __future__ import annotations

import bisect
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from endodepth.errors import InputError
from endodepth.io.calibration import default_intrinsics, read_calibration
from endodepth.frame import Frame
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
NOMINAL_FPS = 30.0  # for image folders and videos that do not state a frame rate
_SKIP_AHEAD = 16  # decode forward instead of seeking when the wanted frame is this close ahead
# FFmpeg's own messages about damaged files would break our one-line errors (read at first use).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def natural_key(path: Path) -> list:
    """Sort key that puts frame2.png before frame10.png."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


class Source(ABC):
    """A sequence of frames with exact random access; `frame(i)` carries K, ground truth and pose."""

    kind: str = ""

    def __init__(self, path: str | Path, name: str | None = None):
        self.path = Path(path)
        self.name = name or self.path.name

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def frame(self, i: int) -> Frame:
        """Frame `i` (0-based position in this source), decoded exactly."""

    size: tuple[int, int]  # (width, height) of the frames
    intrinsics: np.ndarray  # 3x3 K at the frames' resolution
    fps: float = NOMINAL_FPS
    has_ground_truth: bool = False
    intrinsics_assumed: bool = True

    def __getitem__(self, i: int) -> Frame:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"frame {i} out of range for {n} frames")
        return self.frame(i % n)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(len(self)):
            yield self.frame(i)

    def close(self) -> None:
        """Release open files."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def make_frame(
        self, index: int, rgb: np.ndarray, gt_depth: np.ndarray | None = None, pose: np.ndarray | None = None
    ) -> Frame:
        """A Frame of this source: its intrinsics, their status and its name travel with the image."""
        return Frame(
            index=index,
            time=index / self.fps,
            rgb=rgb,
            K=self.intrinsics,
            K_assumed=self.intrinsics_assumed,
            gt_depth=gt_depth,
            pose=pose,
            source=self.name,
        )

    def _check_index(self, i: int) -> None:
        if not 0 <= i < len(self):
            raise IndexError(f"{self.path}: frame {i} out of range for {len(self)} frames")

    def describe(self) -> dict:
        """What `endodepth info` prints: kind, frames, size, fps, intrinsics, ground truth."""
        w, h = self.size
        return {
            "path": str(self.path),
            "kind": self.kind,
            "name": self.name,
            "frames": len(self),
            "size": f"{w}x{h}",
            "fps": round(float(self.fps), 3),
            "K": np.round(self.intrinsics, 4).tolist(),
            "intrinsics_assumed": self.intrinsics_assumed,
            "ground_truth": self.has_ground_truth,
        }


def rgb_image(path: Path) -> np.ndarray:
    """An image file as RGB uint8; unreadable -> InputError naming the file."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(path, "cannot be read as an image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file from its header; unreadable -> InputError naming the file."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot be read as an image ({exc})") from None


def _calibration_beside(size: tuple[int, int], *candidates: Path) -> np.ndarray | None:
    """K1 from the first calibration file that exists among `candidates`, else None.

    The file holds no image size, so a principal point far from the centre of the (width, height)
    frames means a calibration for another resolution: InputError rather than a wrong K.
    """
    for c in candidates:
        if c.is_file():
            K = read_calibration(c).K1
            (w, h), (cx, cy) = size, K[:2, 2]
            if abs(cx - w / 2) > w / 4 or abs(cy - h / 2) > h / 4:
                raise InputError(
                    c, f"principal point ({cx:g}, {cy:g}) is far from the centre of the {w}x{h} frames "
                    "it lies beside: a calibration for another image size?"
                )
            return K
    return None


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's warnings while probing a file: our InputError says what went wrong."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


class VideoSource(Source):
    """A video file decoded with OpenCV; sequential reads never seek, random reads seek exactly."""

    kind = "video"

    def __init__(self, path: str | Path, K: np.ndarray | None = None):
        super().__init__(path)
        if not self.path.is_file():
            raise InputError(self.path, "video file not found")
        self._cap: cv2.VideoCapture | None = self._open()
        self._count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if np.isfinite(fps) and fps > 0 else NOMINAL_FPS
        first = self._read(0) if self._count > 0 else None
        if first is None:
            self.close()
            raise InputError(self.path, "contains no decodable video frames")
        self.size = (first.shape[1], first.shape[0])
        if K is None:
            K = _calibration_beside(
                self.size, self.path.with_suffix(".yaml"), self.path.parent / "endoscope_calibration.yaml"
            )
        self.intrinsics_assumed = K is None
        self.intrinsics = default_intrinsics(*self.size) if K is None else np.asarray(K, np.float64)

    def __len__(self) -> int:
        return self._count

    def _open(self) -> cv2.VideoCapture:
        with _quiet_opencv():
            cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise InputError(self.path, "cannot be opened as a video (not a video, or truncated/damaged)")
        self._pos = 0
        return cap

    def _read(self, i: int) -> np.ndarray | None:
        if self._cap is None:
            self._cap = self._open()
        if not self._pos <= i <= self._pos + _SKIP_AHEAD:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            self._pos = int(self._cap.get(cv2.CAP_PROP_POS_FRAMES))
        while self._pos < i and self._cap.grab():
            self._pos += 1
        ok, bgr = self._cap.read() if self._pos == i else (False, None)
        if not ok:
            self._pos = -_SKIP_AHEAD - 1  # unknown position: seek next time
            return None
        self._pos = i + 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def image(self, i: int) -> np.ndarray:
        """RGB uint8 of frame `i`; a frame that cannot be decoded -> InputError."""
        self._check_index(i)
        rgb = self._read(i)
        if rgb is None:
            raise InputError(
                self.path, f"frame {i} of {self._count} cannot be decoded (truncated or damaged?)"
            )
        return rgb

    def frame(self, i: int) -> Frame:
        return self.make_frame(i, self.image(i))

    def close(self) -> None:
        """Release the decoder; the next read opens it again."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class ImageFolderSource(Source):
    """Images of a folder (png/jpg/jpeg/tif/tiff) in natural order, all of the first one's size."""

    kind = "image-folder"

    def __init__(self, path: str | Path, files: Sequence[Path] | None = None, fps: float = NOMINAL_FPS):
        super().__init__(path)
        self.files = list(files) if files is not None else image_files(self.path)
        if not self.files:
            raise InputError(self.path, _no_images_problem(self.path))
        self.fps = fps
        first = rgb_image(self.files[0])
        self.size = (first.shape[1], first.shape[0])
        folder = self.path if self.path.is_dir() else self.path.parent
        K = _calibration_beside(self.size, folder / "endoscope_calibration.yaml")
        self.intrinsics_assumed = K is None
        self.intrinsics = default_intrinsics(*self.size) if K is None else K

    def __len__(self) -> int:
        return len(self.files)

    def frame(self, i: int) -> Frame:
        self._check_index(i)
        rgb = rgb_image(self.files[i])
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            raise InputError(
                self.files[i],
                f"is {rgb.shape[1]}x{rgb.shape[0]}, the folder's first image "
                f"is {self.size[0]}x{self.size[1]}",
            )
        return self.make_frame(i, rgb)


def image_files(folder: Path) -> list[Path]:
    """Image files directly in `folder`, naturally sorted."""
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key
    )


def _no_images_problem(folder: Path) -> str:
    others = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if not others:
        return "empty folder: no video, images, SCARED keyframe or dataset found"
    return (
        f"no images ({'/'.join(s[1:] for s in IMAGE_SUFFIXES)}), SCARED keyframes or dataset found; "
        f"it holds {len(others)} other entries, e.g. {others[0]}"
    )


class ConcatSource(Source):
    """Several sources (e.g. the keyframes of a SCARED dataset) played one after the other.

    Each frame keeps its own `index` and `source` name (e.g. "dataset_1/keyframe_2").
    """

    def __init__(self, path: str | Path, kind: str, parts: Sequence[Source]):
        super().__init__(path)
        if not parts:
            raise InputError(self.path, "no keyframes found")
        self.kind = kind
        self.parts = list(parts)
        self._starts = np.cumsum([0] + [len(p) for p in self.parts]).tolist()
        self.fps, self.size, self.intrinsics = self.parts[0].fps, self.parts[0].size, self.parts[0].intrinsics
        self.has_ground_truth = any(p.has_ground_truth for p in self.parts)
        self.intrinsics_assumed = any(p.intrinsics_assumed for p in self.parts)

    def __len__(self) -> int:
        return self._starts[-1]

    def locate(self, i: int) -> tuple[Source, int]:
        """The part holding frame `i` and the position within it."""
        self._check_index(i)
        k = bisect.bisect_right(self._starts, i) - 1
        return self.parts[k], i - self._starts[k]

    def frame(self, i: int) -> Frame:
        part, j = self.locate(i)
        return part.frame(j)

    def close(self) -> None:
        for p in self.parts:
            p.close()

    def describe(self) -> dict:
        d = super().describe()
        d["parts"] = [self._describe_part(p) for p in self.parts]
        return d

    def _describe_part(self, part: Source) -> str:
        """`name (N frames)`, plus the part's size and missing ground truth where they differ from the whole."""
        notes = [f"{len(part)} frames"]
        if part.size != self.size:
            notes.append(f"{part.size[0]}x{part.size[1]}")
        if self.has_ground_truth and not part.has_ground_truth:
            notes.append("no ground truth")
        return f"{part.name} ({', '.join(notes)})"


def open_source(path: str | Path, stereo: str | None = None) -> Source:
    """Open a video, image folder or image, SCARED keyframe/dataset, AF-SfMLearner tree or plain layout.

    `stereo` ("sbs" or "stacked") opens a video as a stereo pair with the calibration beside it;
    without it a video is stereo when that calibration fits half its frame (endodepth.io.stereo).
    """
    from endodepth.io import plain, scared
    from endodepth.io.stereo import open_stereo_video

    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if path.is_file():
        keyframe = scared.keyframe_of_video(path)
        if keyframe is not None:
            return scared.ScaredKeyframeSource(keyframe)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return ImageFolderSource(path, files=[path])
        return open_stereo_video(path, stereo) or VideoSource(path)
    for detect in (plain.open_plain, scared.open_scared):
        source = detect(path)
        if source is not None:
            return source
    return ImageFolderSource(path)

"""Which reader opens a path: above every reader, so the readers never import one another's detection."""

from __future__ import annotations

from pathlib import Path

from endodepth.errors import InputError
from endodepth.io.keyframes import ScaredKeyframeSource, keyframe_of_video, open_scared
from endodepth.io.plain import open_plain
from endodepth.io.source import IMAGE_SUFFIXES, ImageFolderSource, Source, VideoSource
from endodepth.io.stereo import open_stereo_video


def open_source(path: str | Path, stereo: str | None = None) -> Source:
    """Open a video, image folder or image, SCARED keyframe/dataset, AF-SfMLearner tree or plain layout.

    `stereo` ("sbs" or "stacked") opens a video as a stereo pair with the calibration beside it,
    "mono" as one view; without it a video is stereo when that calibration fits half its frame
    (endodepth.io.stereo).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if path.is_file():
        keyframe = keyframe_of_video(path)
        if keyframe is not None:
            return ScaredKeyframeSource(keyframe)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return ImageFolderSource(path, files=[path])
        return open_stereo_video(path, stereo) or VideoSource(path)
    for detect in (open_plain, open_scared):
        source = detect(path)
        if source is not None:
            return source
    return ImageFolderSource(path)

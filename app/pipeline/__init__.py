"""The frame pipeline: Frame, DepthResult, decode -> infer -> post-process, the runner."""

from endodepth.models.base import DepthResult
from endodepth.pipeline.frame import Frame

__all__ = ["DepthResult", "Frame"]

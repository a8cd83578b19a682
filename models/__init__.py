"""The model zoo: every depth network behind `DepthEstimator`, created by name."""

from importlib import import_module

from endodepth.models.base import DepthEstimator, DepthResult
from endodepth.models.registry import available, create, register, spec

# Each family registers its names on import.
_FAMILIES: tuple[str, ...] = (
    "depth_anything", "adapters", "endodac", "baselines", "meter", "depth_anything_metric", "meter_metric", "default",
    "stereo", "adapted", "llm_mde",
)
for _family in _FAMILIES:
    import_module(f"endodepth.models.{_family}")

__all__ = ["DepthEstimator", "DepthResult", "available", "create", "register", "spec"]

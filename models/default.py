"""`default`: METER-XXS trained on the project's synthetic endoscopy (weights in weights/default.safetensors).

Relative depth; evaluation median-scales it. The model card is weights/default.md. Frames are
shrunk with area averaging (antialiased) to the input size, so a 1280x1024 frame is not aliased.
"""

from __future__ import annotations

from endodepth.models.meter import Meter
from endodepth.models.registry import register

INPUT_SIZE = (160, 192)


class DefaultDepth(Meter):
    """METER-XXS at 160x192 with antialiased input resizing."""

    antialias = True


@register(
    "default",
    description="METER-XXS trained on synthetic endoscopy (bundled; see models/weights/default.md)",
    bundled_weights="default.safetensors",
)
def build(variant: str = "xxs", input_size: tuple[int, int] = INPUT_SIZE) -> DefaultDepth:
    return DefaultDepth(variant, tuple(input_size))

"""The one vocabulary for what a depth map holds: output kinds, their units and the validity of a depth value.

A leaf module (no project imports), so the data layer, the models and the views share the same names.
"""

from __future__ import annotations

import numpy as np

RELATIVE_INVERSE = "relative-inverse"  # affine-invariant inverse depth (disparity up to scale and shift)
RELATIVE = "relative"  # depth up to scale
METRIC_MM = "metric-mm"  # depth in millimetres
KINDS = (RELATIVE_INVERSE, RELATIVE, METRIC_MM)


def check_kind(kind: str) -> str:
    """`kind` itself when it is one of `KINDS`; a ValueError naming the choices otherwise."""
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def is_metric(kind: str) -> bool:
    """Whether depth of `kind` is in millimetres."""
    return kind == METRIC_MM


def unit_of(kind: str, scaled: bool = False) -> str:
    """The unit a view labels depth of `kind` with: "mm" when metric or scaled to a metric reference."""
    return "mm" if scaled or is_metric(kind) else "relative"


def finite_positive(values: np.ndarray) -> np.ndarray:
    """Pixels holding a usable depth: finite and greater than zero (NaN, inf, 0 and negatives are unknown)."""
    values = np.asarray(values)
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (values > 0)

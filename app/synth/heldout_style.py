"""A held-out rendering style: settings the training sampler never draws, to show over-fitting to it.

`heldout_style_settings` keeps the scene geometry and motion of the version-1 sampler and
replaces the look: tissue palettes of their own (`HELDOUT_TISSUES`), two light fibres beside the
lens with a slow fall-off and a tilted spot, coarser tissue patterns, a harder tone curve and
stronger colour. Every range lies outside what `random_settings` (versions 1 and 2) draws.
"""

from __future__ import annotations

import numpy as np

from endodepth.synth.settings import SynthSettings, random_settings

HELDOUT_TISSUES = ("heldout_serosa", "heldout_spleen", "heldout_omentum", "heldout_stomach")


def heldout_style_settings(rng: np.random.Generator, instruments: int = 0) -> SynthSettings:
    """Version-1 geometry with the held-out look (see the module docstring); `instruments` shafts in view."""
    s = random_settings(rng)
    u = rng.uniform
    spread = u(4.5, 6.0)
    angle = u(0, np.pi)
    fibre = (float(spread * np.cos(angle)), float(spread * np.sin(angle)))
    tilt_angle = u(0, 2 * np.pi)
    tilt = u(14, 20)
    count = 1 if s.scene == "tube" else 4
    return s.replace(
        tissues=tuple(str(t) for t in rng.choice(HELDOUT_TISSUES, size=count)),
        lights=(fibre, (-fibre[0], -fibre[1])),
        falloff=u(1.0, 1.3),
        light_tilt=(float(tilt * np.cos(tilt_angle)), float(tilt * np.sin(tilt_angle))),
        texture_scale=u(1.8, 2.5),
        gamma=u(2.7, 3.0),
        saturation=u(1.35, 1.5),
        spot_exponent=u(6.5, 8.0),
        instruments=instruments,
    )

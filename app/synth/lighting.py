"""The endoscope's light: one or more fibres near the lens, a spot whose axis may be tilted, a fall-off law.

The default (one light at the camera centre, axis along the view, inverse square) is the
generator's version-1 light; the geometry for it is computed exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from endodepth.synth.settings import SynthSettings


@dataclass(frozen=True)
class Lighting:
    """Spot exponent, fall-off exponent, light positions (x, y) mm in the lens plane, spot tilt (deg)."""

    spot_exponent: float = 1.5
    falloff: float = 2.0
    lights: tuple[tuple[float, float], ...] = ((0.0, 0.0),)
    tilt: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def from_settings(cls, s: SynthSettings) -> Lighting:
        """The light a sequence's settings describe."""
        return cls(s.spot_exponent, s.falloff, tuple(tuple(p) for p in s.lights), tuple(s.light_tilt))

    @property
    def positions(self) -> np.ndarray:
        """(k, 3) camera-frame light positions in mm."""
        return np.array([(x, y, 0.0) for x, y in self.lights], np.float64)

    @property
    def axis(self) -> np.ndarray:
        """Unit spot axis in the camera frame."""
        a = np.array([np.tan(np.radians(self.tilt[0])), np.tan(np.radians(self.tilt[1])), 1.0])
        return a / np.linalg.norm(a)

    def geometry(self, rays_cam: np.ndarray, dirs: np.ndarray, t_hit: np.ndarray, rotation: np.ndarray
                 ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per light: unit vectors from the hits to it (world frame, (n, 3)), distances (n,) and the
        cosine of the angle between the spot axis and the direction to the hit (n,)."""
        ray_len = np.sqrt((rays_cam * rays_cam).sum(1))
        centred = self.lights == ((0.0, 0.0),) and self.tilt == (0.0, 0.0)
        if centred:
            yield -dirs / ray_len[:, None], t_hit * ray_len, 1 / ray_len
            return
        axis = self.axis.astype(np.float32)
        points = t_hit[:, None] * rays_cam
        for position in self.positions.astype(np.float32):
            to_light_cam = position - points
            distance = np.sqrt((to_light_cam * to_light_cam).sum(1))
            unit_cam = to_light_cam / distance[:, None]
            cos_axis = -(unit_cam @ axis)
            yield (unit_cam @ rotation.T).astype(np.float32), distance, cos_axis

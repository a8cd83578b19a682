"""Scene, camera, light and sensor settings of a synthetic sequence, and their random sampler.

Seeds: `render_sequence(..., seed)` and `random_settings(np.random.default_rng(seed))` are the
whole description of a sequence. Seeds below `HELDOUT_SEED_START` are for training; seeds from
`HELDOUT_SEED_START` on are held out for evaluation and must never be trained on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, fields

import numpy as np

HELDOUT_SEED_START = 1_000_000
SCENES = ("tube", "surface")


def is_heldout(seed: int) -> bool:
    """True for seeds reserved for evaluation (never train on them)."""
    return seed >= HELDOUT_SEED_START


@dataclass
class SynthSettings:
    """Everything that shapes a sequence besides its seed and size. Lengths in mm, angles in degrees."""

    scene: str = "tube"
    fps: float = 25.0
    focal: float = 0.82  # fx = fy = focal * width (square pixels)
    baseline_mm: float = 4.5
    # tube (colon-like lumen)
    tube_radius: float = 24.0
    fold_depth: float = 0.28  # haustral fold height as a fraction of the radius
    fold_spacing: float = 32.0
    bend: float = 0.6  # 0 straight .. 1 strongest bending that does not self-intersect
    triangularity: float = 0.06
    # surface (folded tissue seen from above)
    distance: float = 70.0  # mean working distance
    distance_var: float = 0.35
    tilt: float = 30.0  # mean angle between the view and the surface normal
    fold_count: int = 4
    fold_height: float = 8.0
    loop_count: int = 2  # organ loops (bowel, lobes) lying on the surface
    # motion
    speed: float = 1.0  # mm per frame
    look_around: float = 15.0  # view direction sway
    roll: float = 30.0
    # tissue appearance
    tissues: tuple[str, ...] = ()  # tissue names per object; empty: the scene's defaults
    tissue_jitter: float = 0.15
    vessel_density: float = 1.0
    bumpiness: float = 1.0
    specular: float = 1.0
    shininess: float = 120.0
    # light and sensor
    spot_exponent: float = 1.5  # light falls off as cos(angle to the optical axis)^n
    light_variation: float = 0.1
    exposure: float = 0.8  # auto-exposure target for the 95th percentile of radiance
    vignetting: float = 0.3
    fov_mask: bool = True
    fov_radius: float = 1.02  # circle radius as a fraction of half the image width
    shot_noise: float = 0.002
    read_noise: float = 0.003
    blur: float = 0.0  # Gaussian sigma in pixels at 320 px width
    saturation: float = 1.0
    gamma: float = 2.2
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    # randomisation added with generator version 2 (the defaults render exactly as version 1)
    texture_scale: float = 1.0  # tissue pattern size factor (texel size times this)
    fine_texture: float = 0.0  # strength of sub-millimetre speckle (pores, wet glints) in the mottling
    falloff: float = 2.0  # irradiance ~ distance^-falloff (2: a point light)
    lights: tuple[tuple[float, float], ...] = ((0.0, 0.0),)  # light positions (x, y) in mm in the lens plane
    light_tilt: tuple[float, float] = (0.0, 0.0)  # spot axis tilt (x, y) in degrees: an off-centre light spot
    principal_offset: tuple[float, float] = (0.0, 0.0)  # principal point shift as fractions of (width, height)
    fov_centre: tuple[float, float] = (0.0, 0.0)  # field-of-view circle centre shift in half image widths
    instruments: int = 0  # metal instrument shafts in front of the tissue (synth.instruments)

    def replace(self, **changes) -> SynthSettings:
        """A copy with some fields changed; unknown names raise TypeError."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown synth settings: {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        """JSON-ready dictionary (stored in the plain layout's meta.json)."""
        return asdict(self)


TUBE_TISSUES = ("mucosa", "mucosa_pale", "mucosa_red")
SURFACE_TISSUES = ("peritoneum", "liver", "fat", "bowel", "mucosa", "mucosa_red")


GENERATOR_VERSIONS = (1, 2)


def random_settings(rng: np.random.Generator, scene: str | None = None, version: int = 1) -> SynthSettings:
    """Wide random variation of geometry, motion, tissue, light and sensor (for training data).

    Version 2 draws everything version 1 draws, in the same order, then the domain randomisation
    (`randomise_v2`): a seed gives the same scene under both, and version-1 sets stay reproducible.
    """
    if version not in GENERATOR_VERSIONS:
        raise ValueError(f"unknown generator version {version}; choose from {GENERATOR_VERSIONS}")
    settings = _random_settings_v1(rng, scene)
    return randomise_v2(rng, settings) if version == 2 else settings


def randomise_v2(rng: np.random.Generator, s: SynthSettings) -> SynthSettings:
    """Domain randomisation towards real footage: texture scales, light model, camera, instruments, sensor."""
    u = rng.uniform
    offset = tuple(float(v) for v in u(-3.0, 3.0, 2))
    lights = (offset,) if rng.random() < 0.6 else (offset, tuple(float(v) for v in u(-4.0, 4.0, 2)))
    return s.replace(
        texture_scale=float(np.exp(u(np.log(0.4), np.log(1.6)))),
        fine_texture=u(0.0, 1.0),
        falloff=u(1.4, 2.4),
        lights=lights,
        light_tilt=tuple(float(v) for v in u(-12.0, 12.0, 2)),
        principal_offset=tuple(float(v) for v in u(-0.05, 0.05, 2)),
        fov_centre=tuple(float(v) for v in u(-0.06, 0.06, 2)),
        focal=u(0.55, 1.1),
        spot_exponent=u(0.3, 6.0),
        exposure=u(0.5, 1.8),
        vignetting=u(0.0, 0.8),
        specular=u(0.2, 3.0),
        white_balance=tuple(float(v) for v in u(0.75, 1.25, 3)),
        instruments=int(rng.choice([0, 1, 1, 2, 3])),
    )


def _random_settings_v1(rng: np.random.Generator, scene: str | None = None) -> SynthSettings:
    """Version 1 of the sampler (the bundled model's training data): unchanged draws."""
    scene = scene if scene in SCENES else str(rng.choice(SCENES))
    u = rng.uniform
    if scene == "tube":
        tissues = (str(rng.choice(TUBE_TISSUES)),)
    else:
        tissues = tuple(str(t) for t in rng.choice(SURFACE_TISSUES, size=4))
    return SynthSettings(
        scene=scene,
        focal=u(0.72, 0.95),
        baseline_mm=u(4.0, 5.0),
        tube_radius=u(20, 36),
        fold_depth=u(0.1, 0.4),
        fold_spacing=u(22, 45),
        bend=u(0.0, 1.0),
        triangularity=u(0.0, 0.12),
        distance=u(35, 120),
        distance_var=u(0.1, 0.45),
        tilt=u(0, 50),
        fold_count=int(rng.integers(0, 8)),
        fold_height=u(3, 15),
        loop_count=int(rng.integers(0, 4)),
        speed=u(0.3, 2.0),
        look_around=u(5, 50),
        roll=u(0, 90),
        tissues=tissues,
        tissue_jitter=u(0.05, 0.3),
        vessel_density=u(0.3, 2.0),
        bumpiness=u(0.3, 1.8),
        specular=u(0.3, 2.0),
        shininess=float(np.exp(u(np.log(40), np.log(300)))),
        spot_exponent=u(0.5, 4.0),
        light_variation=u(0.0, 0.25),
        exposure=u(0.5, 1.2),
        vignetting=u(0.0, 0.6),
        fov_mask=bool(rng.random() < 0.5),
        fov_radius=u(0.9, 1.2),
        shot_noise=float(np.exp(u(np.log(3e-4), np.log(1e-2)))),
        read_noise=float(np.exp(u(np.log(5e-4), np.log(1e-2)))),
        blur=float(u(0, 1.2) if rng.random() < 0.5 else 0.0),
        saturation=u(0.8, 1.3),
        gamma=u(1.9, 2.5),
        white_balance=tuple(float(v) for v in u(0.88, 1.12, 3)),
    )

"""Endoscopy domains of the synthetic generator: laparoscopy, colonoscopy and sinus scenes at their depth ranges.

A domain is a scene family drawn by `random_settings` and then narrowed: laparoscopy is the folded
surface seen from 30-90 mm (depth mostly within 1-150 mm), colonoscopy the haustral tube of radius
16-30 mm (1-100 mm), sinus a narrow, shallow-folded pale tube of radius 4-8 mm (1-50 mm). The
texture is sized in millimetres, so its apparent scale tells the domains apart as it does in real
footage. The ranges are those of `endodepth.models.metric_router.ENDOSCOPY_DOMAINS`' heads.
"""

from __future__ import annotations

import numpy as np

from endodepth.synth.settings import SynthSettings, random_settings

DOMAINS = ("laparoscopy", "colonoscopy", "sinus")


def domain_settings(domain: str, rng: np.random.Generator, version: int = 1) -> SynthSettings:
    """Settings of one sequence of `domain`: the generator's draws for its scene, then the domain's own."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; choose from {', '.join(DOMAINS)}")
    u = rng.uniform
    if domain == "laparoscopy":
        s = random_settings(rng, scene="surface", version=version)
        return s.replace(distance=u(30, 90), tilt=u(0, 35))
    s = random_settings(rng, scene="tube", version=version)
    if domain == "colonoscopy":
        return s.replace(tube_radius=u(16, 30))
    radius = u(4, 8)
    shrink = radius / s.tube_radius
    return s.replace(
        tube_radius=radius, fold_depth=u(0.02, 0.12), fold_spacing=s.fold_spacing * shrink * 2,
        speed=s.speed * shrink * 2, tissues=("mucosa_pale",), specular=u(1.0, 2.5), bumpiness=u(1.0, 2.0),
    )

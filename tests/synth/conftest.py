"""Scenes with known geometry for the synthetic-data tests."""

import numpy as np
import pytest

from endodepth.synth import Scene
from endodepth.synth.geometry import grid_mesh
from endodepth.synth.texture import CHANNELS, TissueTexture
from endodepth.synth.tissues import tissue_row


def plane_scene(z0: float, tilt_deg: float = 0.0, poses: np.ndarray | None = None) -> Scene:
    """A wide plane z = z0 + y tan(tilt) in front of a camera at the origin looking along +z.

    The texture is uniform (all fields zero), so every point has the same albedo.
    """
    xs = np.linspace(-600.0, 600.0, 61)
    x, y = np.meshgrid(xs, xs)
    points = np.stack([x, y, z0 + y * np.tan(np.radians(tilt_deg))], -1)
    mesh = grid_mesh(points, np.stack([x, y], -1), tissue=0)
    tissues = tissue_row("mucosa", np.random.default_rng(0), 0.0)[None]
    flat = [np.zeros((32, 32, CHANNELS), np.float32), np.zeros((16, 16, CHANNELS), np.float32)]
    return Scene(mesh, tissues, TissueTexture(flat, 0.25), np.eye(4)[None] if poses is None else poses)


@pytest.fixture
def make_plane():
    return plane_scene

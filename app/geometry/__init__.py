"""Geometry from depth: TSDF fusion, odometry and surface comparison (3D reconstruction)."""

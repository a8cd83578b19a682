"""Colormaps and range policies, back-projection to point clouds, masks."""

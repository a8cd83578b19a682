"""EndoDepth: depth visualization for endoscopic surgical video."""

__version__ = "0.1.0"

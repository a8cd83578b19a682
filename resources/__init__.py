"""Icons, stylesheet and the bundled sample clip."""

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"


def sample_clip_path() -> Path:
    """The bundled synthetic sample clip (640x512 mp4, with endoscope_calibration.yaml beside it)."""
    return SAMPLE_DIR / "sample.mp4"

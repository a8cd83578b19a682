"""Reading and writing endoscopic data: video and image sources, SCARED, calibration, exports."""

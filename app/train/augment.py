"""Training augmentation: flips and colour jitter ("standard"), or that plus what real endoscope
footage does to an image and the renderer does not ("heavy"): colour casts, over-exposure, blur
and motion blur, chromatic aberration, sensor noise, smoke, blood-like dark patches and JPEG
artefacts. "palette" adds to "heavy" what breaks the tissue palette as a depth cue: grayscale,
channel shuffles and a gamma per channel. None of them changes the depth, only the flips move it
with the image.
"""

from __future__ import annotations

import cv2
import numpy as np

AUGMENTATIONS = ("standard", "heavy", "palette")


def augment(rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator, level: str = "standard",
            flips: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Random flips (image and depth together; unless `flips` is False, as for a stereo pair) and colour
    jitter; `level` "heavy" adds `degrade`, "palette" also `scramble_palette`."""
    if level not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {level!r}; choose from {', '.join(AUGMENTATIONS)}")
    rgb, depth = rgb.copy(), depth.copy()
    for i in range(len(rgb) if flips else 0):
        if rng.random() < 0.5:
            rgb[i], depth[i] = rgb[i, :, ::-1], depth[i, :, ::-1]
        if rng.random() < 0.5:
            rgb[i], depth[i] = rgb[i, ::-1], depth[i, ::-1]
    b = len(rgb)
    heavy = level != "standard"
    cast, bright, gam = ((0.78, 1.25), (0.45, 1.9), (0.65, 1.5)) if heavy else ((0.85, 1.15), (0.6, 1.4), (0.8, 1.25))
    gain = rng.uniform(*cast, (b, 1, 1, 3)) * rng.uniform(*bright, (b, 1, 1, 1))
    gamma = rng.uniform(*gam, (b, 1, 1, 1))
    x = (rgb.astype(np.float32) / 255.0) ** gamma.astype(np.float32) * gain.astype(np.float32)
    out = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    if level == "palette":
        out = np.stack([scramble_palette(img, rng) for img in out])
    if heavy:
        out = np.stack([degrade(img, rng) for img in out])
    return out, depth


def scramble_palette(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uint8 image with its colours made useless as a tissue label: grayscale (p 0.2), else a
    channel shuffle (p 0.3) and a gamma per channel (p 0.5)."""
    if rng.random() < 0.2:
        lum = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.repeat((lum + 0.5).astype(np.uint8)[..., None], 3, axis=2)
    if rng.random() < 0.3:
        img = img[..., rng.permutation(3)]
    if rng.random() < 0.5:
        x = (img.astype(np.float32) / 255.0) ** rng.uniform(0.7, 1.4, 3).astype(np.float32)
        img = (x * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(img)


def degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uint8 image through a random subset of real-footage degradations."""
    x = img.astype(np.float32) / 255.0
    h, w = x.shape[:2]
    if rng.random() < 0.3:
        x = _blend(x, _blob(rng, h, w) * rng.uniform(0.2, 0.6), rng.uniform(0.75, 0.95, 3))  # smoke
    if rng.random() < 0.25:
        stain = _blob(rng, h, w, threshold=0.6) * rng.uniform(0.5, 0.95)
        x *= 1 - stain[..., None] * (1 - np.array([0.45, 0.06, 0.05], np.float32))  # blood
    if rng.random() < 0.3:
        lum = x.mean(axis=2, keepdims=True)
        x = np.clip(lum + rng.uniform(0.5, 1.5) * (x - lum), 0, 1)
    if rng.random() < 0.3:
        x = _chromatic(x, rng.uniform(0.003, 0.012))
    if rng.random() < 0.3:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.8))
    elif rng.random() < 0.3:
        x = _motion_blur(x, int(rng.integers(3, 10)), rng.uniform(0, 180))
    if rng.random() < 0.5:
        x = x + rng.normal(0, rng.uniform(0.005, 0.03), x.shape).astype(np.float32)
    out = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    if rng.random() < 0.5:
        _, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 80))])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def _blob(rng: np.random.Generator, h: int, w: int, threshold: float = 0.0) -> np.ndarray:
    """A smooth random (H, W) mask in [0, 1]: low-frequency noise above `threshold`."""
    coarse = rng.standard_normal((4, 5)).astype(np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    field = (field - field.min()) / (np.ptp(field) + 1e-6)
    return np.clip((field - threshold) / (1 - threshold + 1e-6), 0, 1)


def _blend(x: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """`x` covered by a veil of `colour` with per-pixel opacity `alpha`."""
    return x * (1 - alpha[..., None]) + alpha[..., None] * colour.astype(np.float32)


def _chromatic(x: np.ndarray, amount: float) -> np.ndarray:
    """Lateral chromatic aberration: red magnified and blue shrunk by `amount` about the centre."""
    h, w = x.shape[:2]
    out = x.copy()
    for channel, scale in ((0, 1 + amount), (2, 1 - amount)):
        m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0, scale)
        out[..., channel] = cv2.warpAffine(x[..., channel], m, (w, h), borderMode=cv2.BORDER_REFLECT)
    return out


def _motion_blur(x: np.ndarray, length: int, angle: float) -> np.ndarray:
    """Blur along a line of `length` pixels at `angle` degrees (camera shake)."""
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2] = 1
    m = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1)
    kernel = cv2.warpAffine(kernel, m, (length, length))
    return cv2.filter2D(x, -1, kernel / max(kernel.sum(), 1e-6))

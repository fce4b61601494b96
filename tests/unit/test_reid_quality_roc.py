"""Which crops are embedded (whole, unoccluded, person-shaped), and the ROC arithmetic of the re-ID bench."""

from __future__ import annotations

import numpy as np
import pytest

from devkit.bench.reid import GtCrops, Separation, single_crop_separation, track_separation
from edge_agent.tracking.quality import usable_crops

W, H = 640, 480


@pytest.mark.parametrize(
    ("name", "boxes", "usable"),
    [
        ("whole person, alone", [[100, 100, 150, 250]], [True]),
        ("cut by the left edge", [[0, 100, 50, 250]], [False]),
        ("cut by the bottom edge", [[100, 300, 150, H]], [False]),
        ("squat (crouching or a detection of a cart)", [[100, 100, 200, 200]], [False]),
        ("needle thin", [[100, 100, 110, 300]], [False]),
        ("half hidden: the small one is covered, the big one barely",
         [[100, 100, 200, 350], [150, 150, 200, 250]], [True, False]),
        ("side by side, touching only", [[100, 100, 150, 250], [150, 100, 200, 250]], [True, True]),
    ],
)
def test_usable_crops(name: str, boxes: list, usable: list[bool]) -> None:
    assert usable_crops(np.array(boxes, float), W, H).tolist() == usable, name


@pytest.mark.parametrize(
    ("fpr", "threshold", "tpr"),
    [
        (0.0, 0.9 + 1e-6, 0.25),  # nothing different may pass: above the top different score
        (0.1, 0.5 + 1e-6, 0.75),  # one of ten may pass: just above the second highest
        (0.2, 0.4 + 1e-6, 1.0),
    ],
)
def test_operating_point(fpr: float, threshold: float, tpr: float) -> None:
    sep = Separation(same=np.array([0.95, 0.8, 0.6, 0.45]),
                     different=np.array([0.9, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2, -0.3]))
    op = sep.at_fpr(fpr)
    assert op.threshold == pytest.approx(threshold) and op.tpr == tpr
    assert (sep.different >= op.threshold).mean() <= fpr


def _unit(*v: float) -> np.ndarray:
    a = np.asarray(v, np.float32)
    return a / np.linalg.norm(a)


def test_pairs_are_same_id_apart_in_time_vs_different_ids_at_once() -> None:
    # ids 1 and 2 in frames 1 and 30; id 3 only in frame 30 and not usable.
    crops = GtCrops(frame=np.array([1, 1, 30, 30, 30]), ident=np.array([1, 2, 1, 2, 3]),
                    good=np.array([True, True, True, True, False]),
                    vectors=np.stack([_unit(1, 0), _unit(0, 1), _unit(1, 0.1), _unit(0.1, 1), _unit(1, 1)]))
    single = single_crop_separation(crops, min_gap=20)
    assert len(single.same) == 2 and len(single.different) == 1 + 3  # frame 1: (1,2); frame 30: 3 pairs
    usable = single_crop_separation(crops, min_gap=20, good_only=True)
    assert len(usable.different) == 2 and len(usable.same) == 2 and usable.same.min() > 0.99 and usable.different.max() < 0.2
    tracks = track_separation(crops, k=2, step=1, min_gap=20)
    assert len(tracks.same) == 0 and len(tracks.different) == 1  # one 2-crop track per id, spanning 1..30

"""Age bands: presets, labels and re-binning of 1-year age histograms.

The dashboard re-bins stored 1-year histograms with the same functions the edge uses to label
faces and to build a window's histogram, so both always agree on what "18-21" means.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from storelens.wire import AGE_BINS  # one bin per year 0..89, the last bin is 90+

PRESETS: dict[str, tuple[int, ...]] = {
    # Young-skewed stores need the 18-35 range split finely.
    "fine": (0, 13, 18, 22, 26, 31, 36, 46, 56, 66),
    "coarse": (0, 18, 35, 55),
}


def band_edges(spec: str | Sequence[int]) -> tuple[int, ...]:
    """Lower bounds of each band from a preset name or a custom list; ValueError says why not."""
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"unknown age band preset {spec!r}; use one of {', '.join(PRESETS)} or a list")
        return PRESETS[spec]
    edges = tuple(int(v) for v in spec)
    if not edges or edges[0] != 0:
        raise ValueError(f"age bands {list(edges)} must start at 0")
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"age bands {list(edges)} must be strictly increasing")
    if edges[-1] > AGE_BINS - 1:
        raise ValueError(f"age bands {list(edges)}: the last lower bound must be at most {AGE_BINS - 1}")
    return edges


def band_labels(edges: Sequence[int]) -> list[str]:
    """Human labels such as '0-12', '13-17', ..., '66+'."""
    uppers = [b - 1 for b in edges[1:]]
    labels = [f"{lo}-{hi}" if hi > lo else f"{lo}" for lo, hi in zip(edges, uppers, strict=False)]
    return [*labels, f"{edges[-1]}+"]


def band_index(ages: np.ndarray, edges: Sequence[int]) -> np.ndarray:
    """Band index per age (int array); -1 where the age is NaN (no estimate)."""
    ages = np.asarray(ages, dtype=np.float64)
    idx = (
        np.searchsorted(np.asarray(edges, dtype=np.float64), np.floor(np.nan_to_num(ages, nan=0.0)), "right")
        - 1
    )
    return np.where(np.isnan(ages), -1, idx).astype(np.int64)


def band_names(ages: np.ndarray, edges: Sequence[int]) -> np.ndarray:
    """Band label per age; '' where the age is NaN."""
    labels = np.array([*band_labels(edges), ""], dtype=object)
    return labels[band_index(ages, edges)]  # index -1 picks the trailing ''


def rebin_histogram(hist: Sequence[int] | np.ndarray, edges: Sequence[int]) -> np.ndarray:
    """Sum a 91-bin 1-year histogram (0..89, 90+) into the given bands."""
    counts = np.asarray(hist)
    if counts.shape != (AGE_BINS,):
        raise ValueError(f"age histogram has shape {counts.shape}, expected ({AGE_BINS},)")
    return np.add.reduceat(counts, np.asarray(edges, dtype=np.intp))


def age_histogram(ages: np.ndarray) -> np.ndarray:
    """1-year histogram (91 bins) of the finite ages; ages are floored and 90+ share the last bin."""
    ages = np.asarray(ages, dtype=np.float64)
    years = np.clip(np.floor(ages[np.isfinite(ages)]), 0, AGE_BINS - 1).astype(np.intp)
    return np.bincount(years, minlength=AGE_BINS)

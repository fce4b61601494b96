"""Summing stored floor heatmaps into one grid, robust to rows that were stored before the wire bounds.

Ingest now refuses grids over storelens.wire's bounds, but a database may hold older rows: one
window declaring a 3000 x 3000 grid made every heatmap view allocate and send 9 million cells. Here a
row whose grid exceeds the bounds, or whose cells are not [column, row, count] triples, is left out
and counted; cells outside their own row's grid are clipped; rows of different cell sizes are
re-binned onto the coarsest one.
Pure numpy, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from storelens.wire import MAX_HEAT_CELLS, MAX_HEAT_SIDE_CELLS, MIN_HEAT_CELL_M


@dataclass(frozen=True)
class HeatShape:
    width: int
    height: int
    cell_m: float


def shape_of(heat: dict) -> HeatShape | None:
    """The row's declared grid when it is within the wire bounds, else None."""
    try:  # a window without a heatmap ({}) declares no grid: nothing to add, nothing wrong
        width, height = int(heat.get("width_cells") or 0), int(heat.get("height_cells") or 0)
        cell_m = float(heat.get("cell_m", 0.5))
    except (TypeError, ValueError, AttributeError):
        return None
    if not (0 <= width <= MAX_HEAT_SIDE_CELLS and 0 <= height <= MAX_HEAT_SIDE_CELLS):
        return None
    if width * height > MAX_HEAT_CELLS or not cell_m >= MIN_HEAT_CELL_M:
        return None
    return HeatShape(width, height, cell_m)


def cells_array(cells) -> np.ndarray | None:
    """(n, 3) int64 array of [col, row, count]; None when the list is not such triples."""
    if not cells:
        return np.zeros((0, 3), dtype=np.int64)
    try:
        arr = np.asarray(cells, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        return None
    return arr if arr.ndim == 2 and arr.shape[1] == 3 else None


@dataclass(frozen=True)
class Summed:
    counts: np.ndarray  # the chosen cells (all visitors, or the chosen bands), rows x cols
    total: np.ndarray  # all visitors in the same windows: a colour scale that does not move with the band
    cell_m: float
    bands: tuple[str, ...]
    skipped: int  # rows left out (over the bounds, another cell size, malformed cells)
    used: int


def sum_maps(maps: Sequence[dict], bands: Iterable[str] | None = None,
             chosen: Sequence[bool] | None = None) -> Summed:
    """All-visitor totals of every row, and `counts` of the rows marked in `chosen` (default: all):
    their `cells` (bands None) or the union of their `by_band[b]` for b in bands.

    Rows on a finer grid than the coarsest one among them (a seeded past at 1 m, an edge at 0.5 m)
    are re-binned onto the coarsest grid, so no row is lost to a cell-size change."""
    shapes = [shape_of(h) if isinstance(h, dict) else None for h in maps]
    picked = list(chosen) if chosen is not None else [True] * len(maps)
    valid = [(h, s, c) for h, s, c in zip(maps, shapes, picked, strict=True) if s is not None and s.width and s.height]
    cell_m = max((s.cell_m for _h, s, _c in valid), default=0.5)
    size = (max((_scaled(s.height, s.cell_m, cell_m) for _h, s, _c in valid), default=0),
            max((_scaled(s.width, s.cell_m, cell_m) for _h, s, _c in valid), default=0))
    wanted = None if bands is None else set(bands)
    totals, counts, broken = [], [], 0
    for heat, shape, included in valid:
        parts = _row_parts(heat, wanted, included)
        if parts is None:
            broken += 1
            continue
        totals.append(_on_grid(parts[0], shape, cell_m, size))
        counts.extend(_on_grid(p, shape, cell_m, size) for p in parts[1:])
    seen = sorted({b for h, _s, _c in valid for b in (h.get("by_band") or {})})
    skipped = sum(1 for s in shapes if s is None) + broken
    return Summed(_accumulate(counts, size), _accumulate(totals, size), cell_m, tuple(seen), skipped,
                  len(valid) - broken)


def _row_parts(heat: dict, wanted: set[str] | None, included: bool) -> list[np.ndarray] | None:
    """[all cells, *cells that count]; None when any list is not [col, row, count] triples."""
    cells = cells_array(heat.get("cells"))
    if cells is None:
        return None
    if not included:
        return [cells]
    if wanted is None:
        return [cells, cells]
    by_band = heat.get("by_band") or {}
    extra = [cells_array(by_band[b]) for b in wanted if b in by_band]
    return None if any(e is None for e in extra) else [cells, *extra]


def _scaled(cells: int, cell_m: float, target_m: float) -> int:
    return max(1, int(np.ceil(cells * cell_m / target_m - 1e-9)))


def _on_grid(arr: np.ndarray, shape: HeatShape, target_m: float, size: tuple[int, int]) -> np.ndarray:
    """(flat cell index, count) pairs on the summed grid: cells inside their own row's grid only, moved
    onto the coarser grid when the row's cells are finer; negative counts read as 0."""
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    cols, rows, n = arr[:, 0], arr[:, 1], np.clip(arr[:, 2], 0, None)
    inside = (cols >= 0) & (rows >= 0) & (cols < shape.width) & (rows < shape.height)
    cols, rows, n = cols[inside], rows[inside], n[inside]
    if shape.cell_m != target_m:  # cell centres onto the coarser grid
        cols = np.floor((cols + 0.5) * shape.cell_m / target_m).astype(np.int64)
        rows = np.floor((rows + 0.5) * shape.cell_m / target_m).astype(np.int64)
    keep = (cols < size[1]) & (rows < size[0])
    return np.stack([rows[keep] * size[1] + cols[keep], n[keep]], axis=1)


def _accumulate(parts: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """One bincount over every row's cells (a per-row np.add.at was most of a 90-day view)."""
    cells = size[0] * size[1]
    if not parts or not cells:
        return np.zeros(size, dtype=np.int64)
    flat = np.concatenate(parts)
    summed = np.bincount(flat[:, 0], weights=flat[:, 1], minlength=cells)
    return np.rint(summed).astype(np.int64).reshape(size)

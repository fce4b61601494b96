"""Offline analysis of a video file through the full camera pipeline, as fast as it goes.

Used by `storelens analyze` and the tests. A broken file still yields every window up to the
break: the error is kept beside them and raised by the caller after writing them out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge_agent.aggregate import merge_cells
from edge_agent.pipeline import CameraPipeline
from edge_agent.sources.frame import Frame
from edge_agent.sources.video import FileSource
from storelens.agebands import band_edges, band_labels, rebin_histogram
from storelens.config import StorelensConfig
from storelens.config.sources import CameraConfig
from storelens.errors import InputError
from storelens.wire import AGE_BINS, COUNT_FIELDS, PEAK_FIELDS, SUMMED_FIELDS, AggregateWindow

log = logging.getLogger(__name__)


@dataclass
class Analysis:
    windows: list[AggregateWindow]
    frames: int
    seconds: float  # wall-clock processing time
    stage_ms: dict[str, float]
    reprojection_error_m: float | None
    error: InputError | None = None
    extra: dict = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def analyze_video(cfg: StorelensConfig, camera: CameraConfig, max_frames: int | None = None,
                  pipeline: CameraPipeline | None = None,
                  on_frame: Callable[[Frame, CameraPipeline], None] | None = None) -> Analysis:
    """`on_frame(frame, pipeline)` runs after each frame (the audit reads `pipeline.last_tracks` there)."""
    pipeline = pipeline or CameraPipeline.from_config(cfg, camera)
    source = FileSource(camera)
    windows: list[AggregateWindow] = []
    frames, error = 0, None
    t0 = time.perf_counter()
    try:
        for frame in source:
            windows += pipeline.process(frame)
            if on_frame is not None:
                on_frame(frame, pipeline)
            frames += 1
            if max_frames and frames >= max_frames:
                break
    except InputError as exc:
        error = exc
        log.warning("%s", exc)
    finally:
        source.close()
    windows += pipeline.flush()
    mapper = pipeline.floor_mapper
    return Analysis(windows, frames, time.perf_counter() - t0, pipeline.times.per_frame_ms(),
                    mapper.reprojection_error_m if mapper else None, error)


def summarize(result: Analysis, bands: str | list[int] = "fine") -> dict:
    """Totals over all windows: what a store manager reads first."""
    ws = result.windows
    ages = np.sum([w.age_histogram for w in ws], axis=0) if ws else np.zeros(AGE_BINS, int)
    edges = band_edges(bands)
    return {
        **count_totals(ws),
        "frames": result.frames,
        "seconds": round(result.seconds, 2),
        "fps": round(result.fps, 1),
        "windows": len(ws),
        "gap_seconds": round(sum(w.gap_seconds for w in ws), 1),
        "age_histogram": ages.astype(int).tolist(),
        "age_bands": dict(zip(band_labels(edges), rebin_histogram(ages, edges).astype(int).tolist(), strict=True)),
        "heatmap": _merged_heatmap(ws),
        "stage_ms_per_frame": {k: round(v, 2) for k, v in result.stage_ms.items()},
        "floor_reprojection_error_m": result.reprojection_error_m,
        "error": str(result.error) if result.error else None,
    }


def count_totals(windows: list[AggregateWindow]) -> dict[str, int]:
    """Every count field of the wire model over `windows`: summed counts added up, peaks the maximum."""
    totals = {name: int(sum(getattr(w, name) for w in windows)) for name in SUMMED_FIELDS}
    totals.update({name: max((getattr(w, name) for w in windows), default=0) for name in PEAK_FIELDS})
    return {name: totals[name] for name in COUNT_FIELDS}


def _merged_heatmap(windows: list[AggregateWindow]) -> dict:
    last = windows[-1].heatmap if windows else None
    return {
        "cell_m": last.cell_m if last else None,
        "width_cells": last.width_cells if last else 0,
        "height_cells": last.height_cells if last else 0,
        "cells": merge_cells(*(w.heatmap.cells for w in windows)),
    }

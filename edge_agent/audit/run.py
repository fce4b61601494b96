"""The product's side of an audit: the full camera pipeline (the `storelens analyze` path) on a video,
keeping per line what it counted and per frame whom it tracked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge_agent.analyze import analyze_video, summarize
from edge_agent.audit.crossings import LineTally
from edge_agent.audit.scoring import FrameIds
from edge_agent.pipeline import CameraPipeline
from edge_agent.sources.frame import Frame
from storelens.config import StorelensConfig
from storelens.config.sources import CameraConfig
from storelens.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class PipelineRun:
    frames: int
    fps: float
    lines: list[LineTally]  # what each configured line counted
    summary: dict  # `storelens analyze`'s summary: entries, exits, unique_visitors, ...
    tracks: FrameIds  # 1-based frame -> (tracker ids, boxes)
    visitors: FrameIds = field(default_factory=dict)  # the same boxes under each track's final visitor id
    error: InputError | None = None


class _Recorder:
    """Per-frame tracked people; a track's visitor id is read at its last frame (after re-ID decided)."""

    def __init__(self) -> None:
        self.tracks: FrameIds = {}
        self._final: dict[int, int] = {}

    def __call__(self, frame: Frame, pipeline: CameraPipeline) -> None:
        t = pipeline.last_tracks
        ids = np.zeros(0, np.int64) if t.tracker_id is None else t.tracker_id.copy()
        self.tracks[frame.index + 1] = (ids, t.xyxy.copy())
        visitor = t.data.get("visitor")
        if visitor is not None:
            self._final.update(zip(ids.tolist(), np.asarray(visitor).tolist(), strict=True))

    def visitors(self) -> FrameIds:
        return {n: (np.array([self._final.get(int(i), -1 - int(i)) for i in ids], np.int64), boxes)
                for n, (ids, boxes) in self.tracks.items()}


def run_pipeline(cfg: StorelensConfig, camera: CameraConfig, max_frames: int | None = None,
                 progress: Callable[..., None] | None = None) -> PipelineRun:
    pipeline = CameraPipeline.from_config(cfg, camera)
    recorder = _Recorder()

    def on_frame(frame: Frame, pipe: CameraPipeline) -> None:
        recorder(frame, pipe)
        if progress is not None:
            progress(frame, pipe)

    result = analyze_video(cfg, camera, max_frames, pipeline, on_frame=on_frame)
    lines = [LineTally(c.cfg.name, c.entries, c.exits) for c in pipeline.scene.lines]
    return PipelineRun(result.frames, result.fps, lines, summarize(result, cfg.edge.age.bands),
                       recorder.tracks, recorder.visitors(), result.error)

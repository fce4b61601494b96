"""DeepStream detections into the shared analytics: FrameDetections -> CameraPipeline -> edge buffer.

The probe (hardware/probe_adapter.py) hands every frame of every camera to `AnalyticsSink`, which
runs the camera's `CameraPipeline` with the accelerator's detections (`process(..., persons=,
faces=)`: tracking, re-ID, the age vote, lines, zones, dwell, heatmap and windowing are the CPU
path's own code) and pushes closed windows into the same `WindowSink` the CPU edge service
writes to (edge_agent/app.py). Importable without pyds or Gst, so it is unit-tested here.

Pixels: re-ID embeds person crops, so it needs the frame. The probe copies it from an RGBA branch
when asked (DeepStreamSettings.pixels); without pixels re-ID is switched off (each track is its
own visitor) rather than fed made-up images, and the pipeline gets a zero-byte (H, W, 0) array
that carries only the frame size the heatmap needs; any stage that tried to read it would fail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import numpy as np

from edge_agent.clock import utcnow
from edge_agent.sources.frame import Frame
from edge_agent.sources.video import is_live
from edge_agent.supervise import StageSupervisor
from edge_agent.timing import StageFailure
from hardware.probe_adapter import FrameDetections
from storelens.errors import ConfigError

if TYPE_CHECKING:
    from edge_agent.pipeline import CameraPipeline
    from storelens.config import StorelensConfig
    from storelens.wire import AggregateWindow

log = logging.getLogger(__name__)



class WindowPut(Protocol):
    """What the sink needs of edge_agent.app.WindowSink."""

    def put(self, windows: list[AggregateWindow], *, partial: bool = False) -> None: ...


class FrameClock:
    """Frame time per camera: the wall clock for live cameras (their pts restart on every reconnect);
    for files, the wall time of the first frame plus the pts since it, so a file plays out its length.
    """

    def __init__(self, live: Sequence[bool], now: Callable[[], datetime] = utcnow) -> None:
        self._live = list(live)
        self._now = now
        self._origin: dict[int, tuple[datetime, int]] = {}

    def __call__(self, source_id: int, pts_ns: int) -> datetime:
        if self._live[source_id]:
            return self._now()
        start, first_pts = self._origin.setdefault(source_id, (self._now(), pts_ns))
        return start + timedelta(microseconds=(pts_ns - first_pts) / 1000)


def geometry_only(size: tuple[int, int]) -> np.ndarray:
    """A zero-byte stand-in for a frame of `size` (width, height): shape without pixels."""
    width, height = size
    return np.empty((height, width, 0), np.uint8)


class AnalyticsSink:
    """`sink(frame_detections)` per frame (the probe's sink); `flush(partial=...)` at EOS or shutdown.

    `pipelines` are in nvstreammux pad order (= edge.cameras order). With `persons_given` the
    accelerator's persons are used; otherwise the CPU person detector runs on the copied pixels.
    """

    def __init__(self, pipelines: Sequence[CameraPipeline], camera_ids: Sequence[str], windows: WindowPut, *,
                 clock: FrameClock, persons_given: bool,
                 rebuild: Callable[[CameraPipeline], CameraPipeline] | None = None) -> None:
        self._pipelines = list(pipelines)
        self._camera_ids = list(camera_ids)
        # A stage that raises is logged once, counted, and that camera's pipeline rebuilt with its
        # open window kept (edge_agent/supervise.py); the probe and the other cameras go on.
        self._rebuild = rebuild
        self.supervisors = [StageSupervisor(c) for c in self._camera_ids]
        self._windows = windows
        self._clock = clock
        self._persons_given = persons_given
        self._unknown: set[int] = set()
        self.frames = 0

    @classmethod
    def from_config(cls, cfg: StorelensConfig, windows: WindowPut, *, pixels: bool, persons_given: bool,
                    now: Callable[[], datetime] = utcnow) -> AnalyticsSink:
        """One CameraPipeline per edge.cameras entry (PipelineFactory); re-ID off without pixels."""
        from edge_agent.pipeline import PipelineFactory

        if not pixels and not persons_given:
            raise ConfigError("deepstream: no person detector in the pipeline (with_persons off) and no "
                              "pixels for the CPU one: enable persons or the RGBA pixel branch")
        if not pixels and cfg.edge.reid.enabled:
            log.warning("deepstream: no pixels reach the probe, so re-ID is off (each track is its own visitor)")
            cfg = _without_reid(cfg)
        # The accelerator detects faces (and persons, unless it runs without that GIE): no CPU model
        # is loaded for what it does, per camera, only to sit unused.
        factory = PipelineFactory(cfg, cpu_persons=not persons_given, cpu_faces=False)
        cameras = cfg.edge.cameras
        return cls([factory.build(c) for c in cameras], [c.id for c in cameras], windows,
                   clock=FrameClock([is_live(c.url) for c in cameras], now), persons_given=persons_given,
                   rebuild=factory.rebuild)

    def __call__(self, frame: FrameDetections) -> None:
        if not 0 <= frame.source_id < len(self._pipelines):
            self._warn_unknown(frame.source_id)
            return
        image = frame.image if frame.image is not None else geometry_only(frame.size)
        ts = self._clock(frame.source_id, frame.pts_ns)
        camera = Frame(image, ts, frame.frame_num, self._camera_ids[frame.source_id])
        persons = frame.persons if self._persons_given else None
        closed = self._process(frame.source_id, camera, persons, frame.faces)
        self.frames += 1
        if closed:
            self._windows.put(closed)

    def _process(self, source: int, camera: Frame, persons, faces) -> list[AggregateWindow]:
        supervisor, pipeline = self.supervisors[source], self._pipelines[source]
        if supervisor.skip():  # backing off after repeated stage failures: the time counts as a gap
            return pipeline.skip(camera)
        try:
            return pipeline.process(camera, persons=persons, faces=faces)
        except StageFailure as failure:
            supervisor.failed(failure)
            if self._rebuild is not None:
                self._pipelines[source] = self._rebuild(pipeline)
                supervisor.rebuilt()
            return failure.windows

    def flush(self, *, partial: bool) -> int:
        """Close every camera's current window into the sink; `partial` when stopped by a signal
        (a restart within the same window merges both halves), not at end of stream."""
        count = 0
        for pipeline, supervisor in zip(self._pipelines, self.supervisors, strict=True):
            try:
                windows = pipeline.flush()
            except StageFailure as failure:
                supervisor.failed(failure)
                windows = failure.windows
            if windows:
                self._windows.put(windows, partial=partial)
                count += len(windows)
        return count

    def _warn_unknown(self, source_id: int) -> None:
        if source_id not in self._unknown:  # once per source, not once per frame
            self._unknown.add(source_id)
            log.warning("deepstream: frame from source %d, but only %d camera(s) configured; ignored",
                        source_id, len(self._pipelines))


def _without_reid(cfg: StorelensConfig) -> StorelensConfig:
    reid = cfg.edge.reid.model_copy(update={"enabled": False})
    return cfg.model_copy(update={"edge": cfg.edge.model_copy(update={"reid": reid})})

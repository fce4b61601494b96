"""`storelens edge run`: cameras -> CameraPipeline (one thread each) -> edge buffer, until SIGTERM.

On SIGTERM every camera's current window is flushed into the buffer and remembered as a partial,
so a restart within the same window merges both halves (edge_agent/resume.py). Nothing is
stamped until the wall clock is sane (edge_agent/clock.py). If Redis is briefly unavailable,
windows wait in memory and are retried; the failure and the recovery are each logged once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import redis

from edge_agent.attributes.visibility import FaceSummary
from edge_agent.buffer import EdgeBuffer, open_buffer
from edge_agent.clock import utcnow, wait_until_sane
from edge_agent.live_status import EdgeStatus
from edge_agent.resume import PartialStore, merge_windows
from storelens.errors import ConfigError, StorelensError, UnavailableError
from storelens.linkstate import LinkState
from storelens.wire import AggregateWindow, CameraHealth

log = logging.getLogger(__name__)

HEALTH_EVERY_S = 5.0


class WindowSink:
    """Thread-safe path from camera threads into the buffer, merging resumed partial windows."""

    def __init__(self, buffer: EdgeBuffer, partials: PartialStore) -> None:
        self.buffer = buffer
        self.partials = partials
        self.state = LinkState("edge buffer (Redis)", log)
        self._lock = threading.Lock()
        self._waiting: deque[tuple[AggregateWindow, bool]] = deque()
        self.appended = 0

    def put(self, windows: list[AggregateWindow], *, partial: bool = False) -> None:
        with self._lock:
            self._waiting.extend((w, partial) for w in windows)
            self._drain()

    def retry(self) -> int:
        """Try the windows that are waiting for Redis again; returns how many still wait."""
        with self._lock:
            self._drain()
            return len(self._waiting)

    def _drain(self) -> None:
        try:
            while self._waiting:
                window, partial = self._waiting[0]
                self._write(window, partial)
                self._waiting.popleft()
            self.state.recovered()
        except redis.RedisError as exc:
            self.state.failed(f"{exc} ({len(self._waiting)} window(s) held in memory)")

    def _write(self, window: AggregateWindow, partial: bool) -> None:
        earlier = self.partials.take(window)
        self.partials.forget_before(window)  # the box was down past their end (already sent as they were)
        if earlier is not None:
            log.info("camera %s: merging the window %s flushed before the restart", window.camera_id,
                     window.window_start.isoformat())
            window = merge_windows(earlier, window)
        self.buffer.append(window)
        self.partials.note_stamped(window)
        if partial:
            self.partials.remember(window)
        self.appended += 1


@dataclass
class CameraRun:
    camera_id: str
    frames: int = 0
    windows: int = 0
    error: str | None = None


class CameraWorker:
    """One camera: source -> pipeline -> sink, with live health in Redis; one thread."""

    def __init__(self, camera, pipeline, sink: WindowSink, status: EdgeStatus, stop: threading.Event) -> None:
        self.camera = camera
        self.pipeline = pipeline
        self.sink = sink
        self.status = status
        self.stop = stop
        self.run_info = CameraRun(camera.id)

    def run(self) -> None:
        from edge_agent.sources import open_source

        source = None
        try:
            source = open_source(self.camera, self.stop)
            self._loop(source)
        except (StorelensError, OSError) as exc:
            self.run_info.error = str(exc)
            log.error("camera %s: %s; the other cameras keep running", self.camera.id, exc)
            self._health(up=False, fps=0.0, problem="source failed")
        finally:
            self._flush()
            if source is not None:
                source.close()

    def _loop(self, source) -> None:
        started, last_health = time.monotonic(), 0.0
        for frame in source:
            if self.stop.is_set():
                break
            windows = self.pipeline.process(frame)
            self.run_info.frames += 1
            self._emit(windows, partial=False)
            now = time.monotonic()
            if now - last_health >= HEALTH_EVERY_S:
                self._health(up=True, fps=self.run_info.frames / max(now - started, 1e-6))
                last_health = now

    def _flush(self) -> None:
        # Stopped by a signal: the window is incomplete and may resume; a file that ended is final.
        self._emit(self.pipeline.flush(), partial=self.stop.is_set())

    def _emit(self, windows: list[AggregateWindow], *, partial: bool) -> None:
        if windows:
            self.sink.put(windows, partial=partial)
            self.run_info.windows += len(windows)

    def _health(self, *, up: bool, fps: float, problem: str | None = None) -> None:
        faces = self.pipeline.face_health()
        # One label fits the wire; the numbers travel too, so the dashboard re-derives every face problem.
        problem = problem or next(iter(faces.problems()), None)
        health = CameraHealth(camera_id=self.camera.id, up=up, fps=min(fps, 1000.0), problem=problem,
                              last_frame_at=utcnow() if up else None, **_face_fields(faces))
        with contextlib.suppress(redis.RedisError):  # live and best-effort; the sink logs Redis outages once
            self.status.put_camera(health)


def _face_fields(faces: FaceSummary) -> dict:
    """The summary as CameraHealth fields: 0 where nothing was measured, scores clamped to the wire's range."""
    return {"faces_seen": faces.faces_seen, "median_face_px": min(faces.median_face_px or 0.0, 10_000.0),
            "backlight_score": min(max(faces.backlight_stops or 0.0, -10.0), 10.0),
            "small_face_fraction": faces.small_face_fraction or 0.0}


def run_edge(cfg, stop: threading.Event) -> list[CameraRun]:
    """Run every configured camera until `stop` (SIGTERM) or until all sources end."""
    if not cfg.edge.cameras:
        raise ConfigError("edge.cameras: no camera configured")
    from edge_agent.pipeline import pipelines_for

    opened = open_when_sane(cfg, stop)
    if opened is None:
        return []
    buffer, partials = opened
    pipelines = pipelines_for(cfg)  # a missing or corrupt model fails here, in one line, before any thread
    status = EdgeStatus(buffer.client, stream=cfg.sync.stream)
    status.put_edge_info(model_versions=next(iter(pipelines.values())).model_versions, started_at=utcnow())
    sink = WindowSink(buffer, partials)
    workers = [CameraWorker(cam, pipelines[cam.id], sink, status, stop) for cam in cfg.edge.cameras]
    _run_threads(workers, sink, stop)
    left = sink.retry()
    if left:
        log.error("edge stopped with %d window(s) that could not reach the buffer (Redis down)", left)
    log.info("edge stopped: %s", ", ".join(f"{w.run_info.camera_id} {w.run_info.frames} frames "
                                           f"{w.run_info.windows} windows" for w in workers))
    return [w.run_info for w in workers]


def open_when_sane(cfg, stop: threading.Event) -> tuple[EdgeBuffer, PartialStore] | None:
    """The edge buffer and its partials once the clock reads no earlier than the newest window
    already buffered (None: stopped while waiting). Shared with the DeepStream service."""
    buffer = open_buffer(cfg)
    partials = PartialStore(buffer.client, stream=cfg.sync.stream)
    try:
        floor = partials.newest()
    except redis.RedisError as exc:
        raise UnavailableError(f"edge buffer unreachable: {exc}") from None
    return (buffer, partials) if wait_until_sane(stop, floor=floor) else None


def _run_threads(workers: list[CameraWorker], sink: WindowSink, stop: threading.Event) -> None:
    threads = [threading.Thread(target=w.run, name=f"camera-{w.camera.id}") for w in workers]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if sink.retry():  # windows held while Redis was away
            stop.wait(1.0)
        for t in threads:
            t.join(timeout=0.5)

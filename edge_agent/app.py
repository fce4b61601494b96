"""`storelens edge run`: cameras -> CameraPipeline (one thread each) -> edge buffer, until SIGTERM.

On SIGTERM every camera's current window is flushed into the buffer and remembered as a partial,
so a restart within the same window merges both halves (edge_agent/resume.py). A stage that
raises is logged once, counted in live health (`stage_errors`) and the camera's pipeline is
rebuilt with its open window kept (edge_agent/supervise.py): no camera stops silently. Nothing is
stamped until the wall clock is sane (edge_agent/clock.py). Windows reach the buffer through the
WindowSink (edge_agent/sink.py): durably, atomically with their partial, and held in memory (bounded,
counted) while Redis is unavailable; the failure and the recovery are each logged once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import redis

from edge_agent.attributes.visibility import FaceSummary
from edge_agent.buffer import EdgeBuffer, NotDurable, open_buffer
from edge_agent.clock import CLEAR_COMMAND, floor_too_far, utcnow, wait_until_sane
from edge_agent.live_status import EdgeStatus
from edge_agent.resume import PartialStore
from edge_agent.sink import WindowSink
from edge_agent.supervise import StageSupervisor
from edge_agent.timing import StageFailure
from storelens.errors import ConfigError, StorelensError, UnavailableError
from storelens.wire import AggregateWindow, CameraHealth

__all__ = ["WindowSink", "open_when_sane", "run_edge"]

log = logging.getLogger(__name__)

HEALTH_EVERY_S = 5.0


@dataclass
class CameraRun:
    camera_id: str
    frames: int = 0
    windows: int = 0
    error: str | None = None


class CameraWorker:
    """One camera: source -> pipeline -> sink, with live health in Redis; one thread.

    `rebuild(pipeline)` returns a fresh pipeline that carries on the old one's open window
    (PipelineFactory.rebuild); the worker calls it after a stage failure."""

    def __init__(self, camera, pipeline, sink: WindowSink, status: EdgeStatus, stop: threading.Event, *,
                 rebuild=None, supervisor: StageSupervisor | None = None) -> None:
        self.camera = camera
        self.pipeline = pipeline
        self.sink = sink
        self.status = status
        self.stop = stop
        self.rebuild = rebuild
        self.supervisor = supervisor or StageSupervisor(camera.id)
        self.run_info = CameraRun(camera.id)
        self._started = time.monotonic()

    def run(self) -> None:
        from edge_agent.sources import open_source

        source = None
        try:
            source = open_source(self.camera, self.stop)
            self._loop(source)
        except (StorelensError, OSError) as exc:
            self._stopped(str(exc), "source failed")
        except Exception as exc:  # a bug outside every stage (source, rebuild): loud, never a silent thread death
            log.exception("camera %s: worker failed outside the pipeline stages", self.camera.id)
            self._stopped(f"{type(exc).__name__}: {exc}", "camera worker failed")
        finally:
            self._flush()
            if source is not None:
                source.close()

    def _stopped(self, error: str, problem: str) -> None:
        self.run_info.error = error
        log.error("camera %s: %s; this camera stopped, the other cameras keep running", self.camera.id, error)
        self._health(up=False, fps=0.0, problem=problem)

    def _loop(self, source) -> None:
        last_health = 0.0
        for frame in source:
            if self.stop.is_set():
                break
            if self.supervisor.skip():  # backing off after repeated stage failures: time only, as a gap
                self._emit(self.pipeline.skip(frame), partial=False)
                continue
            self._emit(self._process(frame), partial=False)
            self.run_info.frames += 1
            now = time.monotonic()
            if now - last_health >= HEALTH_EVERY_S:
                self._health(up=True, fps=self.run_info.frames / max(now - self._started, 1e-6))
                last_health = now

    def _process(self, frame) -> list[AggregateWindow]:
        try:
            windows = self.pipeline.process(frame)
        except StageFailure as failure:
            self._failed(failure)
            return failure.windows  # closed before the stage failed: they still leave
        self.supervisor.ran_clean()
        return windows

    def _failed(self, failure: StageFailure) -> None:
        self.supervisor.failed(failure)
        if self.rebuild is not None:
            self.pipeline = self.rebuild(self.pipeline)
            self.supervisor.rebuilt()
        self._health(up=True, fps=self.run_info.frames / max(time.monotonic() - self._started, 1e-6))

    def _flush(self) -> None:
        # Stopped by a signal: the window is incomplete and may resume; a file that ended is final.
        try:
            windows = self.pipeline.flush()
        except StageFailure as failure:
            self.supervisor.failed(failure)
            windows = failure.windows  # the open window as it stood: its counts are not lost
        except Exception:  # building the window itself failed: a bug, said loudly with the camera
            log.exception("camera %s: the last window could not be built", self.camera.id)
            return
        self._emit(windows, partial=self.stop.is_set())

    def _emit(self, windows: list[AggregateWindow], *, partial: bool) -> None:
        if windows:
            self.sink.put(windows, partial=partial)
            self.run_info.windows += len(windows)

    def _health(self, *, up: bool, fps: float, problem: str | None = None) -> None:
        faces = self.pipeline.face_health()
        # One label fits the wire; the numbers travel too, so the dashboard re-derives every face problem.
        problem = problem or self.supervisor.problem() or next(iter(faces.problems()), None)
        health = CameraHealth(camera_id=self.camera.id, up=up, fps=min(fps, 1000.0), problem=problem,
                              last_frame_at=utcnow() if up else None, stage_errors=self.supervisor.errors,
                              **_face_fields(faces))
        with contextlib.suppress(redis.RedisError):  # live and best-effort; the sink logs Redis outages once
            self.status.put_camera(health)


def _supervisor(cfg, camera_id: str) -> StageSupervisor:
    pipeline = cfg.edge.pipeline
    return StageSupervisor(camera_id, initial_s=pipeline.restart_initial_s, max_s=pipeline.restart_max_s)


def _face_fields(faces: FaceSummary) -> dict:
    """The summary as CameraHealth fields: 0 where nothing was measured, scores clamped to the wire's range."""
    return {"faces_seen": faces.faces_seen, "median_face_px": min(faces.median_face_px or 0.0, 10_000.0),
            "backlight_score": min(max(faces.backlight_stops or 0.0, -10.0), 10.0),
            "small_face_fraction": faces.small_face_fraction or 0.0}


def run_edge(cfg, stop: threading.Event, ops=None) -> list[CameraRun]:
    """Run every configured camera until `stop` (SIGTERM) or until all sources end. `ops`
    (storelens.ops.ServiceOps) gets the metrics, health checks and watchdog liveness."""
    if not cfg.edge.cameras:
        raise ConfigError("edge.cameras: no camera configured")
    from edge_agent.pipeline import PipelineFactory

    opened = open_when_sane(cfg, stop)
    if opened is None:
        return []
    buffer, partials = opened
    factory = PipelineFactory(cfg)
    # A missing or corrupt model fails here, in one line, before any thread.
    pipelines = {cam.id: factory.build(cam) for cam in cfg.edge.cameras}
    status = EdgeStatus(buffer.client, stream=cfg.sync.stream)
    status.put_edge_info(model_versions=next(iter(pipelines.values())).model_versions, started_at=utcnow())
    sink = WindowSink(buffer, partials, max_held=cfg.sync.hold_max_windows)
    workers = [CameraWorker(cam, pipelines[cam.id], sink, status, stop, rebuild=factory.rebuild,
                            supervisor=_supervisor(cfg, cam.id)) for cam in cfg.edge.cameras]
    if ops is not None:
        from edge_agent.metrics import watch_edge

        watch_edge(ops, cfg, workers, sink, buffer)
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
    # Wait out a clock behind within a closed window; a floor further ahead never blocks the box.
    max_lead = timedelta(minutes=cfg.edge.window_minutes, seconds=60)
    try:
        buffer.ensure_durable()
        last = [partials.newest()]
    except NotDurable as exc:
        raise ConfigError(f"edge buffer {cfg.sync.redis_url}: {exc}") from None
    except redis.RedisError as exc:
        raise UnavailableError(f"edge buffer unreachable: {exc}") from None

    def floor():  # read again on every poll: `storelens sync clear-clock-floor` takes effect at once
        with contextlib.suppress(redis.RedisError):
            last[0] = partials.newest()
        return last[0]

    if not wait_until_sane(stop, floor=floor, max_lead=max_lead):
        return None
    _lower_future_floor(partials, max_lead)
    return buffer, partials


def _lower_future_floor(partials: PartialStore, max_lead: timedelta) -> None:
    now, newest = utcnow(), partials.newest()
    if not floor_too_far(now, newest, max_lead):
        return
    log.error("the newest window this box stamped reaches %s, %.1f h ahead of the clock (%s): the clock ran ahead "
              "then (the cloud refuses windows more than a day ahead) or is behind now. Not waiting: windows are "
              "stamped from the clock from now on. If the clock is wrong, fix NTP; `%s` forgets the floor.",
              newest.isoformat(), (newest - now).total_seconds() / 3600, now.isoformat(), CLEAR_COMMAND)
    partials.lower_floor(now)


def _run_threads(workers: list[CameraWorker], sink: WindowSink, stop: threading.Event) -> None:
    threads = [threading.Thread(target=w.run, name=f"camera-{w.camera.id}") for w in workers]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if sink.retry():  # windows held while Redis was away
            stop.wait(1.0)
        for t in threads:
            t.join(timeout=0.5)

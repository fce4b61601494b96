"""Prometheus metrics, health checks and watchdog liveness of the edge box's two services.

`storelens edge run`: frames, fps, windows and pipeline-stage time and errors per camera, windows
held in memory while Redis is away, and the buffer's backlog and drops. `storelens sync run`: what
the publisher sent, what the cloud acknowledged, the broker link, the off-peak window and the same
backlog. Almost everything is read when Prometheus scrapes (a custom collector over state the
services keep anyway), so the frame loop pays nothing; the only hot-path call is one histogram
observation per stage run (StageTimes.observer).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

log = logging.getLogger(__name__)

# Stage times on a CPU box run from ~1 ms (tracking) to ~100 ms (detection on a big frame).
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Progress:
    """When each camera's frame count last moved (sampled on every scrape, health check and watchdog tick)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._seen: dict[str, tuple[int, float]] = {}
        self._rate: dict[str, tuple[int, float, float]] = {}  # camera -> (frames, at, fps over the last span)
        self._lock = threading.Lock()

    def note(self, camera: str, frames: int) -> float:
        """Seconds since `camera`'s count last changed."""
        now = self.clock()
        with self._lock:
            last = self._seen.get(camera)
            if last is None or last[0] != frames:
                self._seen[camera] = (frames, now)
                return 0.0
            return now - last[1]

    def fps(self, camera: str, frames: int, min_span_s: float = 5.0) -> float:
        """Frames per second over the last span of at least `min_span_s`."""
        now = self.clock()
        with self._lock:
            start = self._rate.get(camera)
            if start is None:
                self._rate[camera] = (frames, now, 0.0)
                return 0.0
            if now - start[1] >= min_span_s:
                fps = (frames - start[0]) / (now - start[1])
                self._rate[camera] = (frames, now, fps)
                return fps
            return start[2]


def _camera_id(worker) -> str:
    return str(worker.camera.id)


def _is_live(worker) -> bool:
    from edge_agent.sources.video import is_live

    return is_live(str(worker.camera.url))


def _held(sink) -> int:
    return int(getattr(sink, "held", 0))


class EdgeRunCollector:
    """Scrape-time metrics and checks over the running edge app's camera workers, sink and buffer."""

    def __init__(self, workers: list, sink, buffer, *, stale_s: float, stage_seconds=None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.workers = workers
        self.stage_seconds = stage_seconds
        self.sink = sink
        self.buffer = buffer
        self.stale_s = stale_s
        self.clock = clock
        self.progress = _Progress(clock)
        self._hung: tuple | None = None

    def describe(self) -> list:
        return []  # nothing to check at registration: every family is produced at scrape time

    def collect(self) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        frames = CounterMetricFamily("storelens_edge_frames", "Frames processed", labels=["camera"])
        windows = CounterMetricFamily("storelens_edge_windows", "AggregateWindows closed", labels=["camera"])
        fps = GaugeMetricFamily("storelens_edge_fps", "Frames per second over the last scrape interval",
                                labels=["camera"])
        up = GaugeMetricFamily("storelens_edge_camera_up", f"1 while the camera delivers frames (none for "
                               f"{self.stale_s:.0f} s = 0)", labels=["camera"])
        errors = CounterMetricFamily("storelens_edge_stage_errors", "Pipeline stage runs that raised",
                                     labels=["camera", "stage"])
        self.observe_stages()
        for worker in self.workers:
            cam, info = _camera_id(worker), worker.run_info
            frames.add_metric([cam], info.frames)
            windows.add_metric([cam], info.windows)
            fps.add_metric([cam], self.progress.fps(cam, info.frames))
            up.add_metric([cam], float(self._camera_problem(worker) is None))
            for stage, count in dict(worker.pipeline.times.errors).items():
                errors.add_metric([cam, stage], count)
        yield from (frames, windows, fps, up, errors)
        held = GaugeMetricFamily("storelens_edge_windows_held", "Windows waiting in memory for the edge buffer")
        held.add_metric([], _held(self.sink))
        yield held
        yield from buffer_families(self.buffer)

    def _camera_problem(self, worker) -> str | None:
        info = worker.run_info
        quiet = self.progress.note(_camera_id(worker), info.frames)
        if getattr(info, "error", None):
            return f"failed: {info.error}"
        if not _is_live(worker):
            return None  # a file ends when it ends: finished, not failing
        if quiet >= self.stale_s:
            return f"no frame for {quiet:.0f} s"
        return None

    def cameras_problem(self) -> str | None:
        problems = [f"{_camera_id(w)} {p}" for w in self.workers if (p := self._camera_problem(w))]
        return "; ".join(problems) or None

    def buffer_problem(self) -> str | None:
        held = _held(self.sink)
        problem = _buffer_problem(self.buffer)
        if held:
            return f"{problem or 'edge buffer refused writes'}: {held} window(s) held in memory"
        return problem

    def observe_stages(self) -> None:
        """Feed each pipeline's stage times into the histogram (again, if a pipeline was rebuilt)."""
        if self.stage_seconds is None:
            return
        for worker in self.workers:
            times = worker.pipeline.times
            if times.observer is None:
                times.observer = StageHistogram(self.stage_seconds, _camera_id(worker))

    def alive(self, stuck_s: float) -> bool:
        """False once any camera's pipeline stage has run longer than `stuck_s` (hung)."""
        self.observe_stages()
        now = time.perf_counter()
        for worker in self.workers:
            running = worker.pipeline.times.running
            if running is not None and now - running[1] > stuck_s:
                if self._hung != (id(worker), running):  # once per hang, not on every watchdog tick
                    self._hung = (id(worker), running)
                    log.error("camera %s: stage %s running for %.0f s: hung", _camera_id(worker), running[0],
                              now - running[1])
                return False
        return True


def buffer_families(buffer) -> Iterable:
    """Backlog, bytes, drops and the oldest window's age of the edge buffer (Redis), read now."""
    import redis
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    up = GaugeMetricFamily("storelens_edge_buffer_up", "1 while the edge buffer (Redis) answers")
    try:
        stats = buffer.stats()
    except (redis.RedisError, OSError):
        up.add_metric([], 0.0)
        return [up]
    up.add_metric([], 1.0)
    depth = GaugeMetricFamily("storelens_edge_buffer_windows", "Windows in the edge buffer not yet acknowledged")
    depth.add_metric([], stats.depth)
    size = GaugeMetricFamily("storelens_edge_buffer_bytes", "Payload bytes in the edge buffer")
    size.add_metric([], stats.bytes)
    pending = GaugeMetricFamily("storelens_edge_buffer_pending", "Windows sent and waiting for the cloud's answer")
    pending.add_metric([], stats.pending)
    appended = CounterMetricFamily("storelens_edge_buffer_appended", "Windows ever written to the buffer")
    appended.add_metric([], stats.appended)
    drops = CounterMetricFamily("storelens_edge_buffer_dropped", "Windows dropped by the buffer bound",
                                labels=["reason"])
    drops.add_metric(["full"], stats.dropped_full)
    drops.add_metric(["too_old"], stats.dropped_age)
    oldest = GaugeMetricFamily("storelens_edge_buffer_oldest_window_age_seconds",
                               "Age of the oldest buffered window's start (0 when empty)")
    oldest.add_metric([], _age_s(stats.oldest_window))
    return [up, depth, size, pending, appended, drops, oldest]


def _age_s(moment: datetime | None) -> float:
    return max(0.0, (datetime.now(UTC) - moment).total_seconds()) if moment else 0.0


class StageHistogram:
    """`observer(stage, seconds)` for one camera's StageTimes: one histogram child per stage, cached."""

    def __init__(self, histogram, camera: str) -> None:
        self._histogram = histogram
        self._camera = camera
        self._children: dict[str, object] = {}

    def __call__(self, stage: str, seconds: float) -> None:
        child = self._children.get(stage)
        if child is None:
            child = self._children[stage] = self._histogram.labels(self._camera, stage)
        child.observe(seconds)


def watch_edge(ops, cfg, workers: list, sink, buffer) -> EdgeRunCollector:
    """Hook the running edge app into `ops` (storelens.ops.ServiceOps): metrics, /healthz, watchdog."""
    from prometheus_client import Histogram

    stage_seconds = Histogram("storelens_edge_stage_seconds", "Wall time of one pipeline stage run",
                              ["camera", "stage"], buckets=STAGE_BUCKETS, registry=ops.registry)
    collector = EdgeRunCollector(workers, sink, buffer, stale_s=cfg.ops.stale_s, stage_seconds=stage_seconds)
    collector.observe_stages()
    ops.registry.register(collector)
    ops.add_check("cameras", collector.cameras_problem)
    ops.add_check("buffer", collector.buffer_problem)
    ops.add_liveness(lambda: collector.alive(cfg.ops.stuck_s))
    ops.ready(f"{len(workers)} camera(s) running")
    return collector


class SyncCollector:
    """Scrape-time metrics and checks of `storelens sync run` (publisher, broker link, schedule, buffer)."""

    def __init__(self, publisher, buffer, link, schedule, *, stale_s: float, receipts=None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.publisher = publisher
        self.receipts = receipts
        self.buffer = buffer
        self.link = link
        self.schedule = schedule
        self.stale_s = stale_s
        self.clock = clock

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator:
        from prometheus_client.core import GaugeMetricFamily

        yield from _stat_counters("storelens_sync", "Publisher", self.publisher.stats)  # sent, acked, refused ...
        if self.receipts is not None:  # receipts from ingest: windows committed or refused by the cloud
            yield from _stat_counters("storelens_sync_cloud", "Receipts from ingest", self.receipts.stats)
        link_up = GaugeMetricFamily("storelens_sync_broker_up", "1 while the MQTT broker has accepted us")
        link_up.add_metric([], float(self.link.state.up))
        yield link_up
        cloud = GaugeMetricFamily("storelens_sync_ingest_heard", "1 while a cloud ingest worker is heard")
        cloud.add_metric([], float(self._ingest_heard()))
        yield cloud
        now = datetime.now(UTC)
        open_ = GaugeMetricFamily("storelens_sync_offpeak_open", "1 inside an upload window (off-peak + splay)")
        open_.add_metric([], float(self.schedule.is_open(now)))
        wait = GaugeMetricFamily("storelens_sync_offpeak_next_seconds", "Seconds until uploads may start (0 = open)")
        wait.add_metric([], self.schedule.seconds_until_open(now))
        yield from (open_, wait)
        yield from buffer_families(self.buffer)

    def _ingest_heard(self) -> bool:
        presence = getattr(self.publisher, "presence", None)
        return bool(presence.ready()) if presence is not None else True

    def loop_problem(self) -> str | None:
        last = getattr(self.publisher, "last_step", None)
        if last is not None and self.clock() - last > self.stale_s + self._longest_wait():
            return f"publisher loop silent for {self.clock() - last:.0f} s"
        return None

    def broker_problem(self) -> str | None:
        return None if self.link.state.up else "MQTT broker not connected (windows wait in the buffer)"

    def _longest_wait(self) -> float:
        settings = self.publisher.settings
        return max(settings.ack_timeout_s, settings.retry_max_s, settings.idle_poll_s)

    def alive(self) -> bool:
        return self.loop_problem() is None


def _stat_counters(prefix: str, what: str, stats) -> Iterator:
    """One counter per numeric field of a stats dataclass, so a new field shows up by itself."""
    from prometheus_client.core import CounterMetricFamily

    for field in dataclasses.fields(stats):
        value = getattr(stats, field.name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            family = CounterMetricFamily(f"{prefix}_{field.name}", f"{what}: {field.name.replace('_', ' ')}")
            family.add_metric([], value)
            yield family


def watch_sync(ops, cfg, publisher, buffer, link, receipts=None) -> SyncCollector:
    """Hook `storelens sync run` into `ops`: metrics, /healthz (loop, broker, buffer), watchdog."""
    collector = SyncCollector(publisher, buffer, link, publisher.schedule, stale_s=cfg.ops.stale_s,
                              receipts=receipts)
    ops.registry.register(collector)
    ops.add_check("publisher", collector.loop_problem)
    ops.add_check("broker", collector.broker_problem)
    ops.add_check("buffer", lambda: _buffer_problem(buffer))
    ops.add_liveness(collector.alive)
    return collector


def _buffer_problem(buffer) -> str | None:
    import redis

    try:
        buffer.client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"edge buffer (Redis) unavailable: {exc}"
    return None

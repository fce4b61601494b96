"""/metrics, /healthz and systemd notifications of the services (storelens/ops.py, systemd.py, metrics modules)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge_agent.buffer import BufferStats
from edge_agent.metrics import EdgeRunCollector, SyncCollector, watch_edge
from edge_agent.timing import StageFailure, StageTimes
from storelens.config import StorelensConfig
from storelens.ops import ServiceOps
from storelens.systemd import Watchdog, notify, watchdog_interval_s


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


class FakeNotify:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(5)

    def messages(self, wait_s: float = 0.0) -> list[str]:
        out, deadline = [], time.monotonic() + wait_s
        self.sock.settimeout(0.05)
        while True:
            try:
                out.append(self.sock.recv(4096).decode())
            except (TimeoutError, BlockingIOError):
                if time.monotonic() >= deadline:
                    return out


@pytest.fixture()
def systemd(tmp_path, monkeypatch) -> FakeNotify:
    path = str(tmp_path / "notify")
    fake = FakeNotify(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield fake
    fake.sock.close()


def test_notify_is_a_no_op_outside_systemd(monkeypatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


def test_notify_sends_one_datagram_of_lines(systemd) -> None:
    assert notify("READY=1", "STATUS=2 camera(s) running")
    assert systemd.messages() == ["READY=1\nSTATUS=2 camera(s) running"]


def test_notify_reaches_an_abstract_socket(monkeypatch) -> None:
    name = f"storelens-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("WATCHDOG=1")
        assert sock.recv(100) == b"WATCHDOG=1"


@pytest.mark.parametrize(("usec", "pid", "expected"), [("2000000", None, 2.0), ("2000000", "self", 2.0),
                                                       ("2000000", "1", None), (None, None, None), ("x", None, None)])
def test_watchdog_interval_is_ours_only(monkeypatch, usec, pid, expected) -> None:
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", str(os.getpid()) if pid == "self" else pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert watchdog_interval_s() == expected


def test_watchdog_is_fed_only_while_the_service_is_alive(systemd) -> None:
    alive = threading.Event()
    alive.set()
    dog = Watchdog(alive.is_set, interval_s=0.1).start()
    try:
        assert systemd.messages(wait_s=0.5).count("WATCHDOG=1") >= 3
        alive.clear()
        time.sleep(0.15)
        systemd.messages()
        assert "WATCHDOG=1" not in systemd.messages(wait_s=0.4)  # hung: systemd will restart us
        alive.set()
        assert "WATCHDOG=1" in systemd.messages(wait_s=0.4)
    finally:
        dog.stop()


def test_watchdog_starves_when_its_check_raises(systemd) -> None:
    dog = Watchdog(lambda: 1 / 0, interval_s=0.1).start()
    try:
        assert systemd.messages(wait_s=0.4) == []
    finally:
        dog.stop()


def test_service_ops_serves_metrics_and_health(systemd) -> None:
    problem: list[str | None] = [None]
    with ServiceOps("test").start_http() as ops:
        ops.add_check("thing", lambda: problem[0])
        ops.ready("running")
        status, body = _get(f"{ops.url}/metrics")
        assert status == 200 and "process_cpu_seconds_total" in body.decode()
        status, body = _get(f"{ops.url}/healthz")
        assert status == 200 and json.loads(body) == {"service": "test", "status": "ok", "checks": {"thing": "ok"}}
        problem[0] = "broker gone"
        status, body = _get(f"{ops.url}/healthz")
        assert status == 503 and json.loads(body)["checks"] == {"thing": "broker gone"}
        assert _get(f"{ops.url}/nothing")[0] == 404
    assert systemd.messages() == ["READY=1\nSTATUS=running", "STOPPING=1"]


def test_a_taken_port_does_not_stop_the_service(caplog) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with ServiceOps("edge", "127.0.0.1", taken.getsockname()[1]) as ops:
            assert ops.url is None
    assert "running without them" in caplog.text


def test_a_broken_check_reports_instead_of_failing_the_endpoint() -> None:
    with ServiceOps("test").start_http() as ops:
        ops.add_check("bad", lambda: 1 / 0)
        status, body = _get(f"{ops.url}/healthz")
    assert status == 503 and "division by zero" in json.loads(body)["checks"]["bad"]


# --- edge run ---------------------------------------------------------------------------------


@dataclass
class _Run:
    frames: int = 0
    windows: int = 0
    error: str | None = None


@dataclass
class _Worker:
    camera: SimpleNamespace
    pipeline: SimpleNamespace
    run_info: _Run = field(default_factory=_Run)


def _worker(cam: str, url: str = "rtsp://10.0.0.5/stream") -> _Worker:
    return _Worker(SimpleNamespace(id=cam, url=url), SimpleNamespace(times=StageTimes()))


class _Buffer:
    def __init__(self) -> None:
        self.client = SimpleNamespace(ping=lambda: True)
        self.oldest = datetime.now(UTC) - timedelta(hours=2)

    def stats(self) -> BufferStats:
        return BufferStats(depth=42, bytes=4200, appended=50, dropped_full=3, dropped_age=1,
                           oldest_entry_at=self.oldest, oldest_window=self.oldest, pending=5, last_ack_window=None)


def test_edge_metrics_per_camera_stage_and_buffer() -> None:
    cfg = StorelensConfig()
    workers = [_worker("door"), _worker("floor")]
    sink = SimpleNamespace(held=2, state=SimpleNamespace(up=True))
    with ServiceOps("edge").start_http() as ops:
        watch_edge(ops, cfg, workers, sink, _Buffer())
        times = workers[0].pipeline.times
        for _ in range(3):
            with times.stage("persons"):
                time.sleep(0.002)
        with pytest.raises(StageFailure), times.stage("faces"):
            raise RuntimeError("boom")
        workers[0].run_info.frames, workers[0].run_info.windows = 120, 2
        samples = _samples(_get(f"{ops.url}/metrics")[1].decode())
    door = (("camera", "door"),)
    assert samples[("storelens_edge_frames_total", door)] == 120
    assert samples[("storelens_edge_windows_total", door)] == 2
    assert samples[("storelens_edge_stage_seconds_count", (("camera", "door"), ("stage", "persons")))] == 3
    assert samples[("storelens_edge_stage_seconds_sum", (("camera", "door"), ("stage", "persons")))] >= 0.006
    assert samples[("storelens_edge_stage_errors_total", (("camera", "door"), ("stage", "faces")))] == 1
    assert samples[("storelens_edge_windows_held", ())] == 2
    assert samples[("storelens_edge_buffer_windows", ())] == 42
    assert samples[("storelens_edge_buffer_dropped_total", (("reason", "full"),))] == 3
    assert samples[("storelens_edge_buffer_dropped_total", (("reason", "too_old"),))] == 1
    assert 7100 < samples[("storelens_edge_buffer_oldest_window_age_seconds", ())] < 7300


def test_edge_health_flags_a_silent_live_camera_but_not_an_ended_file() -> None:
    clock = [0.0]
    workers = [_worker("door"), _worker("file", url="/videos/pets.avi")]
    collector = EdgeRunCollector(workers, SimpleNamespace(held=0), _Buffer(), stale_s=60, clock=lambda: clock[0])
    assert collector.cameras_problem() is None
    clock[0] = 30.0
    workers[0].run_info.frames = 10
    assert collector.cameras_problem() is None
    clock[0] = 95.0  # 65 s without a new frame from door; the file is simply over
    assert collector.cameras_problem() == "door no frame for 65 s"
    workers[0].run_info.error = "cannot open rtsp://10.0.0.5/stream"
    assert "door failed: cannot open" in collector.cameras_problem()


def test_a_hung_stage_starves_the_watchdog() -> None:
    workers = [_worker("door")]
    collector = EdgeRunCollector(workers, SimpleNamespace(held=0), _Buffer(), stale_s=60)
    assert collector.alive(stuck_s=0.05)
    times = workers[0].pipeline.times
    with times.stage("persons"):
        time.sleep(0.08)
        assert not collector.alive(stuck_s=0.05)
    assert collector.alive(stuck_s=0.05)


def test_held_windows_fail_the_buffer_check() -> None:
    collector = EdgeRunCollector([], SimpleNamespace(held=3), _Buffer(), stale_s=60)
    assert "3 window(s) held in memory" in collector.buffer_problem()


# --- sync run ---------------------------------------------------------------------------------


@dataclass
class _PublishStats:
    sent: int = 10
    acked: int = 9
    refused: int = 1
    timed_out: int = 0


@dataclass
class _ReceiptStats:
    receipts: int = 4
    committed: int = 8


def test_sync_metrics_export_every_stat_and_the_link() -> None:
    from edge_agent.uplink.schedule import OffPeakSchedule

    clock = [100.0]
    publisher = SimpleNamespace(stats=_PublishStats(), last_step=100.0, presence=SimpleNamespace(ready=lambda: True),
                                settings=SimpleNamespace(ack_timeout_s=30, retry_max_s=120, idle_poll_s=5))
    link = SimpleNamespace(state=SimpleNamespace(up=False))
    collector = SyncCollector(publisher, _Buffer(), link, OffPeakSchedule(["00:00-24:00"], "UTC"), stale_s=60,
                              receipts=SimpleNamespace(stats=_ReceiptStats()), clock=lambda: clock[0])
    samples = {}
    for family in collector.collect():
        for s in family.samples:
            samples[s.name] = s.value
    assert samples["storelens_sync_sent_total"] == 10 and samples["storelens_sync_refused_total"] == 1
    assert samples["storelens_sync_cloud_committed_total"] == 8
    assert samples["storelens_sync_broker_up"] == 0 and samples["storelens_sync_offpeak_open"] == 1
    assert collector.broker_problem() and collector.alive()
    clock[0] = 100.0 + 60 + 121  # the loop has not come round for longer than its longest wait + stale_s
    assert not collector.alive() and "silent" in collector.loop_problem()


# --- cloud ingest -----------------------------------------------------------------------------


@pytest.mark.parametrize(("reason", "kind"), [
    ("malformed: entries: Input should be >= 0", "malformed"), ("unauthorised: device x of store y", "unauthorised"),
    ("bad topic: too few levels", "bad_topic"), ("oversized: 300000 bytes", "oversized"),
    ("database refused: value too long", "database_refused"), ("42 things", "other")])
def test_dead_letter_reasons_become_bounded_labels(reason: str, kind: str) -> None:
    from cloud_sync.metrics import reason_kind

    assert reason_kind(reason) == kind


def test_ingest_counts_only_what_committed() -> None:
    from cloud_sync.metrics import IngestMetrics

    m = IngestMetrics()
    m.begin()
    m.dead_letter("malformed: x")
    m.begin()  # that transaction rolled back (database down): the retry notes it again
    m.dead_letter("malformed: x")
    m.arrived([SimpleNamespace(window_end=datetime.now(UTC) - timedelta(hours=3))])
    m.flush()
    m.committed(5, (3, 1, 1))
    value = m.registry.get_sample_value
    assert value("storelens_ingest_dead_letters_total", {"reason": "malformed"}) == 1
    assert value("storelens_ingest_windows_stored_total") == 3 and value("storelens_ingest_messages_total") == 5
    assert value("storelens_ingest_window_lag_seconds_count") == 1
    assert value("storelens_ingest_window_lag_seconds_bucket", {"le": "3600.0"}) == 0
    assert value("storelens_ingest_window_lag_seconds_bucket", {"le": "21600.0"}) == 1

"""`sync run` against real Redis + Mosquitto: off-peak gating, bandwidth cap, refusals, status."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from edge_agent.buffer import EdgeBuffer
from edge_agent.live_status import EdgeStatus
from edge_agent.uplink.service import run_sync
from storelens.cli import main
from storelens.config import load_config
from storelens.wire import CameraHealth, HealthMessage
from tests.servers import EVERY_DEVICE_TOPIC, WireTap, make_windows, wait_for, write_config

pytestmark = pytest.mark.integration


@pytest.fixture
def box(fleet, redis_server, tmp_path, monkeypatch):
    """Config factory for an edge box talking to the fleet's broker; password via the environment."""
    monkeypatch.setenv("STORELENS_MQTT_PASSWORD", fleet.passwords["edge-001"])

    def make(**sync):
        store = sync.pop("store_id", "store-001")
        return load_config(write_config(tmp_path / "box.yaml", fleet=fleet, redis_url=redis_server.url,
                                        store=store, sync=sync))
    return make


def _start(cfg):
    stop = threading.Event()
    thread = threading.Thread(target=run_sync, args=(cfg, stop))
    thread.start()
    return stop, thread


def _closed_now() -> str:
    hour = (datetime.now(UTC) + timedelta(hours=2)).hour
    return f"{hour:02d}:00-{(hour + 1) % 24:02d}:00"


def test_outside_offpeak_only_heartbeats_travel(fleet, box, redis_client) -> None:
    buffer = EdgeBuffer(redis_client)
    for w in make_windows(20):
        buffer.append(w)
    EdgeStatus(redis_client).put_camera(CameraHealth(camera_id="door", up=True, fps=7.5,
                                                     last_frame_at=datetime.now(UTC)))
    tap = WireTap(fleet.broker, EVERY_DEVICE_TOPIC)
    stop, thread = _start(box(offpeak=[_closed_now()]))
    wait_for(lambda: any(t.endswith("/health") for t, _p in tap.messages), 10, "a heartbeat")
    time.sleep(1.0)
    stop.set()
    thread.join(15)
    tap.close()
    topics = {t.rsplit("/", 1)[1] for t, _p in tap.messages}
    assert topics == {"health", "status"}  # no aggregates outside the window
    assert buffer.stats().depth == 20
    health = HealthMessage.model_validate_json(next(p for t, p in tap.messages if t.endswith("/health")))
    assert (health.buffer_depth, health.cameras[0].camera_id, health.cameras[0].fps) == (20, "door", 7.5)
    assert health.software_version and health.buffer_oldest_age_s >= 0
    statuses = [p for t, p in tap.messages if t.endswith("/status")]
    assert statuses[0] == b"online" and statuses[-1] == b"offline"


def test_bandwidth_cap_holds_and_everything_is_acked(fleet, box, redis_client) -> None:
    buffer = EdgeBuffer(redis_client)
    windows = make_windows(120)
    total = sum(len(w.to_json()) for w in windows)
    for w in windows:
        buffer.append(w)
    cap = total // 3  # about 3 s of data; the first second is burst
    tap = WireTap(fleet.broker)
    started = time.monotonic()
    stop, thread = _start(box(bandwidth_bytes_per_s=cap, batch_size=25))
    # No ingest here: everything is PUBACKed and stays buffered, awaiting a receipt.
    wait_for(lambda: buffer.stats().awaiting_receipt == len(windows), 30, "every window to be PUBACKed")
    elapsed = time.monotonic() - started
    stop.set()
    thread.join(15)
    tap.close()
    print(f"published {total} B in {elapsed:.2f} s under a cap of {cap} B/s: {total / elapsed:.0f} B/s")
    assert elapsed >= (total - cap) / cap * 0.95
    assert sorted(tap.window_keys()) == sorted((w.device_id, w.camera_id, w.window_start.isoformat()) for w in windows)


def test_a_refused_publish_stays_in_the_buffer_and_is_logged_once(box, redis_client, caplog) -> None:
    buffer = EdgeBuffer(redis_client)
    for w in make_windows(10, store="store-002"):
        buffer.append(w)
    with caplog.at_level(logging.ERROR, logger="cloud_sync"):
        stop, thread = _start(box(store_id="store-002"))  # ACL: edge-001 may not publish for store-002
        wait_for(lambda: buffer.stats().pending == 10, 10, "the batch to be tried")
        time.sleep(2.5)  # backoff, then a retry: still refused
        stop.set()
        thread.join(15)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    # The broker drops a client after a refused publish, so the link flaps: each fact is logged once.
    assert sum("refused a publish: Not authorized" in e for e in errors) == 1
    assert len(errors) == len(set(errors)) <= 2
    assert buffer.stats().depth == 10  # nothing lost


def test_sync_status_shows_backlog_oldest_last_ack_and_next_window(box, redis_client, tmp_path, capsys) -> None:
    buffer = EdgeBuffer(redis_client)
    windows = make_windows(12)
    for w in windows:
        buffer.append(w)
    buffer.ack(buffer.read_batch("edge-001", 4))
    box(offpeak=["02:00-04:00", "23:00-01:00"])
    assert main(["sync", "status", "--config", str(tmp_path / "box.yaml"), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["backlog"], status["pending"], status["dropped_full"]) == (8, 0, 0)
    assert status["oldest_window"] == windows[4].window_start.isoformat()
    assert status["last_ack_window"] == windows[3].window_start.isoformat()
    from edge_agent.uplink.schedule import splay_minutes_for

    delay_s = 60 * splay_minutes_for("edge-001", 30)  # the device's fixed splay of every off-peak start
    opens = datetime.fromisoformat(status["next_offpeak"])
    assert status["offpeak_open"] or abs(opens.minute * 60 + opens.second - delay_s) <= 1


def test_sync_status_on_unreachable_redis_is_one_line(tmp_path, capsys) -> None:
    (tmp_path / "c.yaml").write_text("sync: {redis_url: 'redis://127.0.0.1:1/0'}\n")
    assert main(["sync", "status", "--config", str(tmp_path / "c.yaml")]) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("storelens: error: edge buffer redis://127.0.0.1:1/0:")

"""Failure tests with real processes: each prints sent / arrived / duplicated; expected all, all, none.

`storelens sync run` and `storelens cloud ingest` run as subprocesses and are killed for real;
Redis, Mosquitto and the database are real servers. Every wait is bounded.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import pytest
from sqlmodel import Session, select

from cloud_sync.db.models import DeadLetter, HealthRecord
from devkit.servers.process import stop_process
from edge_agent.buffer import EdgeBuffer
from storelens.cli import main
from tests.integration.test_broker_acl import Probe
from tests.servers import make_windows, report, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

THREE_DAYS_4_CAMERAS = 3 * 4 * 96  # 15-minute windows


def _fill(rig, windows) -> list[tuple[str, str, str]]:
    for w in windows:
        rig.buffer.append(w)
    return [(w.device_id, w.camera_id, w.window_start.isoformat()) for w in windows]


def _check(name: str, rig, sent: list) -> None:
    arrived = rig.wait_arrived(len(sent))
    wire = Counter(k for k in rig.tap.window_keys() if k in set(sent))
    duplicated = len(arrived) - len(set(arrived))
    report(name, sent=len(sent), arrived=len(set(arrived) & set(sent)), duplicated=duplicated,
           redelivered=sum(wire.values()) - len(wire))
    assert set(arrived) == set(sent) and duplicated == 0


def _health(rig) -> dict | None:
    with Session(rig.fleet.engine) as session:
        row = session.get(HealthRecord, "edge-001")
        return row.payload if row and row.payload else None


def _status(rig) -> str | None:
    with Session(rig.fleet.engine) as session:
        row = session.get(HealthRecord, "edge-001")
        return row.status if row else None


def _lines(text: str, needle: str) -> int:
    return sum(needle in line for line in text.splitlines())


def test_multi_day_broker_outage_then_the_backlog_drains(rig) -> None:
    rig.start_ingest_thread()
    rig.fleet.broker.stop()
    sync = rig.start_sync(batch_size=200)
    sent = _fill(rig, make_windows(THREE_DAYS_4_CAMERAS))
    wait_for(lambda: "unavailable" in rig.log(), 15, "the sync to notice the outage")
    time.sleep(3)  # several reconnect attempts while down
    assert rig.buffer.stats().depth == len(sent)
    rig.fleet.broker.start()
    _check("broker outage", rig, sent)
    assert sync.poll() is None
    log = rig.log()
    assert _lines(log, "MQTT broker") == 2 and _lines(log, "available again") == 1  # once down, once up
    wait_for(lambda: rig.buffer.stats().depth == 0, 10, "the buffer to empty")


def test_publisher_sigkilled_mid_drain_then_restarted(rig) -> None:
    rig.start_ingest_thread()
    sent = _fill(rig, make_windows(THREE_DAYS_4_CAMERAS))
    cap = 150_000  # bytes/s: the drain takes ~6 s, so the kill lands in the middle
    sync = rig.start_sync(bandwidth_bytes_per_s=cap, batch_size=50)
    wait_for(lambda: len(rig.arrived()) > 100, 30, "the drain to start")
    sync.send_signal(signal.SIGKILL)
    sync.wait(10)
    left = rig.buffer.stats()
    print(f"killed with {left.depth} windows buffered, {left.pending} sent but unacknowledged")
    assert 0 < left.depth < len(sent)
    wait_for(lambda: _status(rig) == "offline", 15, "the last will to mark the box offline")
    rig.start_sync(bandwidth_bytes_per_s=0, log="sync2.log")
    _check("publisher SIGKILL", rig, sent)
    wait_for(lambda: _status(rig) == "online", 15, "the restarted box to be online again")


def test_redis_restarted_mid_drain_data_comes_back_from_the_aof(rig) -> None:
    rig.start_ingest_thread()
    sent = _fill(rig, make_windows(THREE_DAYS_4_CAMERAS))
    rig.start_sync(bandwidth_bytes_per_s=150_000, batch_size=50)
    wait_for(lambda: len(rig.arrived()) > 100, 30, "the drain to start")
    rig.redis.kill()  # SIGKILL: a power cut for Redis
    time.sleep(1.5)
    rig.redis.start()
    _check("redis restart", rig, sent)
    log = rig.log()
    assert _lines(log, "edge buffer (Redis) unavailable") == 1 and _lines(log, "edge buffer (Redis) available again") == 1


def test_the_same_window_delivered_twice_is_stored_once(rig) -> None:
    rig.start_ingest_thread()
    windows = make_windows(60)
    sent = _fill(rig, windows + windows[:30])  # the box buffered 30 of them twice
    rig.start_sync()
    wait_for(lambda: rig.buffer.stats().depth == 0, 30, "the drain")
    replay = Probe(rig.fleet.broker, "edge-001", rig.fleet.passwords["edge-001"])
    for w in windows[:10]:  # and the network replays 10 more
        replay.client.publish("storelens/v1/store-001/edge-001/aggregates", w.to_json(), qos=1).wait_for_publish(5)
    replay.close()
    wait_for(lambda: len(rig.tap.window_keys()) >= 100, 15, "the replays on the wire")
    _check("same window twice", rig, sorted(set(sent)))


def test_ingest_killed_mid_stream_and_restarted(rig) -> None:
    ingest = rig.start_ingest_process()
    rig.await_ingest()
    sent = _fill(rig, make_windows(THREE_DAYS_4_CAMERAS))
    rig.start_sync(bandwidth_bytes_per_s=150_000, batch_size=50)
    wait_for(lambda: len(rig.arrived()) > 100, 30, "ingest to store some")
    ingest.send_signal(signal.SIGKILL)
    ingest.wait(10)
    print(f"ingest killed with {len(rig.arrived())} stored")
    time.sleep(2)  # the publisher keeps publishing; the broker queues for the absent worker
    rig.start_ingest_process(log="ingest2.log")
    _check("ingest restart", rig, sent)


def test_malformed_oversized_and_misaddressed_payloads_are_dead_lettered(rig) -> None:
    rig.start_ingest_thread()
    sent = _fill(rig, make_windows(300))
    rig.start_sync(bandwidth_bytes_per_s=100_000)
    device = Probe(rig.fleet.broker, "edge-001", rig.fleet.passwords["edge-001"])
    topic = "storelens/v1/store-001/edge-001/aggregates"
    bad = [b"{truncated", b"[" * 300_000, json.dumps({**json.loads(make_windows(1)[0].to_json()),
                                                      "store_id": "store-777"}).encode()]
    for payload in bad:
        device.client.publish(topic, payload, qos=1).wait_for_publish(5)
    device.close()
    _check("bad payloads", rig, sent)
    with Session(rig.fleet.engine) as session:
        reasons = sorted(d.reason.split(":")[0] for d in session.exec(select(DeadLetter)))
    print(f"dead letters: {reasons}")
    assert reasons == ["malformed", "oversized", "wrongly addressed"]


def test_wrong_password_logs_one_clear_line_and_loses_nothing(rig) -> None:
    rig.start_ingest_thread()
    sent = _fill(rig, make_windows(100))
    bad = rig.start_sync(password="not-the-password", reconnect_min_s=1, reconnect_max_s=1)
    time.sleep(5)  # several refused attempts
    stop_process(bad)
    errors = [line for line in rig.log().splitlines() if " ERROR " in line]
    print("\n".join(errors))
    assert len(errors) == 1 and "connection refused: Not authorized (check the username/password)" in errors[0]
    assert "not-the-password" not in rig.log()  # secrets never reach the log
    assert rig.buffer.stats().depth == 100 and rig.arrived() == []
    rig.start_sync(log="sync2.log")  # the technician fixes the password
    _check("wrong password, then fixed", rig, sent)


def test_buffer_reaching_its_bound_drops_oldest_counted_and_visible(rig, capsys) -> None:
    windows = make_windows(200)
    keep = 50
    bound = sum(len(w.to_json()) for w in windows[-keep:]) + 10
    rig.config(buffer_max_bytes=bound)
    buffer = EdgeBuffer(rig.client, max_bytes=bound)  # the edge app's buffer, configured the same
    for w in windows:
        buffer.append(w)
    assert main(["sync", "status", "--config", str(rig.tmp / "box.yaml"), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["backlog"], status["dropped_full"]) == (keep, 150)
    rig.start_ingest_thread()
    rig.start_sync(buffer_max_bytes=bound)
    kept = [(w.device_id, w.camera_id, w.window_start.isoformat()) for w in windows[-keep:]]
    arrived = rig.wait_arrived(keep)
    health = wait_for(lambda: _health(rig), 15, "a heartbeat in the database")
    assert health["buffer_dropped"] == 150  # visible to the technician in the cloud too
    print(f"[buffer bound] sent=200 kept={keep} dropped(counted)={status['dropped_full']} "
          f"arrived={len(arrived)} duplicated={len(arrived) - len(set(arrived))}")
    assert set(arrived) == set(kept)  # the newest survive; the oldest were dropped and counted
    assert "DROPPED" not in rig.log()  # the drop happened (and was logged) in the appending process

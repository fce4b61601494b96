"""Cloud ingest on SQLite and a real PostgreSQL, fed through a real Mosquitto."""

from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from cloud_sync.db.models import DeadLetter, HealthRecord
from cloud_sync.ingest import Ingestor
from cloud_sync.ingest_service import run_ingest
from storelens.config import load_config
from storelens.mqttlink import LinkSettings, MqttLink
from storelens.wire import MAX_PAYLOAD_BYTES, HealthMessage
from tests.servers import INGEST_PASSWORD, Fleet, make_windows, stored_keys, wait_for, write_config

pytestmark = pytest.mark.integration
TOPIC = "storelens/v1/store-001/edge-001/aggregates"


@pytest.fixture
def any_fleet(db_url, tmp_path):
    fleet = Fleet(db_url, tmp_path / "broker")
    fleet.add("store-001", "edge-001")
    fleet.add("store-002", "edge-002")
    fleet.start_broker()
    yield fleet
    fleet.stop()


def _health() -> bytes:
    return HealthMessage(store_id="store-001", device_id="edge-001", sent_at="2026-03-01T10:00:00Z",
                         software_version="0.1.0", buffer_depth=7).to_json()


def test_one_batch_sorts_good_from_bad(any_fleet) -> None:
    good = make_windows(5)
    foreign = make_windows(1, store="store-002", device="edge-002")[0]
    batch = [(TOPIC, w.to_json()) for w in good] + [(TOPIC, good[0].to_json())] + [
        (TOPIC, b"\x00\x01 not json"),
        (TOPIC, b"x" * (MAX_PAYLOAD_BYTES + 10)),
        (TOPIC, foreign.to_json()),  # store-002's window on edge-001's topic
        ("storelens/v1/store-009/edge-009/aggregates", make_windows(1, store="store-009", device="edge-009")[0].to_json()),
        ("storelens/v1/store-001/edge-001/health", _health()),
        ("storelens/v1/store-001/edge-001/status", b"online"),
    ]
    ingestor = Ingestor(engine=any_fleet.engine, link=MqttLink(LinkSettings("127.0.0.1", 1, "x", "ingest", "x")))
    with Session(any_fleet.engine) as session:
        assert ingestor.store_batch(session, batch) == (5, 2, 4)
        session.commit()
        reasons = sorted(d.reason.split(":")[0] for d in session.exec(select(DeadLetter)))
        health = session.get(HealthRecord, "edge-001")
    assert reasons == ["malformed", "oversized", "unauthorised", "wrongly addressed"]
    assert (health.status, health.payload["buffer_depth"]) == ("online", 7)
    assert len(stored_keys(any_fleet.engine)) == 5


@contextmanager
def _workers(fleet: Fleet, tmp_path, names: list[str], monkeypatch):
    """Ingest workers in threads; always stopped and joined, also when the test fails (no hang at exit)."""
    monkeypatch.setenv("STORELENS_INGEST_PASSWORD", INGEST_PASSWORD)
    cfg = load_config(write_config(tmp_path / "c.yaml", fleet=fleet, redis_url="redis://127.0.0.1:1/0",
                                   cloud={"batch_size": 100}))
    stop, stats = threading.Event(), {}
    threads = [threading.Thread(target=lambda n=n: stats.__setitem__(n, run_ingest(cfg, stop, worker=n)), daemon=True)
               for n in names]
    subscribed, ingest_log = _SubscribedCounter(), logging.getLogger("cloud_sync.ingest")
    old_level = ingest_log.level
    ingest_log.setLevel(logging.INFO)  # the "ingest subscribed" line is INFO
    ingest_log.addHandler(subscribed)
    for t in threads:
        t.start()
    try:
        # Connected is not enough: a publish before the shared subscription exists has no receiver.
        wait_for(lambda: subscribed.count >= len(names), 15, f"{len(names)} ingest worker(s) to subscribe")
        yield stats
    finally:
        ingest_log.removeHandler(subscribed)
        ingest_log.setLevel(old_level)
        stop.set()
        for t in threads:
            t.join(15)


class _SubscribedCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("ingest subscribed"):
            self.count += 1


def test_ingest_over_mqtt_keeps_running_past_bad_messages(any_fleet, tmp_path, monkeypatch) -> None:
    with _workers(any_fleet, tmp_path, ["w1"], monkeypatch) as stats:
        windows = make_windows(300)
        device = any_fleet.device_client()
        wait_for(lambda: any_fleet.broker.files.log.read_text().count("u'ingest-w") >= 1, 10, "ingest to connect")
        for i, w in enumerate(windows):
            if i == 150:
                device.publish(TOPIC, b"{broken", qos=1)
                device.publish(TOPIC, json.dumps({"store_id": "store-001"}).encode(), qos=1)
            device.publish(TOPIC, w.to_json(), qos=1).wait_for_publish(5)
        wait_for(lambda: len(stored_keys(any_fleet.engine)) == 300, 30, "300 windows stored")
    device.loop_stop()
    with Session(any_fleet.engine) as session:
        assert len(list(session.exec(select(DeadLetter)))) == 2
    assert stats["w1"].received == 302 and stats["w1"].dead == 2


def test_two_workers_split_the_load_without_duplicates(fleet, tmp_path, monkeypatch) -> None:
    with _workers(fleet, tmp_path, ["w1", "w2"], monkeypatch) as stats:
        wait_for(lambda: fleet.broker.files.log.read_text().count("u'ingest-w") >= 2, 10, "two workers to connect")
        device = fleet.device_client()
        infos = [device.publish(TOPIC, w.to_json(), qos=1) for w in make_windows(400)]
        for info in infos:
            info.wait_for_publish(10)
        wait_for(lambda: len(stored_keys(fleet.engine)) == 400, 30, "400 windows stored")
    device.loop_stop()
    print(f"worker w1 received {stats['w1'].received}, w2 received {stats['w2'].received}")
    assert stats["w1"].received > 0 and stats["w2"].received > 0
    assert stats["w1"].received + stats["w2"].received == 400


class _Msg:
    def __init__(self, topic_name: str, payload: bytes, mid: int) -> None:
        self.topic, self.payload, self.mid, self.qos = topic_name, payload, mid, 1


def test_a_message_the_database_refuses_is_dead_lettered_and_the_rest_stored(fleet) -> None:
    from sqlalchemy import text

    with fleet.engine.begin() as conn:  # stands in for any row a database rejects (a constraint, a trigger)
        conn.execute(text("CREATE TRIGGER poison BEFORE INSERT ON aggregaterecord WHEN NEW.camera_id = 'cam2' "
                          "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"))
    acked = []
    link = MqttLink(LinkSettings("127.0.0.1", 1, "x", "ingest", "x"))
    link.client.ack = lambda mid, qos: acked.append(mid)
    ingestor = Ingestor(engine=fleet.engine, link=link)
    batch = [(_Msg(TOPIC, w.to_json(), i), link.generation) for i, w in enumerate(make_windows(8))]
    assert ingestor._commit(batch) is True
    with Session(fleet.engine) as session:
        letters = list(session.exec(select(DeadLetter)))
    assert len(stored_keys(fleet.engine)) == 6 and len(letters) == 2
    assert letters[0].reason.startswith("database refused:") and "poisoned row" in letters[0].reason
    assert sorted(acked) == list(range(8))  # all acknowledged: nothing blocks the queue


def test_a_retired_worker_hands_back_its_share(fleet, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STORELENS_INGEST_PASSWORD", INGEST_PASSWORD)
    cfg = load_config(write_config(tmp_path / "c.yaml", fleet=fleet, redis_url="redis://127.0.0.1:1/0"))
    stops = {n: threading.Event() for n in ("w1", "w2")}
    threads = {n: threading.Thread(target=run_ingest, args=(cfg, stops[n]), kwargs={"worker": n}, daemon=True)
               for n in stops}
    for t in threads.values():
        t.start()
    wait_for(lambda: fleet.broker.files.log.read_text().count("u'ingest-w") >= 2, 10, "two workers to connect")
    time.sleep(0.5)
    stops["w2"].set()  # stopped, not retired: the broker still queues a share for it
    threads["w2"].join(10)
    device = fleet.device_client()
    for w in make_windows(40):
        device.publish(TOPIC, w.to_json(), qos=1).wait_for_publish(5)
    time.sleep(1.5)
    held_back = 40 - len(stored_keys(fleet.engine))
    assert held_back > 0
    run_ingest(cfg, threading.Event(), worker="w2", retire=True)  # drains its share, ends its session
    assert len(stored_keys(fleet.engine)) == 40
    for w in make_windows(40, start=datetime(2026, 4, 1, tzinfo=UTC)):
        device.publish(TOPIC, w.to_json(), qos=1).wait_for_publish(5)
    wait_for(lambda: len(stored_keys(fleet.engine)) == 80, 15, "all 40 new windows to reach w1 alone")
    stops["w1"].set()
    threads["w1"].join(10)
    device.loop_stop()
    print(f"stopped worker held back {held_back} of 40; after --retire the remaining worker takes all")


def test_database_outage_holds_messages_unacknowledged_until_it_returns(tmp_path, monkeypatch) -> None:
    from devkit.servers.postgres import PostgresServer

    with PostgresServer() as pg:
        fleet = Fleet(pg.url, tmp_path / "broker")
        fleet.add("store-001", "edge-001")
        fleet.start_broker()
        try:
            with _workers(fleet, tmp_path, ["w1"], monkeypatch) as stats:
                device = fleet.device_client()
                wait_for(lambda: fleet.broker.files.log.read_text().count("u'ingest-w") >= 1, 10, "ingest to connect")
                time.sleep(0.5)
                pg.pause()  # the database goes away while windows keep arriving
                try:
                    for w in make_windows(100):
                        device.publish(TOPIC, w.to_json(), qos=1).wait_for_publish(5)
                    time.sleep(3)  # ingest tries, fails, keeps the batch unacknowledged and retries
                finally:
                    pg.resume()
                wait_for(lambda: len(stored_keys(fleet.engine)) == 100, 40, "the held batch to be stored")
            device.loop_stop()
        finally:
            fleet.stop()
    print(f"database outage: sent=100 arrived=100, ingest received {stats['w1'].received}")
    assert stats["w1"].received == 100 and stats["w1"].dead == 0

"""Ingest receipts and poison messages through a real Mosquitto and a real database.

A device hears a receipt for every window ingest committed or refused for good; conflicting
versions, future clocks and seeded windows are refused with the reason; and nothing a device sends,
however hostile (deep nesting, huge numbers, wrong types, NULs, random bytes), stops ingest: a good
window sent afterwards is stored. The fuzz is seeded and bounded (a few hundred messages).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from cloud_sync.db.models import AggregateRecord, DeadLetter
from cloud_sync.ingest import Rejected, parse_message
from cloud_sync.ingest_service import run_ingest
from storelens.config import load_config
from storelens.wire import MAX_PAYLOAD_BYTES, Receipt
from tests.servers import (
    INGEST_PASSWORD,
    Fleet,
    broker_client,
    make_windows,
    stored_keys,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration
TOPIC = "storelens/v1/store-001/edge-001"


class Device:
    """A raw device client that publishes and collects its receipts."""

    def __init__(self, fleet: Fleet, device_id: str = "edge-001") -> None:
        self.receipts: list[Receipt] = []
        self._subscribed = threading.Event()
        self.client = broker_client(fleet.broker, device_id, fleet.passwords[device_id])
        self.client.on_connect = lambda c, *_a: c.subscribe(f"{TOPIC}/receipts", qos=1)
        self.client.on_subscribe = lambda _c, _u, _m, rcs, _p: self._subscribed.set() if not rcs[0].is_failure else None
        self.client.on_message = lambda _c, _u, msg: self.receipts.append(Receipt.model_validate_json(msg.payload))
        self.client.connect("127.0.0.1", fleet.broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the device could not subscribe to its receipts"

    def send(self, payload: bytes, kind: str = "aggregates") -> None:
        self.client.publish(f"{TOPIC}/{kind}", payload, qos=1).wait_for_publish(5)

    def committed(self) -> list[tuple[str, str, int]]:
        return [(r.camera_id, r.window_start.isoformat(), r.seq) for x in self.receipts for r in x.committed]

    def refused(self) -> list[tuple[str, int, str]]:
        return [(r.camera_id, r.seq, r.reason) for x in self.receipts for r in x.refused]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def cloud(db_url, tmp_path):
    """store-001/edge-001 registered in SQLite or PostgreSQL (each test runs on both), and the broker."""
    fleet = Fleet(db_url, tmp_path / "broker")
    fleet.add("store-001", "edge-001")
    fleet.start_broker()
    yield fleet
    fleet.stop()


@pytest.fixture
def ingest(cloud, tmp_path, monkeypatch):
    fleet = cloud
    monkeypatch.setenv("STORELENS_INGEST_PASSWORD", INGEST_PASSWORD)
    cfg = load_config(write_config(tmp_path / "c.yaml", fleet=fleet, redis_url="redis://127.0.0.1:1/0",
                                   cloud={"batch_size": 50}))
    stop, result = threading.Event(), {}
    seen = _Subscribed()
    logging.getLogger("cloud_sync.ingest").addHandler(seen)
    logging.getLogger("cloud_sync.ingest").setLevel(logging.INFO)
    thread = threading.Thread(target=lambda: result.setdefault("stats", run_ingest(cfg, stop, worker="inproc")))
    thread.start()
    try:
        wait_for(lambda: seen.count, 15, "ingest to subscribe")
        yield result
    finally:
        logging.getLogger("cloud_sync.ingest").removeHandler(seen)
        stop.set()
        thread.join(20)
    assert not thread.is_alive()


class _Subscribed(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += record.getMessage().startswith("ingest subscribed")


def _dead(fleet: Fleet) -> list[str]:
    with Session(fleet.engine) as session:
        return [d.reason for d in session.exec(select(DeadLetter).order_by(DeadLetter.id))]


def test_every_committed_or_refused_window_gets_a_receipt(cloud, ingest) -> None:
    fleet = cloud
    device = Device(fleet)
    windows = [w.model_copy(update={"seq": 10 + i}) for i, w in enumerate(make_windows(20))]
    for w in windows:
        device.send(w.to_json())
    conflict = windows[0].model_copy(update={"entries": 999})  # same key, same seq, other content
    future = make_windows(1, start=datetime.now(UTC) + timedelta(days=2))[0].model_copy(update={"seq": 3})
    seeded = make_windows(1, start=datetime(2026, 4, 1, tzinfo=UTC))[0].model_copy(update={"seeded": True, "seq": 4})
    old = make_windows(1, start=datetime(2024, 6, 1, tzinfo=UTC))[0].model_copy(update={"seq": 5})
    wait_for(lambda: len(device.committed()) >= 20, 20, "receipts for 20 windows")
    for w in (conflict, future, seeded, old):
        device.send(w.to_json())
    device.send(windows[1].to_json())  # a harmless redelivery: committed again
    wait_for(lambda: len(device.refused()) >= 4, 20, "four refusals")
    device.close()
    assert sorted(set(device.committed())) == sorted((w.camera_id, w.window_start.isoformat(), w.seq) for w in windows)
    assert sorted(device.refused()) == [("cam0", 3, "clock"), ("cam0", 4, "seeded"), ("cam0", 5, "clock"),
                                        ("cam0", 10, "conflict")]
    with Session(fleet.engine) as session:
        first = session.exec(select(AggregateRecord).where(AggregateRecord.window_start == windows[0].window_start,
                                                           AggregateRecord.camera_id == "cam0")).one()
    assert first.entries == windows[0].entries  # the first version is kept
    reasons = _dead(fleet)
    assert sorted(r.split(":")[0] for r in reasons) == ["clock", "clock", "conflict", "seeded"]
    assert len(stored_keys(fleet.engine)) == 20


def _fuzz_payloads(rng: random.Random) -> list[tuple[str, bytes]]:
    good = json.loads(make_windows(1)[0].to_json())
    shapes = [
        b"[" * 1000 + b"]" * 1000,  # the 2 KB message that stopped the fleet
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b"[" * 200_000,  # unterminated and deep
        b"1" * 10_000, b"-" + b"9" * 5000 + b"e99999", b"1e400", b"NaN", b"Infinity",
        b"\x00" * 64, b"\xff\xfe\xfd", "\ud800".encode("utf-8", "surrogatepass"), b"", b"null", b"true", b"[]", b"{}",
        json.dumps({**good, "entries": 10**300}).encode(),
        json.dumps({**good, "entries": "12"}).encode(),
        json.dumps({**good, "age_histogram": [[0]] * 91}).encode(),
        json.dumps({**good, "camera_id": "c\u0000am"}).encode(),
        json.dumps({**good, "camera_id": "收银台" * 30}).encode(),
        json.dumps({**good, "window_start": "9999-12-31T23:59:59+00:00",
                    "window_end": "9999-12-31T23:59:59.5+00:00"}).encode(),
        json.dumps({**good, "heatmap": {"cell_m": 0.1, "width_cells": 3000, "height_cells": 3000}}).encode(),
        json.dumps({**good, "zone_visits": {f"z{i}": {"visits": 1} for i in range(5000)}}).encode(),
        json.dumps({**good, "model_versions": {"x" * 10_000: "y"}}).encode(),
        b" " * (MAX_PAYLOAD_BYTES + 5),
    ]
    out = [(kind, p) for p in shapes for kind in ("aggregates", "health")]
    out.append(("status", b"\x00online"))
    for _ in range(150):  # random bytes, and random JSON of random shapes
        if rng.random() < 0.5:
            out.append((rng.choice(["aggregates", "health", "status"]), rng.randbytes(rng.randint(0, 3000))))
        else:
            out.append(("aggregates", json.dumps(_random_json(rng, 0)).encode()))
    rng.shuffle(out)
    return out


def _refused(kind: str, payload: bytes) -> bool:
    try:
        parse_message(f"{TOPIC}/{kind}", payload)
    except Rejected:
        return True
    return False


def _random_json(rng: random.Random, depth: int):
    choice = rng.randrange(8 if depth < 12 else 5)
    return [
        lambda: rng.randint(-(2**70), 2**70), lambda: rng.random() * 10 ** rng.randint(-300, 300),
        lambda: "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 40))), lambda: None,
        lambda: rng.random() < 0.5,
        lambda: [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))],
        lambda: {rng.choice(["seq", "camera_id", "window_start", "entries", "x"]): _random_json(rng, depth + 1)
                 for _ in range(rng.randint(0, 4))},
        lambda: {**json.loads(make_windows(1)[0].to_json()), rng.choice(["seq", "entries", "heatmap"]):
                 _random_json(rng, depth + 1)},
    ][choice]()


def test_fuzzed_messages_never_stop_ingest_and_a_good_window_still_lands(cloud, ingest) -> None:
    fleet = cloud
    device = Device(fleet)
    payloads = _fuzz_payloads(random.Random(20261201))
    started = time.monotonic()
    for kind, payload in payloads:
        device.send(payload, kind)
    good = make_windows(1, start=datetime(2026, 5, 1, tzinfo=UTC))[0]
    device.send(good.to_json())
    wait_for(lambda: (good.device_id, good.camera_id, good.window_start.isoformat()) in stored_keys(fleet.engine),
             60, "the good window after the fuzz")
    device.close()
    dead = _dead(fleet)
    print(f"fuzz: {len(payloads)} hostile messages, {len(dead)} dead letters, good window stored "
          f"{time.monotonic() - started:.1f} s after the first")
    # Each one accounted for: dead-lettered, or (a random field that happened to be valid) stored.
    assert len(dead) == sum(_refused(kind, payload) for kind, payload in payloads) > len(payloads) * 0.9
    assert not any(r.startswith(("internal error", "unreadable")) for r in dead), [
        r for r in dead if r.startswith(("internal error", "unreadable"))][:3]

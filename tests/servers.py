"""Real servers for tests: redis-server, mosquitto, PostgreSQL on loopback, in temp dirs.

Thin wrappers over the product's own launchers (devkit.servers.redis, cloud_sync.broker,
devkit.servers.postgres), plus helpers that build a small registered fleet and run the product's
CLI as a subprocess, as a box or a cloud host would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import sqlalchemy as sa
import yaml
from sqlmodel import Session, select

from cloud_sync.db.engine import init_db, make_engine
from cloud_sync.db.models import AggregateRecord, Store
from cloud_sync.registry import BrokerUser, add_device, add_store, broker_users, set_ingest_password
from devkit.servers.mosquitto import MosquittoServer
from storelens.wire import DEVICE_KINDS, AggregateWindow, window_from_payload

INGEST_PASSWORD = "ingest-test-pw"
# Ingest worker names the tests use; each gets its own broker account "ingest-<name>" (the broker uses
# the login as client id), all with INGEST_PASSWORD. "tap" and "tap2" are WireTaps': with the login as
# client id, two taps on one account would throw each other off.
INGEST_WORKERS = ("tap", "tap2", "inproc", "w1", "w2", "w3")


# What a WireTap needs to see everything a device may send (the broker lets it send nothing else).
EVERY_DEVICE_TOPIC = tuple(f"storelens/v1/+/+/{kind}" for kind in DEVICE_KINDS)


def ingest_user(worker: str) -> str:
    return f"ingest-{worker}"
PROJECT = Path(__file__).resolve().parent.parent


def fresh_pg_database(admin_url: str) -> str:
    """A new empty database on the shared test PostgreSQL server; returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def broker_client(broker: MosquittoServer, username: str, password: str, *, client_id: str = "") -> mqtt.Client:
    """A raw paho MQTT 5 client that trusts the test broker's CA and logs in as `username` (not connected)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(broker.files.tls.ca_cert))
    client.username_pw_set(username, password)
    return client


def make_windows(n: int, *, store: str = "store-001", device: str = "edge-001", cameras: int = 4,
                 start: datetime | None = None, minutes: int = 15) -> list[AggregateWindow]:
    """n distinct windows, oldest first, round-robin over cameras; `entries` encodes the index."""
    start = start or datetime(2026, 3, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        ws = start + timedelta(minutes=minutes * (i // cameras))
        out.append(AggregateWindow(store_id=store, device_id=device, camera_id=f"cam{i % cameras}",
                                   window_start=ws, window_end=ws + timedelta(minutes=minutes),
                                   entries=i, exits=i // 2, frames=100))
    return out


@dataclass
class Fleet:
    """A database with registered stores/devices, their passwords, and a broker that knows them."""

    db_url: str
    broker_dir: Path
    passwords: dict[str, str] = field(default_factory=dict)
    broker: MosquittoServer | None = None

    def __post_init__(self) -> None:
        self.engine = make_engine(self.db_url)
        init_db(self.engine)

    def add(self, store_id: str, device_id: str) -> str:
        with Session(self.engine) as session:
            if session.get(Store, store_id) is None:
                add_store(session, store_id=store_id)
            _dev, password = add_device(session, store_id=store_id, device_id=device_id)
            session.commit()
        self.passwords[device_id] = password
        if self.broker:
            self.broker.update_users(self.users())
        return password

    def users(self) -> list[BrokerUser]:
        with Session(self.engine) as session:
            return broker_users(session)

    def device_client(self, device_id: str = "edge-001") -> mqtt.Client:
        """A connected client logged in as a registered device, publishing as its box would."""
        client = broker_client(self.broker, device_id, self.passwords[device_id])
        client.connect("127.0.0.1", self.broker.port)
        client.loop_start()
        return client

    def add_worker(self, worker: str) -> None:
        """An ingest worker account ingest-<worker> with INGEST_PASSWORD (idempotent)."""
        with Session(self.engine) as session:
            set_ingest_password(session, username=ingest_user(worker), password=INGEST_PASSWORD)
            session.commit()
        if self.broker:
            self.broker.update_users(self.users())

    def start_broker(self, port: int | None = None, **tuning) -> MosquittoServer:
        """The product's broker for this registry; `tuning` sets BrokerSettings fields (max_queued_messages=...)."""
        for worker in INGEST_WORKERS:
            self.add_worker(worker)
        self.broker = MosquittoServer(self.broker_dir, users=self.users(), port=port, **tuning).start()
        return self.broker

    def stop(self) -> None:
        if self.broker:
            self.broker.stop()
        self.engine.dispose()


def write_config(path: Path, *, fleet: Fleet, redis_url: str, store: str = "store-001", device: str = "edge-001",
                 sync: dict | None = None, cloud: dict | None = None, port: int | None = None) -> Path:
    port = port or fleet.broker.port
    ca = str(fleet.broker.files.tls.ca_cert)
    raw = {
        "store_id": store, "device_id": device, "timezone": "UTC",
        "sync": {"redis_url": redis_url, "mqtt_host": "127.0.0.1", "mqtt_port": port, "mqtt_ca_file": ca,
                 "offpeak": ["00:00-24:00"], "bandwidth_bytes_per_s": 0, "batch_size": 200,
                 "ack_timeout_s": 5, "heartbeat_s": 1, "reconnect_min_s": 1, "reconnect_max_s": 2,
                 "idle_poll_s": 0.2, "wait_for_ingest_s": 0, **(sync or {})},
        "cloud": {"database_url": fleet.db_url, "mqtt_host": "127.0.0.1", "mqtt_port": port, "mqtt_ca_file": ca,
                  "batch_size": 500, "batch_wait_s": 0.1, "alive_interval_s": 0.5,
                  "broker_dir": str(fleet.broker_dir), **(cloud or {})},
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def storelens(args: list[str], *, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start `storelens ARGS` as a real process, output to log_path."""
    full_env = {**os.environ, "STORELENS_LOG": "INFO", **env}
    out = open(log_path, "ab")  # noqa: SIM115  (closed when the process is reaped by the caller)
    return subprocess.Popen([sys.executable, "-m", "storelens", *args], env=full_env, stdout=out,
                            stderr=subprocess.STDOUT, cwd=PROJECT)


class WireTap:
    """A plain (non-shared) subscriber on its own ingest account: captures every message the broker routes."""

    def __init__(self, broker: MosquittoServer, pattern: str | tuple[str, ...] = "storelens/v1/+/+/aggregates",
                 account: str = "tap") -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._granted: list = []
        patterns = (pattern,) if isinstance(pattern, str) else pattern
        self.client = broker_client(broker, ingest_user(account), INGEST_PASSWORD, client_id=f"{account}-{uuid.uuid4().hex[:6]}")
        self.client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe([(p, 1) for p in patterns])
        self.client.on_subscribe = lambda _c, _u, _m, codes, _p: (self._granted.extend(codes), self._subscribed.set())
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        if not self._subscribed.wait(10) or any(code.is_failure for code in self._granted):
            raise RuntimeError(f"wire tap could not subscribe to {patterns}: {[str(c) for c in self._granted]}")

    def _on_message(self, _client, _userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    def window_keys(self) -> list[tuple[str, str, str]]:
        with self._lock:
            payloads = [p for _t, p in self.messages]
        out = []
        for p in payloads:
            try:
                w = window_from_payload(p)
            except ValueError:  # bad payloads a test sent on purpose: not windows
                continue
            out.append((w.device_id, w.camera_id, w.window_start.isoformat()))
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stored_keys(engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        rows = session.exec(select(AggregateRecord.device_id, AggregateRecord.camera_id, AggregateRecord.window_start))
        return [(d, c, ws.astimezone(UTC).isoformat()) for d, c, ws in rows]


def report(name: str, *, sent: int, arrived: int, duplicated: int, redelivered: int = 0) -> None:
    """The line every failure test prints: expected sent == arrived and duplicated == 0."""
    print(f"[{name}] sent={sent} arrived={arrived} duplicated={duplicated} (wire redeliveries absorbed by upsert: {redelivered})")


def wait_for(predicate, timeout_s: float, what: str, poll_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")

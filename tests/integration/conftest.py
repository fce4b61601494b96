"""Fixtures starting real servers on 127.0.0.1 (random ports, temp dirs), stopped afterwards."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlmodel import Session

from cloud_sync.db.models import HealthRecord
from cloud_sync.ingest_service import run_ingest
from devkit.servers.postgres import PostgresServer
from devkit.servers.process import stop_process
from devkit.servers.redis import RedisServer
from edge_agent.buffer import EdgeBuffer
from storelens.config import load_config
from tests.servers import (
    INGEST_PASSWORD,
    Fleet,
    WireTap,
    fresh_pg_database,
    stored_keys,
    storelens,
    wait_for,
    write_config,
)


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def edge_buffer(redis_client) -> EdgeBuffer:
    return EdgeBuffer(redis_client)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cloud.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, sqlite_url) -> str:
    """Each test using this runs twice: embedded SQLite and a real PostgreSQL server."""
    if request.param == "sqlite":
        return sqlite_url
    return fresh_pg_database(request.getfixturevalue("pg_server").url)


@pytest.fixture
def fleet(sqlite_url, tmp_path) -> Iterator[Fleet]:
    """SQLite registry with store-001/edge-001 registered, and a running TLS broker that knows it."""
    fleet = Fleet(sqlite_url, tmp_path / "broker")
    fleet.add("store-001", "edge-001")
    fleet.start_broker()
    yield fleet
    fleet.stop()


class Rig:
    """One store's box and the cloud: Redis (AOF always), broker, in-process ingest, a wire tap,
    and `storelens sync run` / `storelens cloud ingest` as real subprocesses."""

    def __init__(self, fleet: Fleet, tmp_path: Path) -> None:
        self.fleet = fleet
        self.tmp = tmp_path
        self.redis = RedisServer(tmp_path / "redis", appendfsync="always").start()
        self.client = redis.Redis.from_url(self.redis.url)
        self.buffer = EdgeBuffer(self.client)
        self.tap = WireTap(fleet.broker)
        self.procs: list[subprocess.Popen] = []
        self._ingest: tuple[threading.Event, threading.Thread] | None = None

    def config(self, name: str = "box.yaml", **sync) -> Path:
        secret = self.tmp / "ingest.secret"  # the ingest password from a file, not the environment
        secret.write_text(INGEST_PASSWORD)
        sync = {"wait_for_ingest_s": 3, **sync}  # drain only while ingest is heard, as in production
        return write_config(self.tmp / name, fleet=self.fleet, redis_url=self.redis.url, sync=sync,
                            cloud={"ingest_password_file": str(secret)})

    def start_sync(self, *, password: str | None = None, log: str = "sync.log", **sync) -> subprocess.Popen:
        env = {"STORELENS_MQTT_PASSWORD": password or self.fleet.passwords["edge-001"]}
        proc = storelens(["sync", "run", "--config", str(self.config(**sync))], env=env, log_path=self.tmp / log)
        self.procs.append(proc)
        return proc

    def start_ingest_process(self, log: str = "ingest.log") -> subprocess.Popen:
        proc = storelens(["cloud", "ingest", "--config", str(self.config("cloud.yaml")), "--worker", "w1"],
                         env={}, log_path=self.tmp / log)
        self.procs.append(proc)
        return proc

    def start_ingest_thread(self) -> None:
        cfg = load_config(self.config("cloud.yaml"))
        stop = threading.Event()
        thread = threading.Thread(target=run_ingest, args=(cfg, stop), kwargs={"worker": "inproc"})
        thread.start()
        self._ingest = (stop, thread)
        self.await_ingest()

    def await_ingest(self) -> None:
        """Until ingest has subscribed, the broker drops what it receives (no session to queue for):
        a fleet's ingest connects once before any device publishes. Proven here by a status message
        that makes it into the database."""
        device = self.fleet.device_client("edge-001")

        def seen() -> bool:
            device.publish("storelens/v1/store-001/edge-001/status", b"online", qos=1)
            with Session(self.fleet.engine) as session:
                return session.get(HealthRecord, "edge-001") is not None

        wait_for(seen, 30, "ingest to subscribe", poll_s=0.3)
        device.disconnect()
        device.loop_stop()

    def log(self, name: str = "sync.log") -> str:
        return (self.tmp / name).read_text(errors="replace")

    def arrived(self) -> list:
        return stored_keys(self.fleet.engine)

    def wait_arrived(self, n: int, timeout_s: float = 60) -> list:
        wait_for(lambda: len(self.arrived()) >= n, timeout_s, f"{n} windows in the database")
        return self.arrived()

    def close(self) -> None:
        for proc in self.procs:
            stop_process(proc)
        if self._ingest:
            self._ingest[0].set()
            self._ingest[1].join(15)
        self.tap.close()
        self.client.close()
        self.redis.stop()


@pytest.fixture
def rig(fleet, tmp_path) -> Iterator[Rig]:
    rig = Rig(fleet, tmp_path)
    yield rig
    rig.close()

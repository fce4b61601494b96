"""Benchmarks for `storelens bench ingest` and `storelens bench publish`; each starts its own servers
(Mosquitto, Redis, PostgreSQL) on loopback in a temp dir and returns printable lines."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import redis
import yaml
from sqlmodel import Session

from cloud_sync.db import repository as repo
from cloud_sync.db.engine import init_db, make_engine
from cloud_sync.registry import add_device, add_store, broker_users, set_ingest_password
from devkit.servers.mosquitto import MosquittoServer
from devkit.servers.process import stop_process
from storelens.config import parse_config
from storelens.wire import AggregateWindow

log = logging.getLogger(__name__)

INGEST_SECRET = "bench-ingest"  # throwaway broker on loopback, gone when the benchmark ends


def sample_windows(n: int, *, cameras: int = 4) -> list[AggregateWindow]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cells = [[c % 30, c // 30, 1 + c % 5] for c in range(0, 240, 2)]
    return [AggregateWindow(
        store_id="bench-store", device_id="bench-edge", camera_id=f"cam{i % cameras}",
        window_start=start + timedelta(minutes=15 * (i // cameras)),
        window_end=start + timedelta(minutes=15 * (i // cameras + 1)), entries=i % 50, exits=i % 40,
        unique_visitors=i % 45, age_histogram=[(i + a) % 3 for a in range(91)],
        heatmap={"cell_m": 0.5, "width_cells": 30, "height_cells": 8, "cells": cells}) for i in range(n)]


@contextlib.contextmanager
def _fleet(db_url: str, root: Path, workers: int = 1) -> Iterator[tuple]:
    engine = make_engine(db_url)
    init_db(engine)
    with Session(engine) as session:
        add_store(session, store_id="bench-store")
        _dev, password = add_device(session, store_id="bench-store", device_id="bench-edge")
        for i in range(workers):  # each worker its own broker login (the broker uses it as client id)
            set_ingest_password(session, username=f"ingest-bench{i}", password=INGEST_SECRET)
        session.commit()
        users = broker_users(session)
    broker = MosquittoServer(root / "broker", users=users).start()
    try:
        yield engine, broker, password
    finally:
        broker.stop()
        engine.dispose()


def _raw_config(db_url: str, broker: MosquittoServer, root: Path, *, redis_url: str = "redis://127.0.0.1:1/0",
                batch: int = 500, cap: int = 0, device_secret: str = "") -> dict:
    (root / "ingest.secret").write_text(INGEST_SECRET)
    (root / "device.secret").write_text(device_secret or "unused")
    common = {"mqtt_host": "127.0.0.1", "mqtt_port": broker.port, "mqtt_ca_file": str(broker.files.tls.ca_cert)}
    return {
        "store_id": "bench-store", "device_id": "bench-edge",
        "cloud": {"database_url": db_url, "batch_size": batch, "batch_wait_s": 0.05,
                  "ingest_password_file": str(root / "ingest.secret"), **common},
        "sync": {"redis_url": redis_url, "mqtt_password_file": str(root / "device.secret"), "offpeak": ["00:00-24:00"],
                 "bandwidth_bytes_per_s": cap, "batch_size": 200, "wait_for_ingest_s": 0, "idle_poll_s": 0.1,
                 **common},
    }


def _blast(broker: MosquittoServer, password: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(broker.files.tls.ca_cert))
    client.username_pw_set("bench-edge", password)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    infos = [client.publish("storelens/v1/bench-store/bench-edge/aggregates", p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def ingest_rate(db_url: str, n: int, batch: int, workers: int = 1) -> tuple[float, float]:
    """(msgs/s draining a backlog queued at Mosquitto into the DB, DB-only msgs/s of the same batches).

    The backlog is published while the ingest workers are away (their persistent sessions queue
    it), as when a fleet drains at night; the publisher then does not compete with ingest for CPU.
    Workers are `storelens cloud ingest` processes sharing one subscription group.
    """
    payloads = [w.to_json() for w in sample_windows(n)]
    with tempfile.TemporaryDirectory(prefix="storelens-bench-") as tmp, _fleet(db_url, Path(tmp), workers) as fleet:
        engine, broker, password = fleet
        cfg_file = Path(tmp) / "cloud.yaml"
        cfg_file.write_text(yaml.safe_dump(_raw_config(db_url, broker, Path(tmp), batch=batch)))
        _run_workers(cfg_file, workers, lambda: time.sleep(4))  # creates the persistent sessions
        _blast(broker, password, payloads)
        rates = []
        _run_workers(cfg_file, workers, lambda: rates.append(_wait_rows(engine, n, 300)))
        drained = rates[0]
        db_only = _db_only_rate(engine, payloads, batch)
    return drained, db_only


def _run_workers(cfg_file: Path, workers: int, until) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "storelens", "cloud", "ingest", "--config", str(cfg_file),
                               "--worker", f"bench{i}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(workers)]
    try:
        until()
    finally:
        for proc in procs:
            stop_process(proc)


def _wait_rows(engine, n: int, timeout_s: float) -> float:
    """Wait for n rows; returns rows/s from the first stored row on (worker start-up excluded)."""
    deadline = time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    while time.monotonic() < deadline:
        with Session(engine) as session:
            count = repo.count_windows(session)
        now = time.perf_counter()
        if count and first is None:
            first = (now, count)
        if count >= n:
            return (n - first[1]) / max(now - first[0], 1e-6)
        time.sleep(0.02)
    raise TimeoutError(f"only part of {n} windows stored within {timeout_s:.0f} s")


def _db_only_rate(engine, payloads: list[bytes], batch: int) -> float:
    """Re-ingest the same payloads (each one an update) with no broker in the way."""
    from cloud_sync.ingest import Ingestor
    from storelens.mqttlink import LinkSettings, MqttLink

    ingestor = Ingestor(engine=engine, link=MqttLink(LinkSettings("127.0.0.1", 1, "bench", "ingest", "x")))
    topic = "storelens/v1/bench-store/bench-edge/aggregates"
    started = time.perf_counter()
    for i in range(0, len(payloads), batch):
        with Session(engine) as session:
            ingestor.store_batch(session, [(topic, p) for p in payloads[i:i + batch]])
            session.commit()
    return len(payloads) / (time.perf_counter() - started)


def bench_ingest(n: int, batch: int, postgres: bool = True, workers: int = 1) -> list[str]:
    from devkit.servers.postgres import PostgresServer

    lines = []
    with tempfile.TemporaryDirectory(prefix="storelens-bench-db-") as tmp:
        e2e, db_only = ingest_rate(f"sqlite:///{tmp}/bench.db", n, batch, workers)
        lines.append(f"ingest sqlite     {n} msgs, batch {batch}: {e2e:8.0f} msgs/s broker backlog -> DB ({workers} worker(s)), "
                     f"{db_only:8.0f} msgs/s validate+upsert only")
    if postgres:
        with PostgresServer() as pg:
            e2e, db_only = ingest_rate(pg.url, n, batch, workers)
        lines.append(f"ingest postgresql {n} msgs, batch {batch}: {e2e:8.0f} msgs/s broker backlog -> DB ({workers} worker(s)), "
                     f"{db_only:8.0f} msgs/s validate+upsert only")
    return lines


def bench_publish(n: int, caps: list[int]) -> list[str]:
    """Drain n buffered windows through `sync` under each bandwidth cap (0 = none)."""
    from devkit.servers.redis import RedisServer
    from edge_agent.buffer import EdgeBuffer
    from edge_agent.uplink.service import run_sync

    windows = sample_windows(n)
    size = sum(len(w.to_json()) for w in windows)
    lines = []
    with tempfile.TemporaryDirectory(prefix="storelens-bench-") as tmp, _fleet(f"sqlite:///{tmp}/c.db", Path(tmp)) as fleet:
        _engine, broker, password = fleet
        for cap in caps:
            with RedisServer(Path(tmp) / f"redis-{cap}") as server:
                buffer = EdgeBuffer(redis.Redis.from_url(server.url))
                for w in windows:
                    buffer.append(w)
                raw = _raw_config("sqlite://", broker, Path(tmp), redis_url=server.url, cap=cap, device_secret=password)
                cfg = parse_config(raw, "<bench>")
                elapsed = _drain(cfg, buffer, run_sync)
            rate = size / elapsed
            lines.append(f"publish cap {cap or 'none':>8} B/s: {n} windows ({size} B) in {elapsed:6.2f} s = "
                         f"{n / elapsed:7.0f} windows/s, {rate:9.0f} B/s")
    return lines


def _drain(cfg, buffer, run_sync) -> float:
    stop = threading.Event()
    thread = threading.Thread(target=run_sync, args=(cfg, stop))
    started = time.perf_counter()
    thread.start()
    while thread.is_alive():
        stats = buffer.stats()
        if stats.pending == 0 and stats.awaiting_receipt == stats.depth:  # all PUBACKed; no ingest here to receipt
            break
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join(30)
    return elapsed

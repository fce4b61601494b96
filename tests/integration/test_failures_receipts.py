"""No window lost when a broker loses what it acknowledged: failure tests with real processes and SIGKILL.

redis-server, mosquitto (the product's rendered config), `storelens sync run` and `storelens cloud
ingest` run as real processes and are SIGKILLed (or SIGSTOPped) for real; the database is SQLite or
a real PostgreSQL. Every test prints one line

    [scenario] sent=N stored=N lost=0 duplicated=0 runtime=S

where lost counts sent windows whose newest version is not in the database and duplicated counts
keys stored more than once or stored with content other than the newest version sent. Before
receipts, the first four scenarios lost 15-80 % of what was sent (issue 10). Every wait is bounded.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from cloud_sync.db.models import AggregateRecord, DeadLetter, HealthRecord
from cloud_sync.db.repository import content_hash
from devkit.servers.postgres import PostgresServer
from devkit.servers.process import stop_process
from devkit.servers.redis import RedisServer
from edge_agent.buffer import EdgeBuffer
from storelens.wire import AggregateWindow
from tests.servers import (
    INGEST_PASSWORD,
    Fleet,
    broker_client,
    fresh_pg_database,
    ingest_user,
    make_windows,
    storelens,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Receipts overdue after 2 s, then 4, then at most 6 (production: 5 min doubling to 2 h).
FAST_RESEND = {"receipt_timeout_s": 2, "receipt_timeout_max_s": 6}


@dataclass
class Tally:
    sent: int
    stored: int
    lost: int
    duplicated: int


def tally(name: str, sent: list[AggregateWindow], engine, started: float, note: str = "") -> Tally:
    """Compare what the devices buffered with what the database holds, print the scenario line."""
    newest: dict[tuple, AggregateWindow] = {}
    for w in sent:  # the newest version of each key; on a tie the first (the cloud keeps the first)
        if w.key not in newest or w.seq > newest[w.key].seq:
            newest[w.key] = w
    with Session(engine) as session:
        rows = session.exec(select(AggregateRecord.device_id, AggregateRecord.camera_id, AggregateRecord.window_start,
                                   AggregateRecord.seq, AggregateRecord.content_hash)).all()
    stored = Counter((d, c, ws.astimezone(UTC)) for d, c, ws, _s, _h in rows)
    version = {(d, c, ws.astimezone(UTC)): (s, h) for d, c, ws, s, h in rows}
    lost = sum(1 for k, w in newest.items() if k not in version or version[k][0] < w.seq)
    differs = sum(1 for k, w in newest.items() if k in version and version[k][0] >= w.seq
                  and version[k] != (w.seq, content_hash(w)))
    extra = sum(1 for k in version if k not in newest)
    result = Tally(len(newest), sum(1 for k in version if k in newest), lost,
                   sum(n - 1 for n in stored.values()) + differs + extra)
    print(f"[{name}] sent={result.sent} stored={result.stored} lost={result.lost} duplicated={result.duplicated} "
          f"runtime={time.monotonic() - started:.1f}s{note}")
    return result


class Chain:
    """One broker, one Redis holding a buffer per device, ingest and sync processes, a database."""

    def __init__(self, tmp: Path, db_url: str, *, devices: int = 1, **broker_tuning) -> None:
        self.tmp = tmp
        self.fleet = Fleet(db_url, tmp / "broker")
        self.devices = [f"edge-{i:03d}" for i in range(1, devices + 1)]
        for device in self.devices:
            self.fleet.add("store-001", device)
        self.fleet.start_broker(**broker_tuning)
        self.redis = RedisServer(tmp / "redis").start()
        # The test's own client rides out a Redis SIGKILL as the products' clients do.
        self.client = redis.Redis.from_url(self.redis.url, retry=Retry(ExponentialBackoff(cap=1), 8),
                                           retry_on_error=[redis.ConnectionError])
        self.buffers = {d: EdgeBuffer(self.client, stream=f"storelens:{d}") for d in self.devices}
        self.sent: list[AggregateWindow] = []
        self.procs: list[subprocess.Popen] = []
        (tmp / "ingest.secret").write_text(INGEST_PASSWORD)

    @property
    def broker(self):
        return self.fleet.broker

    def config(self, device: str, **sync) -> Path:
        sync = {"wait_for_ingest_s": 3, "stream": f"storelens:{device}", **FAST_RESEND, **sync}
        return write_config(self.tmp / f"{device}.yaml", fleet=self.fleet, redis_url=self.redis.url, device=device,
                            sync=sync, cloud={"ingest_password_file": str(self.tmp / "ingest.secret")})

    def fill(self, device: str, windows: list[AggregateWindow]) -> None:
        for w in windows:
            self.buffers[device].append(w)
        self.sent.extend(windows)

    def windows(self, device: str, n: int, start: datetime) -> list[AggregateWindow]:
        return [w.model_copy(update={"seq": 1}) for w in make_windows(n, device=device, start=start)]

    def start_sync(self, device: str = "edge-001", **sync) -> subprocess.Popen:
        env = {"STORELENS_MQTT_PASSWORD": self.fleet.passwords[device]}
        return self._spawn(["sync", "run", "--config", str(self.config(device, **sync))], env, f"sync-{device}.log")

    def start_ingest(self, worker: str = "w1") -> subprocess.Popen:
        cfg = self.config(self.devices[0])
        return self._spawn(["cloud", "ingest", "--config", str(cfg), "--worker", worker], {}, f"ingest-{worker}.log")

    def _spawn(self, args: list[str], env: dict, log: str) -> subprocess.Popen:
        proc = storelens(args, env=env, log_path=self.tmp / log)
        self.procs.append(proc)
        return proc

    def await_ingest(self) -> None:
        """A status message that reaches the database proves ingest's shared subscription exists."""
        client = self.fleet.device_client(self.devices[0])
        marker = f"{time.time():.6f}"

        def seen() -> bool:
            client.publish(f"storelens/v1/store-001/{self.devices[0]}/status", b"online", qos=1)
            try:
                with Session(self.fleet.engine) as session:
                    row = session.get(HealthRecord, self.devices[0])
            except OperationalError:  # a database still starting up
                return False
            return row is not None and row.status_at is not None and row.status_at.timestamp() > float(marker)
        wait_for(seen, 60, "ingest to subscribe", poll_s=0.5)
        client.disconnect()
        client.loop_stop()

    def kill_broker(self) -> None:
        self.broker.proc.send_signal(signal.SIGKILL)
        self.broker.proc.wait(10)

    def stored(self) -> int:
        try:
            with Session(self.fleet.engine) as session:
                return len(session.exec(select(AggregateRecord.id)).all())
        except OperationalError:  # the test's own reads during a database outage
            return -1

    def all_sent(self, device: str = "edge-001") -> bool:
        """Every buffered window has had its PUBACK (or its receipt)."""
        stats = self.buffers[device].stats()
        return stats.pending == 0 and stats.awaiting_receipt == stats.depth

    def wait_stored(self, timeout_s: float) -> None:
        keys = {w.key for w in self.sent}
        wait_for(lambda: self.stored() >= len(keys), timeout_s, f"{len(keys)} windows in the database", poll_s=0.5)

    def wait_drained(self, timeout_s: float = 60) -> None:
        """Receipts delete every window from the buffers: nothing left to resend."""
        wait_for(lambda: all(b.stats().depth == 0 for b in self.buffers.values()), timeout_s, "the buffers to empty")

    def resent(self) -> int:
        return sum(b.stats().resent for b in self.buffers.values())

    def dead(self) -> list[str]:
        with Session(self.fleet.engine) as session:
            return [d.reason for d in session.exec(select(DeadLetter))]

    def log(self, name: str) -> str:
        return (self.tmp / name).read_text(errors="replace")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None and proc_stopped(proc):
                os.kill(proc.pid, signal.SIGCONT)
            stop_process(proc)
        self.client.close()
        self.redis.stop()
        self.fleet.stop()


def proc_stopped(proc: subprocess.Popen) -> bool:
    try:
        return Path(f"/proc/{proc.pid}/stat").read_text().split()[2] == "T"
    except OSError:
        return False


@pytest.fixture
def chain_factory(tmp_path):
    made: list[Chain] = []

    def make(db_url: str | None = None, **kwargs) -> Chain:
        chain = Chain(tmp_path, db_url or f"sqlite:///{tmp_path / 'cloud.db'}", **kwargs)
        made.append(chain)
        return chain
    yield make
    for chain in made:
        chain.close()


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


START = datetime(2026, 3, 1, tzinfo=UTC)


def test_broker_sigkilled_while_ingest_is_away(chain_factory) -> None:
    started = time.monotonic()
    # The broker holds queued messages in RAM until its next snapshot (an hour here): a SIGKILL loses them.
    chain = chain_factory(autosave_interval_s=3600)
    ingest = chain.start_ingest()
    chain.await_ingest()
    chain.fill("edge-001", chain.windows("edge-001", 1000, START))
    chain.start_sync(wait_for_ingest_s=300)  # the device keeps publishing while ingest is away
    wait_for(lambda: chain.stored() >= 100, 60, "ingest to store some")
    _kill(ingest)
    chain.fill("edge-001", chain.windows("edge-001", 800, START + timedelta(days=10)))
    wait_for(lambda: chain.all_sent(), 60, "every window to be PUBACKed by the broker")
    away = chain.buffers["edge-001"].stats().awaiting_receipt
    chain.kill_broker()  # everything it queued for the absent ingest is gone
    chain.broker.start()
    chain.start_ingest()
    chain.wait_stored(120)
    chain.wait_drained()
    result = tally("broker SIGKILL while ingest is away", chain.sent, chain.fleet.engine, started,
                   f" (PUBACKed but not receipted when the broker died: {away}; re-sent: {chain.resent()})")
    assert (result.lost, result.duplicated) == (0, 0) and result.stored == result.sent == 1800
    assert away > 500 and chain.resent() >= away - 100  # the broker really lost them; receipts got them back


def test_broker_sigkilled_during_a_database_outage(chain_factory) -> None:
    started = time.monotonic()
    pg = PostgresServer().start()
    try:
        chain = chain_factory(fresh_pg_database(pg.url), autosave_interval_s=3600)
        chain.start_ingest()
        chain.await_ingest()
        chain.fill("edge-001", chain.windows("edge-001", 1000, START))
        chain.start_sync(wait_for_ingest_s=300)
        wait_for(lambda: chain.stored() >= 100, 60, "ingest to store some")
        pg.pause()  # PostgreSQL down (60 s in the field; 12 s here)
        down_at = time.monotonic()
        chain.fill("edge-001", chain.windows("edge-001", 800, START + timedelta(days=10)))
        wait_for(lambda: chain.all_sent(), 60, "every window to be PUBACKed by the broker")
        chain.kill_broker()
        chain.broker.start()
        time.sleep(max(0.0, 12 - (time.monotonic() - down_at)))
        pg.resume()
        chain.wait_stored(120)
        chain.wait_drained()
        ingest_log = chain.log("ingest-w1.log")
        result = tally("broker SIGKILL during a database outage", chain.sent, chain.fleet.engine, started,
                       f" (re-sent: {chain.resent()})")
    finally:
        pg.stop()
    assert (result.lost, result.duplicated) == (0, 0) and result.stored == result.sent == 1800
    assert "Traceback" not in ingest_log
    assert sum("database" in line and "unavailable" in line for line in ingest_log.splitlines()) == 1


def test_a_finite_broker_queue_with_a_slow_ingest(chain_factory) -> None:
    started = time.monotonic()
    chain = chain_factory(max_queued_messages=1000)
    ingest = chain.start_ingest()
    chain.await_ingest()
    chain.start_sync(wait_for_ingest_s=300, batch_size=500)
    chain.fill("edge-001", chain.windows("edge-001", 10, START))
    chain.wait_stored(30)  # the box has heard ingest and drains
    ingest.send_signal(signal.SIGSTOP)  # a slow ingest, at its slowest
    chain.fill("edge-001", chain.windows("edge-001", 10_000, START + timedelta(days=1)))
    wait_for(lambda: chain.all_sent(), 120, "every window to be PUBACKed by the broker")
    broker_log = chain.broker.files.log.read_text(errors="replace")
    ingest.send_signal(signal.SIGCONT)
    chain.wait_stored(240)
    chain.wait_drained(120)
    result = tally("finite broker queue (1000), slow ingest", chain.sent, chain.fleet.engine, started,
                   f" (re-sent: {chain.resent()}; broker log: {'dropped' in broker_log and 'it dropped messages' or 'no drop'})")
    assert (result.lost, result.duplicated) == (0, 0) and result.stored == result.sent == 10_010
    assert chain.resent() >= 5000  # the queue limit dropped most of them; receipts brought every one back


def test_an_extra_subscriber_in_the_shared_group(chain_factory) -> None:
    started = time.monotonic()
    chain = chain_factory()
    share = "$share/ingest/storelens/v1/+/+/aggregates"  # exactly ingest's filter
    device = _Subscriber(chain, "edge-001", chain.fleet.passwords["edge-001"], share)
    assert device.granted is False, "a device may not join ingest's shared subscription"
    device.close()
    chain.start_ingest()
    chain.await_ingest()
    # A misconfigured fleet: something with an ingest account joins the group and throws away its share.
    rogue = _Subscriber(chain, ingest_user("w3"), INGEST_PASSWORD, share)
    assert rogue.granted is True
    chain.fill("edge-001", chain.windows("edge-001", 200, START))
    chain.start_sync(receipt_timeout_s=1, receipt_timeout_max_s=3)
    chain.wait_stored(120)
    chain.wait_drained()
    rogue.close()
    result = tally("extra subscriber in the shared group", chain.sent, chain.fleet.engine, started,
                   f" (the extra subscriber swallowed {rogue.received} deliveries; re-sent: {chain.resent()})")
    assert (result.lost, result.duplicated) == (0, 0) and result.stored == result.sent == 200
    assert rogue.received >= 50  # it really took a share


class _Subscriber:
    def __init__(self, chain: Chain, user: str, password: str, pattern: str) -> None:
        self.granted: bool | None = None
        self.received = 0
        self.client = broker_client(chain.broker, user, password)
        self.client.on_connect = lambda c, *_a: c.subscribe(pattern, qos=1)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", chain.broker.port)
        self.client.loop_start()
        wait_for(lambda: self.granted is not None, 10, f"the SUBACK for {user}")

    def _on_subscribe(self, _c, _u, _mid, reason_codes, _p) -> None:
        self.granted = not reason_codes[0].is_failure

    def _on_message(self, _c, _u, _msg: mqtt.MQTTMessage) -> None:
        self.received += 1  # acknowledged and dropped: what a stray consumer does

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_many_random_sigkills_across_ten_devices(chain_factory, pg_server) -> None:
    started = time.monotonic()
    rng = random.Random(1010)
    chain = chain_factory(fresh_pg_database(pg_server.url), devices=10, autosave_interval_s=5)
    procs = {"ingest": chain.start_ingest()}
    chain.await_ingest()
    for i, device in enumerate(chain.devices):
        chain.fill(device, chain.windows(device, 100, START + timedelta(days=30 * i)))
        procs[device] = chain.start_sync(device, wait_for_ingest_s=5, bandwidth_bytes_per_s=60_000, batch_size=20)
    kills = Counter()
    schedule = ["broker"] * 2 + ["ingest"] * 3 + ["redis"] * 2 + rng.sample(chain.devices, 7)
    rng.shuffle(schedule)
    for round_, victim in enumerate(schedule):
        time.sleep(rng.uniform(1.5, 3.0))
        for device in rng.sample(chain.devices, 3):  # the boxes keep producing windows
            chain.fill(device, chain.windows(device, 20, START + timedelta(days=30 * chain.devices.index(device),
                                                                            hours=100 + 5 * round_)))
        kills[victim if victim in ("broker", "ingest", "redis") else "sync"] += 1
        if victim == "broker":
            chain.kill_broker()
            time.sleep(rng.uniform(0.2, 1.0))
            chain.broker.start()
        elif victim == "redis":  # the box's power cut, as far as its buffer knows
            chain.redis.kill()
            time.sleep(rng.uniform(0.2, 1.0))
            chain.redis.start()
        else:
            _kill(procs[victim])
            time.sleep(rng.uniform(0.2, 1.0))
            procs[victim] = chain.start_ingest() if victim == "ingest" else chain.start_sync(
                victim, wait_for_ingest_s=5, bandwidth_bytes_per_s=60_000, batch_size=20)
    chain.wait_stored(180)
    chain.wait_drained(120)
    result = tally("random SIGKILLs across 10 devices", chain.sent, chain.fleet.engine, started,
                   f" (SIGKILLs: {dict(kills)}; re-sent: {chain.resent()})")
    assert (result.lost, result.duplicated) == (0, 0) and result.stored == result.sent


def test_a_poison_message_queued_for_ingest_does_not_stop_it_on_restart(chain_factory) -> None:
    started = time.monotonic()
    chain = chain_factory()
    ingest = chain.start_ingest()
    chain.await_ingest()
    _kill(ingest)  # the persistent session now queues for it
    device = chain.fleet.device_client("edge-001")
    poison = b"[" * 1000 + b"]" * 1000  # 2 KB: json.loads raised RecursionError and ingest died, 3 of 3 restarts
    good = chain.windows("edge-001", 20, START)
    for payload in [poison, *(w.to_json() for w in good[:10]), poison, *(w.to_json() for w in good[10:])]:
        device.publish("storelens/v1/store-001/edge-001/aggregates", payload, qos=1).wait_for_publish(5)
    device.disconnect()
    device.loop_stop()
    chain.sent.extend(good)
    for attempt in range(3):  # and it keeps running across restarts
        proc = chain.start_ingest()
        chain.wait_stored(60)
        time.sleep(1)
        assert proc.poll() is None, f"ingest died on restart {attempt + 1}"
        _kill(proc)
    result = tally("poison message in ingest's session", chain.sent, chain.fleet.engine, started)
    assert (result.lost, result.duplicated) == (0, 0)
    assert [r.split(":")[0] for r in chain.dead()] == ["malformed", "malformed"]
    assert "Traceback" not in chain.log("ingest-w1.log")


def test_ingest_started_while_the_database_is_down_waits_with_one_line(chain_factory) -> None:
    pg = PostgresServer().start()
    try:
        chain = chain_factory(fresh_pg_database(pg.url))
        pg.pause()
        ingest = chain.start_ingest()
        wait_for(lambda: "unavailable" in chain.log("ingest-w1.log"), 60, "ingest to say the database is down")
        time.sleep(4)  # several retries
        assert ingest.poll() is None
        pg.resume()
        chain.await_ingest()
        chain.fill("edge-001", chain.windows("edge-001", 50, START))
        chain.start_sync()
        chain.wait_stored(60)
        text = chain.log("ingest-w1.log")
    finally:
        pg.stop()
    lines = [line for line in text.splitlines() if "database" in line and ("unavailable" in line or "again" in line)]
    print("\n".join(lines))
    assert "Traceback" not in text
    assert len(lines) == 2 and "ingest starts once it answers" in lines[0] and "available again" in lines[1]

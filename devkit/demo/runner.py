"""`storelens demo`: the whole chain on loopback, started and stopped in order.

Redis (one per simulated edge box) -> edge agent on the looping sample video -> sync with the
off-peak window always open -> Mosquitto (TLS, per-device passwords, ACL) -> ingest -> SQLite ->
dashboard, plus the synthetic history (a fleet of seeded stores, and a seeded past for each live
store: the sample video's faces are too small for an age, so that past is where their age mix comes
from). Every piece is the product's own code with its normal config tree; only the values are demo
values. Everything started is registered on an ExitStack, so a failure half-way, Ctrl-C or SIGTERM
stops exactly what was started, in reverse order.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session

from cloud_sync.db.models import AggregateRecord, DeadLetter
from devkit.demo.stores import (
    DEMO_STORES,
    HISTORY_CAMERA,
    DemoStore,
    Endpoints,
    cloud_config,
    floorplan_uri,
    history_store,
    store_config,
)

log = logging.getLogger(__name__)

A = AggregateRecord.__table__.c
DEMO_WORKER = "demo"  # the ingest worker's name: it logs in to the broker as ingest-demo


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float | None = None  # None: until Ctrl-C / SIGTERM
    edge: bool = True  # False: no video analysis (fast start; dashboard, seed, broker, ingest only)
    seed_stores: int = 50
    seed_days: int = 90
    history_days: int = 14  # seeded past of each live store, ending the day before the demo starts
    host: str = "127.0.0.1"
    port: int = 8050
    window_minutes: int = 1
    edge_fps: float = 5.0  # half the sample's 10 fps: two stores' analysis fits a small CPU
    status_every_s: float = 15.0
    workdir: Path | None = None  # None: a temp dir removed at exit


@dataclass
class DemoState:
    """What the demo started and learned, for the status line and for tests."""

    workdir: Path
    database_url: str = ""
    dashboard_url: str = ""
    logins: dict[str, str] = field(default_factory=dict)
    redis_urls: dict[str, str] = field(default_factory=dict)  # without password (see redis_passwords)
    redis_passwords: dict[str, str] = field(default_factory=dict)  # each box's Redis has its own (requirepass)
    failures: list[str] = field(default_factory=list)


class Demo:
    def __init__(self, options: DemoOptions, report: Callable[[str], None]) -> None:
        self.options = options
        self.report = report  # the CLI prints; library code only logs
        self.state: DemoState | None = None
        self._threads: list[threading.Thread] = []
        self._device_passwords: dict[str, str] = {}
        self._ingest_file: Path | None = None

    def run(self, stop: threading.Event) -> DemoState:
        """Start everything, report status until `stop` (or the duration), then stop everything."""
        with contextlib.ExitStack() as stack:
            video = self._video()  # missing models or video fail before anything starts
            self.state = DemoState(self._workdir(stack))
            engine = self._database(stack)
            self._dashboard(stack, engine)  # a taken port fails before the servers start
            ends = self._broker(stack, engine, video)
            self._history(engine, ends.started)
            self._buffers(stack)
            # Registered after the servers, so it runs before they stop: services finish cleanly.
            stack.callback(self._stop_services, stop)
            self._services(stop, ends)
            self._announce()
            self._wait(stop, engine)
        return self.state

    def _workdir(self, stack: contextlib.ExitStack) -> Path:
        if self.options.workdir is not None:
            self.options.workdir.mkdir(parents=True, exist_ok=True)
            return self.options.workdir
        path = Path(tempfile.mkdtemp(prefix="storelens-demo-"))
        stack.callback(shutil.rmtree, path, ignore_errors=True)
        return path

    def _database(self, stack: contextlib.ExitStack):
        from cloud_sync.db.engine import init_db, make_engine
        from devkit.demo.seed import seed_history

        self.state.database_url = f"sqlite:///{self.state.workdir / 'cloud.db'}"
        engine = make_engine(self.state.database_url)
        stack.callback(engine.dispose)
        init_db(engine)
        if self.options.seed_stores > 0:
            t0 = time.monotonic()
            summary = seed_history(engine, stores=self.options.seed_stores, days=self.options.seed_days)
            self.report(f"seeded history: {summary.stores} stores x {self.options.seed_days} days "
                        f"({summary.windows} windows, marked seeded) in {time.monotonic() - t0:.0f} s")
            from devkit.demo.seed_pos import seed_pos

            self.report(f"seeded POS sales: {seed_pos(engine)} store-hours (conversion on seeded stores)")
        self._users(engine)
        return engine

    def _history(self, engine, started: datetime) -> None:
        """Each live store's seeded past in its own age profile, on whole local days before `started`."""
        from devkit.demo.seed import seed_store_history

        if self.options.history_days <= 0:
            return
        windows = 0
        for demo in DEMO_STORES:
            last_day = started.astimezone(ZoneInfo(demo.timezone)).date() - timedelta(days=1)
            summary = seed_store_history(engine, history_store(demo), days=self.options.history_days,
                                         last_day=last_day, device_id=demo.history_device_id,
                                         camera_id=HISTORY_CAMERA)
            windows += summary.windows
        profiles = ", ".join(f"{s.store_id} {s.profile}" for s in DEMO_STORES)
        self.report(f"seeded history for the live stores ({profiles}): {self.options.history_days} days up to "
                    f"yesterday ({windows} windows, marked seeded)")

    def _users(self, engine) -> None:
        from dashboard.auth import add_user

        demo_ids = [s.store_id for s in DEMO_STORES]
        for role, stores in (("manager", demo_ids), ("analyst", []), ("technician", [])):
            password = secrets.token_urlsafe(9)
            add_user(engine, username=role, password=password, role=role, store_ids=stores)
            self.state.logins[role] = password

    def _secret_file(self, name: str, value: str) -> Path:
        path = self.state.workdir / "secrets" / name
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(value)
        return path

    def _register(self, engine) -> dict[str, str]:
        """The demo stores and their edge devices in the registry (again on a kept --dir); device passwords."""
        from cloud_sync.db.models import Device, Store
        from cloud_sync.registry import add_device, add_store, issue_credentials

        passwords = {}
        with Session(engine) as session:
            for demo in DEMO_STORES:
                store = session.get(Store, demo.store_id) or add_store(
                    session, store_id=demo.store_id, name=demo.name, timezone=demo.timezone)
                store.area_m2, store.opening_hours_per_week = demo.area_m2, demo.opening_hours_per_week
                store.floor_width_m, store.floor_height_m = demo.floor_m
                store.floorplan_png = floorplan_uri(demo)
                if session.get(Device, demo.device_id) is not None:
                    passwords[demo.store_id] = issue_credentials(session, device_id=demo.device_id)
                else:
                    _device, passwords[demo.store_id] = add_device(session, store_id=demo.store_id,
                                                                   device_id=demo.device_id, name="demo edge box")
            session.commit()
        return passwords

    def _broker(self, stack: contextlib.ExitStack, engine, video: Path | None) -> Endpoints:
        from cloud_sync.registry import broker_users, set_ingest_password
        from devkit.servers.mosquitto import MosquittoServer

        self._device_passwords = self._register(engine)
        with Session(engine) as session:
            # The demo's one ingest worker ("demo") has its own broker account, as every worker does.
            ingest_password, _outcome = set_ingest_password(session, username=f"ingest-{DEMO_WORKER}")
            session.commit()
            users = broker_users(session)
        self._ingest_file = self._secret_file("ingest", ingest_password)
        broker = MosquittoServer(self.state.workdir / "broker", users=users).start()
        stack.callback(broker.stop)
        return Endpoints(broker.port, broker.files.tls.ca_cert, video, self.options.window_minutes,
                         datetime.now(UTC), self.options.edge_fps)

    def _video(self) -> Path | None:
        """The sample video, after checking the default models: a missing one fails now, in one line."""
        if not self.options.edge:
            return None
        from edge_agent.models import load_manifest, resolve_model
        from edge_agent.samples import fetch_sample, get_sample
        from storelens.config.models import ModelsConfig
        from storelens.errors import ModelError

        models = ModelsConfig()
        for spec in load_manifest().values():
            if spec.default:
                try:
                    resolve_model(spec.name, models)
                except ModelError as exc:
                    raise ModelError(f"{exc} (or run the demo with --no-edge)") from None
        return fetch_sample(get_sample())

    def _buffers(self, stack: contextlib.ExitStack) -> None:
        """One Redis per simulated edge box, as in a store: loopback only, its own random password
        (requirepass), which edge and sync read from a secret file like a real box."""
        from devkit.servers.redis import RedisServer

        for demo in DEMO_STORES:
            password = secrets.token_urlsafe(24)
            redis = RedisServer(self.state.workdir / f"redis-{demo.store_id}", password=password).start()
            stack.callback(redis.stop)
            self.state.redis_urls[demo.store_id] = redis.url
            self.state.redis_passwords[demo.store_id] = password

    def _services(self, stop: threading.Event, ends: Endpoints) -> None:
        from cloud_sync.ingest_service import run_ingest
        from edge_agent.app import run_edge
        from edge_agent.uplink.service import run_sync

        self._spawn("ingest", functools.partial(run_ingest, worker=DEMO_WORKER),
                    cloud_config(self.state.database_url, ends, self._ingest_file), stop)
        for demo in DEMO_STORES:
            redis_secret = self._secret_file(f"redis-{demo.store_id}", self.state.redis_passwords[demo.store_id])
            cfg = store_config(demo, ends, self.state.redis_urls[demo.store_id],
                               self._secret_file(demo.device_id, self._device_passwords[demo.store_id]),
                               redis_password_file=redis_secret)
            self._spawn(f"sync {demo.store_id}", run_sync, cfg, stop)
            if self.options.edge:
                self._spawn(f"edge {demo.store_id}", run_edge, cfg, stop)

    def _spawn(self, name: str, target: Callable, cfg, stop: threading.Event) -> None:
        """A service thread; a crash is logged and shown in the status, the rest keeps running."""

        def guarded() -> None:
            try:
                target(cfg, stop)
            except Exception as exc:  # noqa: BLE001  (one failed service must not end the demo)
                log.debug("demo service %s failed", name, exc_info=True)
                self.report(f"service {name} failed: {exc}")
                self.state.failures.append(name)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _stop_services(self, stop: threading.Event, timeout_s: float = 20.0) -> None:
        stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("demo service %s did not stop within %.0f s", thread.name, timeout_s)

    def _dashboard(self, stack: contextlib.ExitStack, engine) -> None:
        from dashboard.app import create_app
        from dashboard.server import DashboardServer
        from storelens.config.dashboard import DashboardConfig

        cfg = DashboardConfig(host=self.options.host, port=self.options.port or 8050)
        server = DashboardServer(create_app(engine, cfg, development=True), self.options.host, self.options.port)
        server.start()
        stack.callback(server.stop)
        self.state.dashboard_url = server.url

    def _announce(self) -> None:
        self.report(f"dashboard: {self.state.dashboard_url}")
        for role, password in self.state.logins.items():
            self.report(f"  log in as {role:<10} password {password}")
        stores = ", ".join(s.store_id for s in DEMO_STORES)
        self.report(f"live stores: {stores} (sample video, {self.options.window_minutes}-minute windows"
                    f"{'' if self.options.edge else '; edge agents off (--no-edge)'}). Ctrl-C stops.")
        for line in self._age_notice():
            self.report(f"  {line}")

    def _age_notice(self) -> list[str]:
        """Where the live stores' numbers come from, so nobody reads the seeded age mix as measured."""
        mixes = ", ".join(f"{s.store_id} {s.profile}" for s in DEMO_STORES)
        if self.options.history_days <= 0:
            history = "no seeded history for the live stores (history_days 0), so their pages show no age mix"
        elif self.options.edge:
            history = f"so the age mix on their store pages comes from their seeded history ({mixes}), marked seeded"
        else:
            history = f"their store pages, age mix included, show their seeded history ({mixes}), marked seeded"
        if not self.options.edge:
            return ["no live windows (--no-edge)", history]
        return ["live windows (from the sample video) carry visitors, dwell, zones and heatmap but no ages: "
                "its faces are too small for the age gate", history]

    def _wait(self, stop: threading.Event, engine) -> None:
        from devkit.demo.seed import refresh_heartbeats

        started = time.monotonic()
        end = started + self.options.duration_s if self.options.duration_s else None
        while not stop.is_set() and (end is None or time.monotonic() < end):
            step = self.options.status_every_s if end is None else min(self.options.status_every_s,
                                                                       max(0.0, end - time.monotonic()))
            if stop.wait(step):
                break
            refresh_heartbeats(engine)
            self.report(self.status_line(engine, time.monotonic() - started))

    def status_line(self, engine, elapsed_s: float) -> str:
        parts = [f"{store.store_id}: {_buffer_counts(self.state.redis_urls.get(store.store_id), store, self.state.redis_passwords.get(store.store_id))} "
                 f"{_stored(engine, store.store_id)} stored" for store in DEMO_STORES]
        with Session(engine) as session:
            dead = session.scalar(select(func.count()).select_from(DeadLetter))
        failed = f" | FAILED: {', '.join(self.state.failures)}" if self.state.failures else ""
        return f"[{elapsed_s:5.0f} s] " + " | ".join(parts) + f" | dead letters {dead}{failed}"


def _buffer_counts(redis_url: str | None, store: DemoStore, password: str | None = None) -> str:
    """'N made, M sent,' from the store's edge buffer (sent = acknowledged by the broker and removed)."""
    import redis

    from edge_agent.buffer import EdgeBuffer

    if redis_url is None:
        return "buffer down,"
    client = redis.Redis.from_url(redis_url, password=password, socket_timeout=2)
    try:
        stats = EdgeBuffer(client, stream=f"storelens:{store.store_id}").stats()
    except redis.RedisError as exc:
        return f"buffer unreachable ({exc.__class__.__name__}),"
    finally:
        client.close()
    dropped = stats.dropped
    sent = stats.appended - stats.depth - dropped
    return f"{stats.appended} made, {sent} sent," + (f" {dropped} dropped," if dropped else "")


def _stored(engine, store_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(A.store_id == store_id, A.seeded.is_(False))) or 0)

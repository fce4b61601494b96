"""`storelens demo` guards its edge buffers like a box does: each Redis has its own random password and
listens on loopback only, edge and sync read the password from a secret file, and a local process that
does not know it (the attack: inject a fake window, uploaded under the box's credentials) is refused."""

from __future__ import annotations

import stat
import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlmodel import Session, select

from cloud_sync.db.engine import make_engine
from cloud_sync.db.models import AggregateRecord, HealthRecord
from devkit.demo.runner import Demo, DemoOptions, _buffer_counts
from devkit.demo.stores import DEMO_STORES
from edge_agent.buffer import EdgeBuffer, open_buffer
from storelens.config import parse_config
from storelens.wire import AggregateWindow
from tests.servers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    runner = Demo(DemoOptions(edge=False, seed_stores=0, history_days=0, port=0, status_every_s=1.0, workdir=workdir),
                  lines.append)
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            runner.run(stop)
        except BaseException as exc:  # surfaced below: a dead demo thread must not look like a slow start
            failure.append(exc)
            raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def started() -> bool:
        if failure or not thread.is_alive():
            pytest.fail(f"the demo stopped while starting: {failure!r}\n" + "\n".join(lines[-30:]))
        return bool(runner.state and any(line.startswith("dashboard:") for line in lines))

    wait_for(started, 120, "the demo to start")
    engine = make_engine(runner.state.database_url)
    yield runner, engine, lines
    stop.set()
    thread.join(60)
    engine.dispose()


def _fake_window(store_id: str, device_id: str) -> AggregateWindow:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    return AggregateWindow(store_id=store_id, device_id=device_id, camera_id="fake", window_start=start,
                           window_end=start + timedelta(minutes=1), entries=999)


def test_each_demo_redis_has_its_own_password_and_refuses_a_client_without_it(demo) -> None:
    runner, _engine, _lines = demo
    state = runner.state
    assert len(set(state.redis_passwords.values())) == len(DEMO_STORES)  # one random password per box
    for store in DEMO_STORES:
        url, password = state.redis_urls[store.store_id], state.redis_passwords[store.store_id]
        assert password not in url  # never in a URL or a config, only in the secret file
        intruder = redis.Redis.from_url(url, socket_timeout=5)
        with pytest.raises(redis.AuthenticationError):
            EdgeBuffer(intruder, stream=f"storelens:{store.store_id}").append(_fake_window(store.store_id, store.device_id))
        intruder.close()
        owner = redis.Redis.from_url(url, password=password, socket_timeout=5)
        assert owner.config_get("bind") == {"bind": "127.0.0.1"}
        assert owner.config_get("protected-mode") == {"protected-mode": "yes"}
        assert owner.xlen(f"storelens:{store.store_id}") == 0  # the injection never landed
        owner.close()
        assert _buffer_counts(url, store).startswith("buffer unreachable (AuthenticationError)")
        secret = state.workdir / "secrets" / f"redis-{store.store_id}"
        assert secret.read_text() == password and stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_the_products_buffer_needs_the_password_and_the_demo_boxes_have_it(demo, tmp_path) -> None:
    runner, engine, lines = demo
    store = DEMO_STORES[0]
    url = runner.state.redis_urls[store.store_id]
    without = parse_config({"store_id": store.store_id, "device_id": store.device_id,
                            "sync": {"redis_url": url, "stream": f"storelens:{store.store_id}"}}, "<no password>")
    with pytest.raises(redis.AuthenticationError):
        open_buffer(without).stats()
    secret = runner.state.workdir / "secrets" / f"redis-{store.store_id}"
    with_file = parse_config({"store_id": store.store_id, "device_id": store.device_id,
                              "sync": {"redis_url": url, "stream": f"storelens:{store.store_id}",
                                       "redis_password_file": str(secret)}}, "<secret file>")
    assert open_buffer(with_file).stats().depth == 0

    def every_box_reported() -> bool:  # sync reads its buffer (with the password) for each heartbeat
        with Session(engine) as session:
            return all(session.get(HealthRecord, s.device_id) is not None for s in DEMO_STORES)

    wait_for(every_box_reported, 60, "a heartbeat from every demo box")
    # A window the box's own edge agent would buffer (it knows the password) travels the whole chain.
    window = _fake_window(store.store_id, store.device_id).model_copy(update={"camera_id": "entrance", "entries": 3})
    open_buffer(with_file).append(window)

    def stored() -> bool:
        with Session(engine) as session:
            return session.exec(select(AggregateRecord).where(AggregateRecord.device_id == store.device_id,
                                                              AggregateRecord.window_start == window.window_start)).first()

    wait_for(stored, 90, "the buffered window in the cloud database")
    assert runner.state.failures == []
    assert not any("buffer unreachable" in line for line in lines if line.startswith("["))

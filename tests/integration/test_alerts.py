"""Alerts end to end against real receivers on loopback: an HTTP webhook receiver and SMTP servers
(aiosmtpd, plain and STARTTLS with log-in). Fire, no repeat, restart without re-firing, recover,
rate limit, a receiver that is down, per-store routes, dead-letter bursts, the CLI service."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import update
from sqlmodel import Session

from cloud_sync.alerts.service import AlertService
from cloud_sync.db.engine import init_db, make_engine
from cloud_sync.db.models import AggregateRecord, DeadLetter, Device, HealthRecord, Store
from storelens.config import parse_config

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every POST (and can answer 500)."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.headers: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.raw = body
                receiver.headers.append(dict(self.headers))
                receiver.posts.append(json.loads(body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook/secret-path"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[tuple[str, str]]:
        return [(a["event"], a["key"]) for p in self.posts for a in p["alerts"]]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MailBox:
    async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def __init__(self) -> None:
        self.messages = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture()
def smtp():
    from aiosmtpd.controller import Controller

    box = MailBox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, box
    controller.stop()


@pytest.fixture()
def db(db_url):
    """Three stores (one seeded) with a device each, on SQLite and on a real PostgreSQL."""
    url = db_url
    engine = make_engine(url)
    init_db(engine)
    with Session(engine) as s:
        s.add_all([Store(store_id="s1", name="Berlin Mitte"), Store(store_id="s2", name="Hamburg"),
                   Store(store_id="demo", name="Demo", seeded=True)])
        s.commit()
        for store, device in (("s1", "d1"), ("s2", "d2"), ("demo", "dd")):
            s.add(Device(store_id=store, device_id=device, mqtt_username=device, password_hash="x"))
        s.commit()
    yield url, engine
    engine.dispose()


def beat(engine, device: str, store: str, at: datetime, *, up: bool = True, backlight: float = 0.2) -> None:
    """A heartbeat (and a synced window) from `device` at `at`, its one camera up or not."""
    payload = {"buffer_depth": 0, "cameras": [{"camera_id": "door", "up": up, "fps": 10.0 if up else 0.0,
                                                "backlight_score": backlight, "small_face_fraction": 0.1,
                                                "median_face_px": 80, "faces_seen": 40}]}
    with Session(engine) as s:
        row = s.get(HealthRecord, device) or HealthRecord(device_id=device, store_id=store)
        row.status, row.received_at, row.payload = "online", at, payload
        s.add(row)
        s.add(AggregateRecord(store_id=store, device_id=device, camera_id="door", window_start=at,
                              window_end=at + timedelta(minutes=15), received_at=at))
        s.commit()


def config(url: str, routes: list[dict], **alerts) -> object:
    return parse_config({"cloud": {"database_url": url}, "alerts": {"routes": routes, **alerts}})


def test_fire_once_survive_restart_then_recover(db, receiver, smtp):
    url, engine = db
    port, box = smtp
    cfg = config(url, [{"name": "ops", "webhook": {"url": receiver.url}, "email": {"to": ["ops@example.org"]}}],
                 smtp={"host": "127.0.0.1", "port": port, "starttls": False})
    for device, store in (("d1", "s1"), ("d2", "s2"), ("dd", "demo")):
        beat(engine, device, store, T0)
    service = AlertService(cfg, engine)
    assert service.run_once(T0 + timedelta(minutes=1)).sent == {}  # all fine: nothing said
    # d1 goes quiet: offline once its heartbeat is older than dashboard.heartbeat_timeout_s (180 s)
    beat(engine, "d2", "s2", T0 + timedelta(minutes=4))
    first = service.run_once(T0 + timedelta(minutes=5))
    assert receiver.events() == [("firing", "device_offline:s1:d1")]
    assert first.sent == {"ops/webhook": 1, "ops/email": 1}
    alert = receiver.posts[0]["alerts"][0]
    assert alert["store_id"] == "s1" and alert["device_id"] == "d1" and "offline" in alert["summary"]
    assert "power and network" in alert["advice"]
    assert box.messages[0]["Subject"].startswith("[storelens] FIRING: Device d1 of store s1 is offline")
    service.run_once(T0 + timedelta(minutes=6))
    restarted = AlertService(cfg, engine)  # a new process reads what was sent from the database
    beat(engine, "d2", "s2", T0 + timedelta(minutes=6))
    restarted.run_once(T0 + timedelta(minutes=7))
    assert len(receiver.posts) == 1 and len(box.messages) == 1
    beat(engine, "d1", "s1", T0 + timedelta(minutes=8))
    beat(engine, "d2", "s2", T0 + timedelta(minutes=8))
    restarted.run_once(T0 + timedelta(minutes=9))
    assert receiver.events()[-1] == ("resolved", "device_offline:s1:d1")
    assert "RESOLVED" in box.messages[-1]["Subject"] and "back to normal" in box.messages[-1].get_content()
    assert all(a["store_id"] != "demo" for p in receiver.posts for a in p["alerts"])  # seeded store: no alerts


def test_rate_limit_holds_then_sends_together(db, receiver):
    url, engine = db
    cfg = config(url, [{"name": "ops", "webhook": {"url": receiver.url}}], max_per_hour=2, refire_after_s=0)
    service = AlertService(cfg, engine)
    beat(engine, "d2", "s2", T0)
    now = T0
    for i in range(5):  # the camera flaps down and up every round, ending down
        now += timedelta(minutes=2)
        beat(engine, "d1", "s1", now, up=i % 2 == 1)
        beat(engine, "d2", "s2", now)
        result = service.run_once(now)
    assert len(receiver.posts) == 2  # the hourly limit
    assert result.held == {"ops/webhook": 1}
    beat(engine, "d1", "s1", T0 + timedelta(minutes=63), up=False)
    beat(engine, "d2", "s2", T0 + timedelta(minutes=63), up=False)
    service.run_once(T0 + timedelta(minutes=64))  # an hour after the first message: allowed again
    last = receiver.posts[-1]["alerts"]
    assert len(receiver.posts) == 3 and len(last) == 2  # both cameras' problems in one message
    assert {a["key"] for a in last} == {"camera_problem:s1:d1:door:no frames", "camera_problem:s2:d2:door:no frames"}


def test_a_flapping_alert_waits_for_refire_after(db, receiver):
    url, engine = db
    cfg = config(url, [{"name": "ops", "webhook": {"url": receiver.url}}], refire_after_s=900)
    service = AlertService(cfg, engine)
    for i, up in enumerate([False, True, False, True, False]):
        beat(engine, "d2", "s2", T0 + timedelta(minutes=i))
        beat(engine, "d1", "s1", T0 + timedelta(minutes=i), up=up)
        service.run_once(T0 + timedelta(minutes=i, seconds=30))
    assert receiver.events() == [("firing", "camera_problem:s1:d1:door:no frames"),
                                 ("resolved", "camera_problem:s1:d1:door:no frames")]
    beat(engine, "d1", "s1", T0 + timedelta(minutes=20), up=False)
    beat(engine, "d2", "s2", T0 + timedelta(minutes=20))
    service.run_once(T0 + timedelta(minutes=20))  # 20 min after the last 'firing': it may fire again
    assert receiver.events()[-1] == ("firing", "camera_problem:s1:d1:door:no frames")


def test_a_receiver_that_is_down_gets_it_later(db, receiver):
    url, engine = db
    cfg = config(url, [{"name": "ops", "webhook": {"url": receiver.url}}])
    service = AlertService(cfg, engine)
    beat(engine, "d1", "s1", T0, backlight=2.5)
    beat(engine, "d2", "s2", T0)
    receiver.status = 500
    held = service.run_once(T0 + timedelta(minutes=1))
    assert held.held == {"ops/webhook": 1} and held.sent == {}
    receiver.status = 200
    service.run_once(T0 + timedelta(minutes=2))
    assert receiver.events()[-1] == ("firing", "camera_problem:s1:d1:door:backlit faces")
    advice = receiver.posts[-1]["alerts"][0]["advice"]
    assert "2.5 stops darker than the background" in advice and "--wdr on" in advice  # camera check's words


def test_routes_per_store_and_kind_and_a_signed_body(db, receiver, monkeypatch):
    url, engine = db
    other = Receiver()
    try:
        monkeypatch.setenv("HOOK_SECRET", "shared-secret-1")
        cfg = config(url, [
            {"name": "berlin", "stores": ["s1"], "webhook": {"url": receiver.url, "secret_env": "HOOK_SECRET"}},
            {"name": "hq", "kinds": ["device_offline"], "webhook": {"url": other.url}}])
        service = AlertService(cfg, engine)
        beat(engine, "d1", "s1", T0, backlight=3.0)
        beat(engine, "d2", "s2", T0 - timedelta(minutes=10))  # s2's box is offline
        service.run_once(T0 + timedelta(minutes=1))
        assert receiver.events() == [("firing", "camera_problem:s1:d1:door:backlit faces")]
        assert other.events() == [("firing", "device_offline:s2:d2")]
        expected = "sha256=" + hmac.new(b"shared-secret-1", receiver.raw, hashlib.sha256).hexdigest()
        assert receiver.headers[0]["X-Storelens-Signature"] == expected
    finally:
        other.stop()


def test_a_dead_letter_burst_fires_and_recovers(db, receiver):
    url, engine = db
    cfg = config(url, [{"name": "ops", "webhook": {"url": receiver.url}}], dead_letter_burst=20,
                 dead_letter_window_min=15)
    beat(engine, "d1", "s1", T0)
    beat(engine, "d2", "s2", T0)
    with Session(engine) as s:
        s.add_all([DeadLetter(topic="storelens/v1/s1/d1/aggregates", reason="bad json", received_at=T0, size=10)
                   for _ in range(25)])
        s.commit()
    service = AlertService(cfg, engine)
    service.run_once(T0 + timedelta(minutes=1))
    assert receiver.events() == [("firing", "dead_letters:s1")]
    assert "25 messages from store s1" in receiver.posts[0]["alerts"][0]["summary"]
    beat(engine, "d1", "s1", T0 + timedelta(minutes=20))
    beat(engine, "d2", "s2", T0 + timedelta(minutes=20))
    service.run_once(T0 + timedelta(minutes=20))  # the burst has left the 15-minute window
    assert receiver.events()[-1] == ("resolved", "dead_letters:s1")


def test_starttls_and_login_to_a_real_smtp_server(db, tmp_path, monkeypatch):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from cloud_sync.tls import make_dev_tls

    url, engine = db
    tls = make_dev_tls(tmp_path / "tls", hosts=["127.0.0.1"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.server_cert, tls.server_key)
    logins = []

    def authenticator(_server, _session, _envelope, _mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"mail-secret-9")
        logins.append(ok)
        return AuthResult(success=ok)

    box = MailBox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True, authenticator=authenticator, auth_required=True)
    controller.start()
    try:
        monkeypatch.setenv("STORELENS_SMTP_PASSWORD", "mail-secret-9")
        cfg = config(url, [{"name": "mail", "email": {"to": ["a@example.org", "b@example.org"]}}],
                     smtp={"host": "127.0.0.1", "port": controller.port, "starttls": True, "username": "alerts",
                           "ca_file": str(tls.ca_cert), "sender": "alerts@example.org"})
        beat(engine, "d1", "s1", T0 - timedelta(minutes=10))
        beat(engine, "d2", "s2", T0 - timedelta(minutes=10))
        AlertService(cfg, engine).run_once(T0)
        assert logins == [True]
        message = box.messages[0]
        assert message["To"] == "a@example.org, b@example.org" and message["From"] == "alerts@example.org"
        assert message["Subject"] == "[storelens] 2 alerts: 2 firing"
        body = message.get_content()
        assert "Device d1 of store s1 is offline" in body and "Device d2 of store s2 is offline" in body
    finally:
        controller.stop()


def test_cli_alerts_run_once_and_status(db, receiver, tmp_path, capsys):
    from storelens.cli import main

    url, engine = db
    now = datetime.now(UTC)
    beat(engine, "d1", "s1", now - timedelta(minutes=10))
    beat(engine, "d2", "s2", now)
    cfg = tmp_path / "cloud.yaml"
    cfg.write_text(f"cloud: {{database_url: '{url}'}}\nalerts:\n  routes:\n"
                   f"    - {{name: ops, webhook: {{url: '{receiver.url}'}}}}\n")
    assert main(["cloud", "alerts", "run", "--once", "--config", str(cfg)]) == 0
    assert receiver.events() == [("firing", "device_offline:s1:d1")]
    assert main(["cloud", "alerts", "status", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "FIRING" in out and "device_offline" in out and "1 firing" in out
    assert main(["cloud", "alerts", "test", "--config", str(cfg)]) == 0
    assert "ops/webhook: sent" in capsys.readouterr().out
    assert receiver.posts[-1]["alerts"][0]["kind"] == "test"


def test_production_refuses_plain_http_webhooks_off_this_host(db):
    from storelens.errors import ConfigError

    url, engine = db
    cfg = parse_config({"mode": "production", "cloud": {"database_url": url},
                        "alerts": {"routes": [{"name": "x", "webhook": {"url": "http://hooks.example.org/a"}}]}})
    with pytest.raises(ConfigError, match="https:// webhooks only"):
        AlertService(cfg, engine)


def test_resolved_state_is_kept_in_the_database(db, receiver):
    url, engine = db
    from cloud_sync.alerts.state import current_states
    from cloud_sync.db.models import AlertNotice

    cfg = config(url, [{"name": "ops", "webhook": {"url": receiver.url}}])
    beat(engine, "d1", "s1", T0, up=False)
    beat(engine, "d2", "s2", T0)
    AlertService(cfg, engine).run_once(T0 + timedelta(minutes=1))
    states = {s.key: s for s in current_states(engine)}
    assert states["camera_problem:s1:d1:door:no frames"].active
    with engine.begin() as conn:  # someone wipes what was sent: the next round tells again, once
        conn.execute(update(AlertNotice.__table__).values(sent_state="resolved", fired_at=None))
    AlertService(cfg, engine).run_once(T0 + timedelta(minutes=2))
    assert receiver.events().count(("firing", "camera_problem:s1:d1:door:no frames")) == 2

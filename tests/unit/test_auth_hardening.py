"""Dashboard hardening (issue 10 item 8), attacked the way the probes did: 100 wrong passwords,
replayed cookies after log-out and after a password change, missing headers, weak passwords."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from cloud_sync.db.engine import init_db, make_engine
from cloud_sync.db.models import LoginThrottle
from dashboard import auth, passwords, throttle
from storelens.cli import main
from storelens.config.dashboard import DashboardConfig
from storelens.errors import InputError

SECRET = "s" * 48
GOOD = "correct-horse-battery"


@pytest.fixture()
def site(tmp_path, monkeypatch):
    """Two app instances over one database: two gunicorn workers sharing nothing but the database."""
    from dashboard.app import create_app

    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    auth.add_user(engine, username="mia", password=GOOD, role="analyst", store_ids=[])
    monkeypatch.setenv("STORELENS_SESSION_SECRET", SECRET)
    apps = [create_app(engine, DashboardConfig(), development=False) for _ in range(2)]
    yield engine, apps, url
    engine.dispose()


def login(client, password: str, user: str = "mia", address: str = "10.0.0.7"):
    return client.post("/login", data={"username": user, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_100_wrong_passwords_are_refused_and_slowed(site):
    _engine, apps, _url = site
    client = apps[0].server.test_client()
    started = time.monotonic()
    codes = [login(client, f"guess-{i}").status_code for i in range(100)]
    elapsed = time.monotonic() - started
    checked = codes.count(401)
    assert checked <= 10 and codes.count(429) >= 90, codes  # the password was looked at only a few times
    assert codes[:5] == [401] * 5 and codes[5] in (401, 429)
    refused = login(client, GOOD)  # even the right password waits out the backoff
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert b"Too many failed log-ins" in refused.data
    other_worker = apps[1].server.test_client()  # the counter lives in the database, not in a worker
    assert login(other_worker, GOOD).status_code == 429
    print(f"100 wrong passwords: {checked} checked, {codes.count(429)} refused, {elapsed:.1f} s")


def test_backoff_doubles_and_expires(site):
    engine, apps, _url = site
    attempt = {"user:mia@10.0.0.9": throttle.NAME_HERE}
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    waits = [throttle.record_failure(engine, attempt, now + timedelta(seconds=i)) for i in range(9)]
    assert waits == [0, 0, 0, 0, 0, 1, 2, 4, 8]  # 5 free failures, then doubling
    assert throttle.blocked_for(engine, attempt, now + timedelta(seconds=9)) == pytest.approx(7.0)
    assert throttle.blocked_for(engine, attempt, now + timedelta(seconds=17)) == 0
    assert throttle.wait_s(100, throttle.USER) == throttle.MAX_WAIT_S
    # a day later the counter starts again
    assert throttle.record_failure(engine, attempt, now + timedelta(days=2)) == 0


def test_success_clears_the_name_but_not_the_address(site):
    engine, apps, _url = site
    client = apps[0].server.test_client()
    for i in range(4):
        login(client, f"guess-{i}", address="10.0.0.8")
    assert login(client, GOOD, address="10.0.0.8").status_code == 302
    with engine.connect() as conn:
        rows = dict(conn.execute(LoginThrottle.__table__.select().with_only_columns(
            LoginThrottle.__table__.c.key, LoginThrottle.__table__.c.failures)).all())
    assert rows == {"addr:10.0.0.8": 4}  # the name's counters went, the address keeps its count


def test_guessing_one_name_from_many_addresses_is_throttled_too(site):
    _engine, apps, _url = site
    client = apps[0].server.test_client()
    codes = [login(client, f"guess-{i}", address=f"10.2.{i}.1").status_code for i in range(30)]
    assert codes[:20] == [401] * 20 and 429 in codes[20:]  # 20 free for the name, however it is spread


def test_spraying_many_names_from_one_address_is_throttled(site):
    _engine, apps, _url = site
    client = apps[0].server.test_client()
    codes = [login(client, "password123", user=f"user{i}", address="10.9.9.9").status_code for i in range(40)]
    assert codes[:20] == [401] * 20 and 429 in codes[20:]


def _logged_in(client):
    assert login(client, GOOD, address="10.0.0.5").status_code == 302
    cookie = client.get_cookie("session")
    assert client.get("/_dash-layout").status_code == 200
    return cookie.value


def _replay(app, cookie: str):
    fresh = app.server.test_client()
    fresh.set_cookie("session", cookie)
    return fresh.get("/_dash-layout").status_code


def test_an_old_cookie_is_dead_after_logout(site):
    _engine, apps, _url = site
    client = apps[0].server.test_client()
    cookie = _logged_in(client)
    assert _replay(apps[1], cookie) == 200  # a copy works while the session lives, in any worker
    client.get("/logout")
    assert _replay(apps[0], cookie) == 401 and _replay(apps[1], cookie) == 401


def test_an_old_cookie_is_dead_after_a_password_change(site, monkeypatch):
    engine, apps, url = site
    client = apps[0].server.test_client()
    cookie = _logged_in(client)
    monkeypatch.setattr("sys.stdin", io.StringIO("another-long-passphrase\n"))
    assert main(["dashboard", "--db", url, "user", "add", "mia", "--role", "analyst", "--password-stdin"]) == 0
    assert _replay(apps[0], cookie) == 401
    assert login(apps[0].server.test_client(), "another-long-passphrase", address="10.0.0.6").status_code == 302


def test_an_expired_session_row_ends_the_log_in(site):
    engine, apps, _url = site
    from cloud_sync.db.models import DashboardSession

    client = apps[0].server.test_client()
    cookie = _logged_in(client)
    with engine.begin() as conn:
        conn.execute(update(DashboardSession.__table__).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert _replay(apps[0], cookie) == 401


@pytest.mark.parametrize("path", ["/login", "/store", "/_dash-layout", "/api/v1/openapi.json", "/api/v1/me",
                                  "/assets/style.css"])
def test_security_headers_on_every_response(site, path):
    _engine, apps, _url = site
    response = apps[0].server.test_client().get(path)
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src and "'sha256-" in script_src
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Strict-Transport-Security"].startswith("max-age=")  # production


def test_production_cookie_is_secure_and_development_may_be_plain(site, tmp_path, monkeypatch):
    from dashboard.app import create_app

    engine, apps, _url = site
    response = login(apps[0].server.test_client(), GOOD)
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    dev = create_app(engine, DashboardConfig(), development=True)
    assert "Secure" not in login(dev.server.test_client(), GOOD, address="10.1.1.1").headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in dev.server.test_client().get("/login").headers


@pytest.mark.parametrize(("password", "reason"), [
    ("short-pass1", "shorter than 12"),
    ("password1234", "most common passwords"),
    ("Sunshine2024!", "most common passwords"),
    ("qwertyuiop12", "most common passwords"),
    ("aaaaaaaaaaaaaa", "repeated character"),
    ("abcdefghijklmn", "keyboard run"),
    ("bob-the-builder-bob", "contains the user name"),
])
def test_production_refuses_weak_passwords(site, password, reason):
    engine, _apps, _url = site
    with pytest.raises(InputError, match=reason):
        auth.add_user(engine, username="bob", password=password, role="analyst", store_ids=[], production=True)
    auth.add_user(engine, username="bob", password=password if len(password) >= 8 else "eight-ch",
                  role="analyst", store_ids=[], production=False)  # development keeps the 8-character rule


def test_the_common_list_is_shipped_and_strong_passphrases_pass():
    assert len(passwords.common_passwords()) == 10_000
    assert {"123456", "password", "qwerty", "dragon"} <= passwords.common_passwords()
    assert passwords.weakness("orbit-lantern-cactus-41", "mia", production=True) is None


def test_cli_user_add_refuses_a_weak_password_in_production(site, tmp_path, monkeypatch, capsys):
    _engine, _apps, url = site
    cfg = tmp_path / "prod.yaml"
    cfg.write_text(f"mode: production\ncloud: {{database_url: '{url}'}}\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("password\n"))
    assert main(["dashboard", "user", "add", "eve", "--role", "analyst", "--password-stdin",
                 "--config", str(cfg)]) == 4
    assert capsys.readouterr().err.strip() == "storelens: error: user 'eve': password shorter than 12 characters"

"""Log-in, hashed passwords, the session secret, the guard in front of Dash, and `dashboard user add`."""

from __future__ import annotations

import io

import pytest
from sqlmodel import Session

from cloud_sync.db.engine import init_db, make_engine
from cloud_sync.db.models import Store, User
from dashboard import auth
from storelens.cli import main
from storelens.config.dashboard import DashboardConfig
from storelens.errors import ConfigError, InputError

SECRET_ENV = "STORELENS_SESSION_SECRET"


@pytest.fixture()
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    with Session(engine) as s:
        s.add_all([Store(store_id="a", name="A"), Store(store_id="b", name="B")])
        s.commit()
    yield url, engine
    engine.dispose()


def test_password_is_stored_only_as_a_salted_hash(db) -> None:
    _url, engine = db
    auth.add_user(engine, username="m1", password="same-password", role="manager", store_ids=["a"])
    auth.add_user(engine, username="m2", password="same-password", role="manager", store_ids=["b"])
    with Session(engine) as s:
        hashes = [s.get(User, n).password_hash for n in ("m1", "m2")]
    assert all("same-password" not in h for h in hashes)
    assert hashes[0] != hashes[1]  # salted


@pytest.mark.parametrize(
    ("username", "password", "expected"),
    [("m1", "right-password", auth.Principal("m1", "manager", ("a",))), ("m1", "wrong-password", None),
     ("nobody", "right-password", None), ("m1", "", None)],
)
def test_authenticate(db, username: str, password: str, expected) -> None:
    _url, engine = db
    auth.add_user(engine, username="m1", password="right-password", role="manager", store_ids=["a"])
    assert auth.authenticate(engine, username, password) == expected


@pytest.mark.parametrize(
    ("role", "stores", "password", "message"),
    [("admin", [], "long-enough", "role 'admin' is not one of"), ("manager", [], "long-enough", "needs at least one store"),
     ("analyst", [], "short", "shorter than 8")],
)
def test_add_user_refuses_bad_input(db, role: str, stores: list[str], password: str, message: str) -> None:
    _url, engine = db
    with pytest.raises(InputError, match=message):
        auth.add_user(engine, username="u", password=password, role=role, store_ids=stores)
    with Session(engine) as s:
        assert s.get(User, "u") is None


@pytest.mark.parametrize(
    ("value", "development", "outcome"),
    [("x" * 40, False, "x" * 40), ("x" * 40, True, "x" * 40), ("short", True, "shorter than 16"),
     (None, False, "production mode needs a session secret"), (None, True, "random")],
)
def test_session_secret_comes_from_the_environment(monkeypatch, value, development: bool, outcome: str) -> None:
    if value is None:
        monkeypatch.delenv(SECRET_ENV, raising=False)
    else:
        monkeypatch.setenv(SECRET_ENV, value)
    if outcome == "random":
        first, second = auth.session_secret(SECRET_ENV, True), auth.session_secret(SECRET_ENV, True)
        assert len(first) >= 32 and first != second
    elif len(outcome) == 40:
        assert auth.session_secret(SECRET_ENV, development) == outcome
    else:
        with pytest.raises(ConfigError, match=outcome):
            auth.session_secret(SECRET_ENV, development)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One app and three users for the module: password hashing is deliberately slow (scrypt)."""
    from dashboard.app import create_app

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('auth') / 'cloud.db'}")
    init_db(engine)
    for name, role, stores in (("mia", "manager", ["a"]), ("ali", "analyst", []), ("ted", "technician", [])):
        auth.add_user(engine, username=name, password=f"{name}-password", role=role, store_ids=stores)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SECRET_ENV, "s" * 48)
        app = create_app(engine, DashboardConfig(), development=False)
    yield engine, app
    engine.dispose()


@pytest.fixture()
def client(site):
    return site[1].server.test_client()


@pytest.mark.parametrize(("method", "path", "status"),
                         [("get", "/store", 302), ("get", "/compare", 302), ("get", "/_dash-layout", 401),
                          ("get", "/_dash-dependencies", 401), ("post", "/_dash-update-component", 401)])
def test_everything_but_login_needs_a_session(client, method: str, path: str, status: int) -> None:
    response = getattr(client, method)(path, json={} if method == "post" else None)
    assert response.status_code == status
    if status == 302:
        assert response.headers["Location"].endswith("/login")
    assert b"seed" not in response.data and b"store-" not in response.data


@pytest.mark.parametrize(("user", "home"), [("mia", "/store"), ("ali", "/compare"), ("ted", "/devices")])
def test_login_sends_each_role_to_its_page(client, user: str, home: str) -> None:
    response = client.post("/login", data={"username": user, "password": f"{user}-password"})
    assert response.status_code == 302 and response.headers["Location"].endswith(home)
    assert client.get("/_dash-layout").status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    client.get("/logout")
    assert client.get("/_dash-layout").status_code == 401


def test_wrong_password_gets_the_form_again_with_a_reason(client) -> None:
    response = client.post("/login", data={"username": "mia", "password": "guess"})
    assert response.status_code == 401 and b"wrong password" in response.data
    assert client.get("/_dash-layout").status_code == 401


def test_deleted_user_loses_access_at_once(client, site) -> None:
    engine = site[0]
    auth.add_user(engine, username="gone", password="gone-password", role="analyst", store_ids=[])
    client.post("/login", data={"username": "gone", "password": "gone-password"})
    assert client.get("/_dash-layout").status_code == 200
    with Session(engine) as s:
        s.delete(s.get(User, "gone"))
        s.commit()
    assert client.get("/_dash-layout").status_code == 401


def test_production_without_secret_refuses_to_start(db, monkeypatch) -> None:
    from dashboard.app import create_app

    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ConfigError, match=SECRET_ENV):
        create_app(db[1], DashboardConfig(), development=False)


def test_cli_user_add_reads_password_from_stdin(db, monkeypatch, capsys) -> None:
    url, engine = db
    monkeypatch.setattr("sys.stdin", io.StringIO("cli-password-1\n"))
    assert main(["dashboard", "--db", url, "user", "add", "bo", "--role", "manager", "--stores", "a,b",
                 "--password-stdin"]) == 0
    assert "user bo saved: role manager, stores a, b" in capsys.readouterr().out
    assert auth.authenticate(engine, "bo", "cli-password-1") == auth.Principal("bo", "manager", ("a", "b"))


def test_cli_user_add_error_is_one_line(db, monkeypatch, capsys) -> None:
    url, engine = db
    monkeypatch.setattr("sys.stdin", io.StringIO("cli-password-1\n"))
    assert main(["dashboard", "--db", url, "user", "add", "bo", "--role", "manager", "--password-stdin"]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["storelens: error: user 'bo': a manager needs at least one store (--stores)"]
    assert auth.authenticate(engine, "bo", "cli-password-1") is None


@pytest.mark.parametrize(("accept", "lang", "words"), [
    ("zh-CN,zh;q=0.9", "zh-Hans", ["用户名", "密码", "登录", "用户名不存在或密码错误。"]),
    ("en-GB,en;q=0.8", "en", ["User", "Password", "Log in", "Unknown user or wrong password."]),
])
def test_login_page_speaks_the_browsers_language(client, accept: str, lang: str, words: list[str]) -> None:
    """Nobody is logged in yet, so Accept-Language decides; the error is translated too."""
    page = client.post("/login", data={"username": "nobody", "password": "x" * 12},
                       headers={"Accept-Language": accept}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in page
    assert all(word in page for word in words)


def test_the_app_can_be_built_on_a_thread_started_after_dash_was_imported(db, monkeypatch) -> None:
    """The demo builds the dashboard on its own thread; such a thread starts with no Dash context and
    dash.register_page raised LookupError there (the demo never came up when dash had been imported first)."""
    import threading

    import dash  # noqa: F401  (imported here, on the test's thread, before the other thread starts)

    from dashboard.app import create_app

    monkeypatch.setenv(SECRET_ENV, "s" * 40)
    built: list[object] = []

    def build() -> None:
        try:
            built.append(create_app(db[1], DashboardConfig(), development=False))
        except Exception as exc:  # collected: a thread's exception alone would not fail the test
            built.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    thread.join(60)
    assert len(built) == 1 and not isinstance(built[0], Exception), built
    assert built[0].server.test_client().get("/healthz").status_code == 200


def test_the_date_picker_locale_is_served_only_for_chinese_pages_and_only_the_shipped_file(client) -> None:
    client.post("/login", data={"username": "mia", "password": "mia-password"})
    chinese = client.get("/store", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    english = client.get("/store", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    assert '<script src="/_storelens/date-fns/zh-CN.js"></script>' in chinese
    assert "date-fns" not in english
    served = client.get("/_storelens/date-fns/zh-CN.js")
    assert served.status_code == 200 and served.mimetype == "text/javascript"
    assert b"zhCN" in served.data  # it registers window.dateFns.locale.zhCN
    assert client.get("/_storelens/date-fns/fr.js").status_code == 404
    for other in ("..%2Fzh-CN.js", "zh-CN.min.js", "..%2F..%2Fdashboard.po"):  # no file beside or above it
        reply = client.get(f"/_storelens/date-fns/{other}")
        assert reply.status_code == 404 or (reply.mimetype == "text/html" and b"zhCN" not in reply.data)
    client.get("/logout")
    assert client.get("/_storelens/date-fns/zh-CN.js").status_code == 302  # behind the log-in like the pages

"""Log-in, roles and the per-request principal.

The Flask session cookie carries only the user name (signed with the secret from the environment);
the role and the allowed stores are read from the database on every request, so a changed or
deleted user takes effect at once. Every route except the log-in page requires a session, including
Dash's own `/_dash-*` endpoints, so a forged callback without a valid cookie gets a 401.
"""

from __future__ import annotations

import html
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta

import flask
from sqlalchemy.engine import Engine
from sqlmodel import Session
from werkzeug.security import check_password_hash, generate_password_hash

from cloud_sync.db.models import User
from storelens.errors import ConfigError, InputError

log = logging.getLogger(__name__)

ROLES = ("manager", "analyst", "technician")
HOME_BY_ROLE = {"manager": "/store", "analyst": "/compare", "technician": "/devices"}
MIN_PASSWORD_LEN = 8
_OPEN_PATHS = ("/login", "/logout", "/_favicon.ico", "/favicon.ico")
# A hash to compare against when the user does not exist, so timing does not reveal valid names.
_DUMMY_HASH = generate_password_hash("storelens-dummy-password")


@dataclass(frozen=True)
class Principal:
    """Who is asking: the only thing data queries accept for access decisions."""

    username: str
    role: str
    store_ids: tuple[str, ...]

    @property
    def all_stores(self) -> bool:
        """Analysts see every store; technicians with no list see every device."""
        return self.role == "analyst" or (self.role == "technician" and not self.store_ids)

    def may_see_store(self, store_id: str) -> bool:
        return self.all_stores or store_id in self.store_ids


def session_secret(env_name: str, development: bool) -> str:
    """The cookie-signing secret from the environment; development mode may make a throwaway one."""
    value = os.environ.get(env_name, "")
    if len(value) >= 16:
        return value
    if value:
        raise ConfigError(f"${env_name} is set but shorter than 16 characters; use a long random value")
    if not development:
        raise ConfigError(f"${env_name} is not set; production mode needs a session secret from the environment")
    log.warning("$%s not set: using a random session secret (development mode; log-ins end on restart)", env_name)
    return secrets.token_urlsafe(32)


def add_user(engine: Engine, *, username: str, password: str, role: str, store_ids: list[str]) -> User:
    """Create or replace a dashboard user; the password is stored only as a salted hash."""
    if role not in ROLES:
        raise InputError(f"user {username!r}: role {role!r} is not one of {', '.join(ROLES)}")
    if role == "manager" and not store_ids:
        raise InputError(f"user {username!r}: a manager needs at least one store (--stores)")
    if len(password) < MIN_PASSWORD_LEN:
        raise InputError(f"user {username!r}: password shorter than {MIN_PASSWORD_LEN} characters")
    user = User(username=username, password_hash=generate_password_hash(password), role=role, store_ids=store_ids)
    with Session(engine) as session:
        session.merge(user)
        session.commit()
    log.info("dashboard user %s saved (role %s, %d stores)", username, role, len(store_ids))
    return user


def authenticate(engine: Engine, username: str, password: str) -> Principal | None:
    """The principal when the password matches, else None (same work either way)."""
    with Session(engine) as session:
        user = session.get(User, username)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return Principal(user.username, user.role, tuple(user.store_ids))


def load_principal(engine: Engine, username: str) -> Principal | None:
    with Session(engine) as session:
        user = session.get(User, username)
    if user is None or user.role not in ROLES:
        return None
    return Principal(user.username, user.role, tuple(user.store_ids))


def current_principal() -> Principal | None:
    """The logged-in user of this request (cached on flask.g), or None."""
    if "principal" not in flask.g:
        name = flask.session.get("user")
        engine = flask.current_app.extensions["storelens"].engine
        flask.g.principal = load_principal(engine, name) if name else None
    return flask.g.principal


def install(server: flask.Flask, *, secret: str, session_hours: float, secure_cookie: bool) -> None:
    """Session settings, the log-in routes and the guard in front of every other route."""
    server.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",  # blocks cross-site POSTs to the callback endpoint
        SESSION_COOKIE_SECURE=secure_cookie,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours),
    )
    server.add_url_rule("/login", "storelens_login", _login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "storelens_logout", _logout, methods=["GET", "POST"])
    server.before_request(_guard)


def _guard():
    if flask.request.path in _OPEN_PATHS:
        return None
    if current_principal() is not None:
        return None
    if flask.request.path.startswith("/_dash-") or flask.request.method != "GET":
        return flask.Response("login required\n", status=401, mimetype="text/plain")
    return flask.redirect("/login")


def _login():
    error = ""
    if flask.request.method == "POST":
        form = flask.request.form
        engine = flask.current_app.extensions["storelens"].engine
        principal = authenticate(engine, form.get("username", ""), form.get("password", ""))
        if principal is not None:
            flask.session.clear()
            flask.session.permanent = True
            flask.session["user"] = principal.username
            log.info("log-in: %s (%s)", principal.username, principal.role)
            return flask.redirect(HOME_BY_ROLE[principal.role])
        log.warning("failed log-in for user %r from %s", form.get("username", ""), flask.request.remote_addr)
        error = "Unknown user or wrong password."
    return flask.Response(_LOGIN_HTML.format(error=html.escape(error)), status=401 if error else 200,
                          mimetype="text/html")


def _logout():
    flask.session.clear()
    return flask.redirect("/login")


_LOGIN_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>storelens - log in</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f4f5f7;display:flex;justify-content:center;padding-top:12vh}}
form{{background:#fff;padding:2em 2.5em;border-radius:8px;box-shadow:0 2px 8px #0002;min-width:18em}}
label{{display:block;margin:.8em 0 .2em}} input{{width:100%;padding:.4em;box-sizing:border-box}}
button{{margin-top:1.2em;padding:.5em 1.5em}} .error{{color:#b00020}}
</style></head><body>
<form method="post" action="/login"><h2>storelens</h2>
<p class="error" id="login-error">{error}</p>
<label for="username">User</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button id="login-button" type="submit">Log in</button></form></body></html>
"""

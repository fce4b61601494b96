"""Log-in, roles and the per-request principal.

The Flask session cookie (signed with the secret from the environment) carries the user name and a
random session id; the session row, the role and the allowed stores are read from the database on
every request, so a log-out, a password change or a changed or deleted user takes effect at once,
even for a copied cookie (dashboard.sessions). Failed log-ins are throttled per name and per address
(dashboard.throttle); production refuses weak passwords (dashboard.passwords) and sends the cookie
only over HTTPS. Every route except the log-in page requires a session, including Dash's own
`/_dash-*` endpoints, so a forged callback without a valid cookie gets a 401. The REST API under
/api/ authenticates each request itself (bearer tokens, dashboard.api).
"""

from __future__ import annotations

import html
import logging
import math
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta

import flask
from sqlalchemy.engine import Engine
from sqlmodel import Session
from werkzeug.security import check_password_hash, generate_password_hash

from cloud_sync.db.models import User
from dashboard import passwords, sessions, throttle
from dashboard.i18n import N_, _, html_lang
from storelens.errors import ConfigError, InputError

log = logging.getLogger(__name__)

ROLES = ("manager", "analyst", "technician")
HOME_BY_ROLE = {"manager": "/store", "analyst": "/compare", "technician": "/devices"}
MIN_PASSWORD_LEN = passwords.DEVELOPMENT_MIN_LEN
_OPEN_PATHS = ("/login", "/logout", "/_favicon.ico", "/favicon.ico", "/healthz", "/metrics")  # ops.py guards /metrics
_SELF_AUTHENTICATED = "/api/v1/"  # bearer tokens; the API (and its catch-all) answers 401 itself, as JSON
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


def add_user(engine: Engine, *, username: str, password: str, role: str, store_ids: list[str],
             production: bool = False) -> User:
    """Create or replace a dashboard user; the password is stored only as a salted hash.

    Replacing a user (a new password) ends all of their sessions. Production refuses weak passwords.
    """
    if role not in ROLES:
        raise InputError(f"user {username!r}: role {role!r} is not one of {', '.join(ROLES)}")
    if role == "manager" and not store_ids:
        raise InputError(f"user {username!r}: a manager needs at least one store (--stores)")
    passwords.check_password(password, username, production=production)
    with Session(engine) as session:
        user = session.get(User, username)
        existed = user is not None
        user = user or User(username=username, password_hash="", role=role)
        user.password_hash, user.role, user.store_ids = generate_password_hash(password), role, list(store_ids)
        session.add(user)
        session.commit()
        session.refresh(user)
    if existed:
        sessions.end_all(engine, username)  # the old password's log-ins must not outlive it
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
    """The logged-in user of this request (cached on flask.g), or None. API requests set it from
    their bearer token (dashboard.api) before any query runs."""
    if "principal" not in flask.g:
        flask.g.principal = _session_principal()
    return flask.g.principal


def _session_principal() -> Principal | None:
    name, session_id = flask.session.get("user"), flask.session.get("sid")
    if not name or not session_id:
        return None
    row = sessions.user_of(flask.current_app.extensions["storelens"].engine, session_id, name)
    if row is None or row.role not in ROLES:
        return None
    return Principal(row.username, row.role, tuple(row.store_ids))


def install(server: flask.Flask, *, secret: str, session_hours: float, secure_cookie: bool,
            production: bool = False) -> None:
    """Session settings, the log-in routes and the guard in front of every other route.

    Production always marks the cookie Secure (HTTPS only; a TLS proxy fronts the dashboard)."""
    server.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",  # blocks cross-site POSTs to the callback endpoint
        SESSION_COOKIE_SECURE=secure_cookie or production,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours),
    )
    server.add_url_rule("/login", "storelens_login", _login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "storelens_logout", _logout, methods=["GET", "POST"])
    server.before_request(_guard)


def _guard():
    if flask.request.path in _OPEN_PATHS or flask.request.path.startswith(_SELF_AUTHENTICATED):
        return None
    if current_principal() is not None:
        return None
    if flask.request.path.startswith("/_dash-") or flask.request.method != "GET":
        return flask.Response("login required\n", status=401, mimetype="text/plain")
    return flask.redirect("/login")


def _login():
    if flask.request.method != "POST":
        return _login_page("", 200)
    form = flask.request.form
    username, address = form.get("username", ""), flask.request.remote_addr
    engine = flask.current_app.extensions["storelens"].engine
    attempt = throttle.keys(username, address)
    wait = throttle.blocked_for(engine, attempt)
    if wait > 0:  # refused before the password is even looked at: guessing gains nothing here
        log.warning("log-in refused while throttled: user %r from %s (%.0f s left)", username, address, wait)
        response = _login_page(_("Too many failed log-ins. Try again in {seconds} s.").format(
            seconds=math.ceil(wait)), 429)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    principal = authenticate(engine, username, form.get("password", ""))
    if principal is None:
        throttle.record_failure(engine, attempt)
        log.warning("failed log-in for user %r from %s", username, address)
        return _login_page(_("Unknown user or wrong password."), 401)
    throttle.clear(engine, throttle.name_keys(attempt))  # the address keeps its count
    session_id = sessions.start(engine, principal.username, address=address or "",
                                hours=flask.current_app.permanent_session_lifetime.total_seconds() / 3600)
    flask.session.clear()
    flask.session.permanent = True
    flask.session["user"], flask.session["sid"] = principal.username, session_id
    log.info("log-in: %s (%s)", principal.username, principal.role)
    return flask.redirect(HOME_BY_ROLE[principal.role])


def _login_page(error: str, status: int) -> flask.Response:
    """The log-in form in the browser's language (nobody is logged in yet to have a setting)."""
    text = {key: html.escape(_(message)) for key, message in _LOGIN_TEXT.items()}
    page = _LOGIN_HTML.format(error=html.escape(error), lang=html_lang(), **text)
    return flask.Response(page, status=status, mimetype="text/html")


def _logout():
    session_id = flask.session.get("sid")
    if session_id:
        sessions.end(flask.current_app.extensions["storelens"].engine, session_id)
    flask.session.clear()
    return flask.redirect("/login")


_LOGIN_TEXT = {"title": N_("storelens - log in"), "user": N_("User"), "password": N_("Password"),
               "submit": N_("Log in")}
_LOGIN_HTML = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f4f5f7;display:flex;justify-content:center;padding-top:12vh}}
form{{background:#fff;padding:2em 2.5em;border-radius:8px;box-shadow:0 2px 8px #0002;min-width:18em}}
label{{display:block;margin:.8em 0 .2em}} input{{width:100%;padding:.4em;box-sizing:border-box}}
button{{margin-top:1.2em;padding:.5em 1.5em}} .error{{color:#b00020}}
</style></head><body>
<form method="post" action="/login"><h2>storelens</h2>
<p class="error" id="login-error">{error}</p>
<label for="username">{user}</label><input id="username" name="username" autocomplete="username" required>
<label for="password">{password}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button id="login-button" type="submit">{submit}</button></form></body></html>
"""

"""The Dash application: one factory, pages under dashboard/pages, log-in in front of everything.

`create_app` is what the CLI, the demo and the tests call. For a WSGI server
(`gunicorn 'dashboard.app:server'`) the module attribute `server` is built on first access from
$STORELENS_CONFIG (or the embedded defaults), so importing this module does no work.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import dash
from sqlalchemy.engine import Engine

from dashboard import api, auth, i18n, ops, sales, security, shell
from storelens.config.dashboard import DashboardConfig

log = logging.getLogger(__name__)

PAGES_DIR = Path(__file__).resolve().parent / "pages"
NAV = shell.NAV  # (path, label, roles): the header and the home page list the same pages


@dataclass(frozen=True)
class DashboardContext:
    """What callbacks need, reached through flask.current_app.extensions['storelens']."""

    engine: Engine
    cfg: DashboardConfig


def create_app(engine: Engine, cfg: DashboardConfig, *, development: bool) -> dash.Dash:
    """A ready Dash app over `engine`; raises ConfigError when no session secret is available."""
    from dashboard.pages import register_callbacks

    secret = auth.session_secret(cfg.secret_env, development)
    _give_this_thread_a_dash_context()
    app = shell.LocalisedDash("dashboard", use_pages=True, pages_folder=str(PAGES_DIR), title="storelens",
                              suppress_callback_exceptions=True, update_title=None)
    app.server.extensions["storelens"] = DashboardContext(engine, cfg)
    ops.install(app.server, cfg.metrics_networks)  # /metrics (allowed networks) and /healthz
    i18n.install(app.server, i18n.Catalogs.load())  # the committed .po files, compiled in memory
    auth.install(app.server, secret=secret, session_hours=cfg.session_hours, secure_cookie=cfg.secure_cookie,
                 production=not development)
    api.install(app.server)
    app.layout = shell.layout
    shell.register_callbacks(app)
    register_callbacks(app)
    sales.register_callbacks(app)  # conversion, POS upload and CSV export cards on the store/compare pages
    security.install(app, production=not development, proxy_hops=cfg.proxy_hops)
    return app


def _give_this_thread_a_dash_context() -> None:
    """Dash sets its callback-context variable once, in the thread that first imports dash; a thread
    started later begins with an empty context, and dash.register_page (run while the pages load)
    raises LookupError there. The demo builds the app on whatever thread runs it."""
    from dash._callback_context import context_value  # no public way to ask; checked by a test

    try:
        context_value.get()
    except LookupError:
        context_value.set({})


def _build_from_environment() -> dash.Dash:
    from cloud_sync.db.engine import database_engine, init_db
    from storelens.config import load_config

    cfg = load_config(os.environ.get("STORELENS_CONFIG"))
    engine = database_engine(cfg)  # the password from $STORELENS_DB_PASSWORD, as dashboard.env provides it
    init_db(engine)
    return create_app(engine, cfg.dashboard, development=cfg.mode == "development")


def __getattr__(name: str):
    if name == "server":
        return _build_from_environment().server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

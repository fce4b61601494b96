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
from dash import dcc, html
from sqlalchemy.engine import Engine

from dashboard import auth
from storelens.config.dashboard import DashboardConfig

log = logging.getLogger(__name__)

PAGES_DIR = Path(__file__).resolve().parent / "pages"
NAV = (("/store", "Store", ("manager", "analyst")), ("/compare", "Compare stores", ("analyst",)),
       ("/devices", "Devices", ("technician", "analyst")))


@dataclass(frozen=True)
class DashboardContext:
    """What callbacks need, reached through flask.current_app.extensions['storelens']."""

    engine: Engine
    cfg: DashboardConfig


def create_app(engine: Engine, cfg: DashboardConfig, *, development: bool) -> dash.Dash:
    """A ready Dash app over `engine`; raises ConfigError when no session secret is available."""
    from dashboard.pages import register_callbacks

    secret = auth.session_secret(cfg.secret_env, development)
    app = dash.Dash("dashboard", use_pages=True, pages_folder=str(PAGES_DIR), title="storelens",
                    suppress_callback_exceptions=True, update_title=None)
    app.server.extensions["storelens"] = DashboardContext(engine, cfg)
    auth.install(app.server, secret=secret, session_hours=cfg.session_hours, secure_cookie=cfg.secure_cookie)
    app.layout = _shell
    register_callbacks(app)
    return app


def _shell() -> html.Div:
    """Header with the user's pages, then the current page (rebuilt per request, per user)."""
    principal = auth.current_principal()
    links = [dcc.Link(label, href=path, className="nav-link", id=f"nav{path.replace('/', '-')}")
             for path, label, roles in NAV if principal is not None and principal.role in roles]
    who = f"{principal.username} ({principal.role})" if principal else ""
    header = html.Div([html.B("storelens", className="brand"), *links,
                       html.Span(who, className="who", id="who"),
                       html.A("Log out", href="/logout", className="nav-link", id="logout")], className="header")
    return html.Div([header, html.Div(dash.page_container, className="page")])


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

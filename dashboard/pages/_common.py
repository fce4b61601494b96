"""Helpers shared by the pages: role checks, the request's engine and config, small widgets."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import flask
from dash import dcc, html

from dashboard.auth import Principal, current_principal
from dashboard.data import as_utc


def context():
    return flask.current_app.extensions["storelens"]


def principal_with_role(*roles: str) -> Principal | None:
    """The request's principal when their role may use this page or callback, else None."""
    principal = current_principal()
    return principal if principal is not None and principal.role in roles else None


def not_allowed(what: str) -> html.Div:
    return html.Div(f"Your account has no access to {what}.", className="notice", id="not-allowed")


def default_range(latest: datetime | None, days: int, tz: str = "UTC") -> tuple[date, date]:
    """The last `days` local days ending with the newest data (or today when there is none)."""
    zone = ZoneInfo(tz)
    last = datetime.now(zone).date() if latest is None else as_utc(latest).astimezone(zone).date()
    return last - timedelta(days=days - 1), last


def control(label: str, component) -> html.Div:
    return html.Div([html.Label(label), component], className="control")


def kpi(label: str, value: str, delta: str = "", kpi_id: str = "") -> html.Div:
    return html.Div([html.Div(value, className="value", id=f"kpi-{kpi_id}" if kpi_id else None),
                     html.Div(label, className="label"), html.Div(delta, className="delta")], className="kpi")


def graph(graph_id: str, height: int = 360) -> html.Div:
    return html.Div(dcc.Graph(id=graph_id, style={"height": f"{height}px"}, config={"displaylogo": False}),
                    className="card")


def fmt_change(value: float | None) -> str:
    return "no previous data" if value is None else f"{value:+.0%} vs previous period"


def parse_day(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None

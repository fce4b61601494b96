"""Start page: where each role goes (the log-in already sends users to their main page)."""

from __future__ import annotations

import dash
from dash import dcc, html

from dashboard.i18n import _
from dashboard.pages._common import principal_with_role
from dashboard.shell import nav_links

dash.register_page(__name__, path="/", title="storelens", name="Home")


def layout(**_query) -> html.Div:
    principal = principal_with_role("manager", "analyst", "technician")
    if principal is None:
        return html.Div(_("Your account has no role that can use this dashboard."), className="notice")
    links = [html.Li(dcc.Link(label, href=path)) for path, label in nav_links(principal.role)]
    return html.Div([html.H2(_("Welcome, {name}").format(name=principal.username)), html.Ul(links)])

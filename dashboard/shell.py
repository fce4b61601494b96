"""The frame around every page: navigation for the user's role, the language choice, log-out."""

from __future__ import annotations

import dash
import flask
from dash import Input, Output, State, dcc, html

from dashboard import auth, i18n
from dashboard.i18n import N_, _
from dashboard.i18n.settings import set_user_language
from dashboard.pages._common import dropdown

NAV = (("/store", N_("Store"), ("manager", "analyst")),
       ("/layout", N_("Layout before/after"), ("manager", "analyst")),
       ("/compare", N_("Compare stores"), ("analyst",)),
       ("/devices", N_("Devices"), ("technician", "analyst")))
ROLE_NAMES = (N_("manager"), N_("analyst"), N_("technician"))  # shown translated next to the user name
AUTO = "auto"


class LocalisedDash(dash.Dash):
    """Dash whose index page carries the request's language (fonts, screen readers, hyphenation) and,
    for Chinese, the date pickers' locale (month and weekday names)."""

    def interpolate_index(self, **kwargs) -> str:
        locale_script = i18n.datefns_script()
        if locale_script:  # before Dash's own scripts: the date pickers look for it when they render
            kwargs["scripts"] = f'<script src="{locale_script}"></script>\n{kwargs.get("scripts", "")}'
        page = super().interpolate_index(**kwargs)
        return page.replace("<html>", f'<html lang="{i18n.html_lang()}">', 1)


def nav_links(role: str) -> list[tuple[str, str]]:
    """(path, translated label) of the pages this role may open."""
    return [(path, _(label)) for path, label, roles in NAV if role in roles]


def layout() -> html.Div:
    """Header with the user's pages, then the current page (rebuilt per request, per user)."""
    principal = auth.current_principal()
    links = [dcc.Link(label, href=path, className="nav-link", id=f"nav{path.replace('/', '-')}")
             for path, label in (nav_links(principal.role) if principal else [])]
    who = f"{principal.username} ({_(principal.role)})" if principal else ""
    header = html.Div([html.B("storelens", className="brand"), *links,
                       html.Span(who, className="who", id="who"), _language_menu(principal),
                       html.A(_("Log out"), href="/logout", className="nav-link", id="logout")],
                      className="header")
    return html.Div([header, dcc.Location(id="lang-reload", refresh=True),
                     html.Div(dash.page_container, className="page")])


def _language_menu(principal) -> html.Div:
    if principal is None:
        return html.Div()
    from dashboard.i18n.settings import user_language

    engine = flask.current_app.extensions["storelens"].engine
    saved = user_language(engine, principal.username)
    options = [{"label": _("Browser language"), "value": AUTO},
               *({"label": name, "value": code} for code, name in i18n.LANGUAGES.items())]
    return html.Div(dropdown(id="lang-select", options=options, value=saved or AUTO, clearable=False,
                                 searchable=False), className="lang", title=_("Language"))


def choose_language(value, pathname, search):
    """Save the choice on the user and reload the page in that language."""
    principal = auth.current_principal()
    if principal is None or value is None:
        return dash.no_update
    engine = flask.current_app.extensions["storelens"].engine
    set_user_language(engine, principal.username, None if value == AUTO else value)
    return f"{pathname or '/'}{search or ''}"


def register_callbacks(app: dash.Dash) -> None:
    app.callback(Output("lang-reload", "href"), Input("lang-select", "value"),
                 State("_pages_location", "pathname"), State("_pages_location", "search"),
                 prevent_initial_call=True)(choose_language)

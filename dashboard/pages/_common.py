"""Helpers shared by the pages: role checks, the request's engine and config, small widgets."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import flask
from dash import dcc, html

from dashboard import i18n
from dashboard.auth import Principal, current_principal
from dashboard.data import as_utc
from dashboard.i18n import _


def context():
    return flask.current_app.extensions["storelens"]


def principal_with_role(*roles: str) -> Principal | None:
    """The request's principal when their role may use this page or callback, else None."""
    principal = current_principal()
    return principal if principal is not None and principal.role in roles else None


def not_allowed(what: str) -> html.Div:
    return html.Div(_("Your account has no access to {what}.").format(what=what), className="notice",
                    id="not-allowed")


def today(tz: str = "UTC") -> date:
    return datetime.now(ZoneInfo(tz)).date()


def default_range(latest: datetime | None, days: int, tz: str = "UTC") -> tuple[date, date]:
    """The last `days` local days ending with the newest data (or today when there is none)."""
    zone = ZoneInfo(tz)
    last = datetime.now(zone).date() if latest is None else as_utc(latest).astimezone(zone).date()
    last = min(last, today(tz))  # a window stamped in the future never moves the range past today
    return last - timedelta(days=days - 1), last


def date_range(range_id: str, first: date, last: date, tz: str) -> dcc.DatePickerRange:
    """A date range that offers no day after today (store time)."""
    return dcc.DatePickerRange(id=range_id, start_date=first, end_date=last, display_format="YYYY-MM-DD",
                               max_date_allowed=today(tz), first_day_of_week=1, minimum_nights=0,
                               start_date_placeholder_text=_("Start date"),
                               end_date_placeholder_text=_("End date"))


def dropdown(**kwargs) -> dcc.Dropdown:
    """dcc.Dropdown with its own texts (search, no options, ...) in the user's language."""
    labels = {"select_all": _("Select All"), "deselect_all": _("Deselect All"),
              "selected_count": _("{num_selected} selected"), "search": _("Search"),
              "clear_search": _("Clear search"), "clear_selection": _("Clear selection"),
              "no_options_found": _("No options found")}
    return dcc.Dropdown(labels=labels, **kwargs)


def control(label: str, component) -> html.Div:
    return html.Div([html.Label(label), component], className="control")


def kpi(label: str, value: str, delta: str = "", kpi_id: str = "") -> html.Div:
    return html.Div([html.Div(value, className="value", id=f"kpi-{kpi_id}" if kpi_id else None),
                     html.Div(label, className="label"),
                     html.Div(delta, className="delta", id=f"kpi-{kpi_id}-delta" if kpi_id else None)],
                    className="kpi")


def graph(graph_id: str, height: int = 380) -> html.Div:
    """A chart card as wide as its column; the card's height wins over the figure's."""
    return html.Div(dcc.Graph(id=graph_id, style={"height": f"{height}px"}, config=i18n.graph_config(),
                              responsive=True), className="card chart")


def fmt_change(value: float | None, against: str = "") -> str:
    if value is None:
        return _("no previous data")
    return (against or _("{change} vs previous period")).format(change=i18n.percent(value, signed=True))


def parse_day(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def demo_badge(seeded: bool, badge_id: str | None = None) -> html.Span:
    """The mark every seeded (synthetic) store or device carries wherever it is named."""
    if not seeded:
        return html.Span()
    extra = {"id": badge_id} if badge_id else {}
    return html.Span(_("demo data"), className="badge demo",
                     title=_("Synthetic history made by the demo, not measured in a store"), **extra)


def demo_label(text: str, seeded: bool) -> str:
    """A name with the demo mark, for places that take plain text (dropdowns)."""
    return _("{name} · demo data").format(name=text) if seeded else text


def demo_short(text: str, seeded: bool) -> str:
    """The shorter mark for chart labels, where width is scarce."""
    return _("{name} (demo)").format(name=text) if seeded else text


def seeded_toggle(toggle_id: str, shown: bool) -> html.Div:
    """Include or leave out demo (seeded) rows; only offered where there are any."""
    options = [{"label": _("Include demo (seeded) data"), "value": "on"}]
    return html.Div(dcc.Checklist(id=toggle_id, options=options, value=["on"], inline=True),
                    className="control" if shown else "control hidden")


def include_seeded(value) -> bool:
    return value is None or "on" in (value or [])


def tz_note(tz: str, note_id: str | None = None) -> html.Div:
    extra = {"id": note_id} if note_id else {}
    return html.Div(_("Times and days in store time: {zone}").format(zone=i18n.tz_label(tz)),
                    className="tz-note", **extra)

"""The store page's "Sales and conversion" section: conversion KPIs and charts, CSV downloads, POS upload.

It takes the page's own store, dates and demo-data controls as inputs, reaches data only through
dashboard.data (the principal's stores), and fills H6a's `store-more` slot.
"""

from __future__ import annotations

from urllib.parse import urlencode

from dash import Input, Output, html

from dashboard import data, figures, i18n
from dashboard.api import tables
from dashboard.i18n import N_, _
from dashboard.pages._common import context, graph, include_seeded, kpi, parse_day, principal_with_role
from dashboard.sales import conversion, upload
from dashboard.sales import figures as sales_figures

ROLES = ("manager", "analyst")
INPUTS = (("store-select", "value"), ("store-dates", "start_date"), ("store-dates", "end_date"),
          ("store-seeded", "value"))
DOWNLOADS = (("counts", "hour", N_("Visitor counts per hour (CSV)")),
             ("counts", "day", N_("Visitor counts per day (CSV)")),
             ("conversion", "day", N_("Conversion per day (CSV)")),
             ("conversion", "hour", N_("Conversion per hour (CSV)")),
             ("age", None, N_("Age mix (CSV)")), ("zones", None, N_("Zones (CSV)")))


def section() -> html.Div:
    return html.Div([
        html.H3(_("Sales and conversion"), className="section"),
        html.Div(id="sales-message", className="notice"),
        html.Div(id="sales-kpis", className="kpis"),
        html.Div([graph("sales-by-day"), graph("sales-by-hour")], className="grid2"),
        html.H3(_("Downloads"), className="section"),
        html.Div(id="store-downloads", className="downloads"),
        upload.card(),
    ], id="sales")


def _scope(store_id, start, end):
    principal = principal_with_role(*ROLES)
    if principal is None or not store_id or not start or not end:
        return None
    found = data.stores(context().engine, principal, [store_id])
    if found.empty:
        return None
    row = found.iloc[0]
    return principal, row, data.Period.local_days(parse_day(start), parse_day(end), row["timezone"])


def update(store_id, start, end, seeded, _uploaded):
    """Message, KPI cards and the two charts; an honest empty state without POS data."""
    scope = _scope(store_id, start, end)
    if scope is None:
        blank = figures.empty(_("Choose a store you have access to."))
        return _("Choose a store you have access to."), [], blank, blank
    principal, row, period = scope
    tz = row["timezone"]
    engine = context().engine
    hours = tables.conversion_frame(engine, principal, store_id, tz, period, "hour", include_seeded(seeded))
    days = conversion.daily(hours, tz)
    total = conversion.totals(hours)
    message = "" if total["pos_hours"] else _empty_message(engine, principal, store_id)
    return (message, _cards(total), sales_figures.by_day(days, tz),
            sales_figures.by_hour_of_day(conversion.by_hour_of_day(hours, tz), tz))


def _empty_message(engine, principal, store_id) -> str:
    if data.has_pos(engine, principal, [store_id]):
        return _("No sales (POS) data in this date range; pick other dates or import the missing hours below.")
    return _("No sales (POS) data for this store yet, so no conversion. Upload the till's hourly export below "
             "(CSV), or import it with `storelens cloud pos import FILE` or POST /api/v1/pos.")


def _cards(total: dict) -> list:
    conv = total["conversion"]
    return [kpi(_("Conversion"), i18n.percent(conv) if conv is not None else "-",
                _("transactions / entries, in hours with sales data"), "conversion"),
            kpi(_("Transactions"), i18n.integer(total["transactions"]),
                _("{n} hours with sales data").format(n=i18n.integer(total["pos_hours"])), "transactions"),
            kpi(_("Entries in those hours"), i18n.integer(total["entries_with_pos"]), "", "entries-with-pos")]


def downloads(store_id, start, end, seeded):
    """Links to the API's CSV for the shown store and dates (the same numbers the API returns)."""
    scope = _scope(store_id, start, end)
    if scope is None:
        return []
    links = []
    for what, resolution, label in DOWNLOADS:
        params = {"start": start[:10], "end": end[:10], "format": "csv"}
        if resolution:
            params["resolution"] = resolution
        if not include_seeded(seeded):
            params["seeded"] = "false"
        href = f"/api/v1/stores/{store_id}/{what}?{urlencode(params)}"
        link_id = f"download-{what}" + (f"-{resolution}" if resolution else "")
        links.append(html.A(_(label), href=href, id=link_id, className="download-link", download=""))
    return links


def register_callbacks(app) -> None:
    inputs = [Input(i, p) for i, p in INPUTS]
    app.callback(Output("sales-message", "children"), Output("sales-kpis", "children"),
                 Output("sales-by-day", "figure"), Output("sales-by-hour", "figure"), *inputs,
                 Input(upload.DONE, "data"))(update)
    app.callback(Output("store-downloads", "children"), *inputs)(downloads)

"""Compare page's "Conversion by store" section: each store over its own local days, sales hours only.

Stores without POS data in the range are listed as such instead of as 0 %. Fills H6a's
`compare-more` slot; its inputs are the page's date range and demo-data toggle.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from dash import Input, Output, html

from dashboard import data, i18n
from dashboard.i18n import N_, _
from dashboard.pages._common import context, include_seeded, parse_day, principal_with_role
from dashboard.sales import conversion

ROLES = ("analyst",)
COLUMNS = (("store_id", N_("Store")), ("name", N_("Name")), ("conversion", N_("Conversion")),
           ("transactions", N_("Transactions")), ("entries_with_pos", N_("Entries in hours with sales")),
           ("pos_hours", N_("Hours with sales data")))


def section() -> html.Div:
    return html.Div([html.H3(_("Conversion by store"), className="section"),
                     html.Div(id="compare-conversion-message", className="notice"),
                     html.Div(id="compare-conversion", className="card table-wrap")], id="compare-sales")


def table(engine, principal, first, last, seeded: bool = True) -> pd.DataFrame:
    """One row per visible store: conversion over the store's own local days first..last."""
    stores = data.stores(engine, principal)
    wide = data.Period.local_days(first - timedelta(days=1), last + timedelta(days=1), "UTC")  # every zone's days
    pos = data.pos_hours(engine, principal, list(stores["store_id"]), wide)
    with_pos = sorted(set(pos["store_id"]))
    windows = data.windows(engine, principal, with_pos, wide, seeded=seeded) if with_pos else None
    rows = []
    for store in stores.itertuples():
        period = data.Period.local_days(first, last, store.timezone)
        total = {"transactions": 0, "entries_with_pos": 0, "pos_hours": 0, "conversion": None}
        if store.store_id in with_pos:
            mine = windows[(windows["store_id"] == store.store_id) & (windows["window_start"] >= period.start)
                           & (windows["window_start"] < period.end)]
            sales = pos[(pos["store_id"] == store.store_id) & (pos["hour_start"] >= period.start)
                        & (pos["hour_start"] < period.end)]
            total = conversion.totals(conversion.hourly(mine, sales, store.timezone))
        rows.append({"store_id": store.store_id, "name": store.name, **total})
    frame = pd.DataFrame(rows, columns=[c for c, _label in COLUMNS])
    return frame.sort_values("conversion", ascending=False, na_position="last", ignore_index=True)


def update(start, end, seeded):
    principal = principal_with_role(*ROLES)
    if principal is None or not start or not end:
        return _("Not available."), []
    frame = table(context().engine, principal, parse_day(start), parse_day(end), include_seeded(seeded))
    if frame.empty or not frame["pos_hours"].any():
        return (_("No sales (POS) data for any store in this date range, so no conversion. Import the tills' "
                  "hourly exports on each store page, with `storelens cloud pos import FILE`, or POST /api/v1/pos."),
                [])
    without = int((frame["pos_hours"] == 0).sum())
    note = _("{n} store(s) have no sales data in this range and are listed last.").format(n=without) if without else ""
    return note, _html(frame)


def _cell(key: str, value) -> str:
    if key == "conversion":
        return i18n.percent(value) if value is not None and not pd.isna(value) else _("no sales data")
    if key in ("transactions", "entries_with_pos", "pos_hours"):
        return i18n.integer(value)
    return str(value)


def _html(frame: pd.DataFrame) -> html.Table:
    head = html.Tr([html.Th(_(label)) for _key, label in COLUMNS])
    body = [html.Tr([html.Td(_cell(key, row[key])) for key, _label in COLUMNS],
                    id=f"compare-conversion-row-{row['store_id']}") for row in frame.to_dict("records")]
    return html.Table([html.Thead(head), html.Tbody(body)], className="data", id="compare-conversion-table")


def register_callbacks(app) -> None:
    app.callback(Output("compare-conversion-message", "children"), Output("compare-conversion", "children"),
                 Input("compare-dates", "start_date"), Input("compare-dates", "end_date"),
                 Input("compare-seeded", "value"))(update)

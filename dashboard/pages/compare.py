"""Compare page (HQ analysts): normalised KPIs side by side, ranking, age mix, trends, CSV export.

Every store is compared over its own local days (a Berlin store's Monday is Berlin's Monday), the
trend leaves out partial weeks rather than drawing them as a plunge, and what is cut (top N, partial
weeks, today still running) is said on the chart.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import dash
from dash import Input, Output, State, dcc, html

from dashboard import data, figures, i18n, metrics
from dashboard.i18n import N_, _
from dashboard.pages._common import (
    context,
    control,
    date_range,
    default_range,
    demo_badge,
    demo_short,
    dropdown,
    graph,
    include_seeded,
    not_allowed,
    parse_day,
    principal_with_role,
    seeded_toggle,
    today,
)
from dashboard.sales import compare_card

dash.register_page(__name__, path="/compare", title="storelens", name="Compare")

ROLES = ("analyst",)
METRICS = {"visitors_per_open_hour": N_("Visitors per opening hour"), "visitors_per_m2": N_("Visitors per m²"),
           "unique_visitors": N_("Unique visitors"), "coverage": N_("Coverage (share with an age)"),
           "family_share": N_("Family visits per visitor")}
TREND_STORES = 8
TABLE_COLUMNS = (("rank", N_("#"), "int"), ("store_id", N_("Store"), "text"), ("name", N_("Name"), "name"),
                 ("unique_visitors", N_("Unique visitors"), "int"), ("entries", N_("Entries"), "int"),
                 ("visitors_per_open_hour", N_("per opening hour"), "dec1"), ("visitors_per_m2", N_("per m²"), "dec2"),
                 ("coverage", N_("coverage"), "pct"), ("family_share", N_("family share"), "pct"))


def layout(**_query) -> html.Div:
    principal = principal_with_role(*ROLES)
    if principal is None:
        return not_allowed(_("the store comparison"))
    ctx = context()
    ids = data.visible_store_ids(ctx.engine, principal)
    zones = list(dict.fromkeys(data.stores(ctx.engine, principal)["timezone"])) or ["UTC"]
    latest_tz = max(zones, key=today)  # the zone whose "today" is furthest ahead bounds the picker
    days = max(ctx.cfg.default_days, 28)
    first, last = default_range(data.latest_window(ctx.engine, principal, ids), days, latest_tz)
    complete = min(today(tz) for tz in zones) - timedelta(days=1)  # the last day over in every store
    if last > complete:  # whole days by default: today is still running somewhere
        last, first = complete, complete - timedelta(days=days - 1)
    return html.Div([
        html.Div([
            control(_("Dates (each store's local days)"), date_range("compare-dates", first, last, latest_tz)),
            control(_("Rank by"), dropdown(id="compare-metric", value="visitors_per_open_hour", clearable=False,
                                               options=[{"label": _(v), "value": k} for k, v in METRICS.items()])),
            control(_("Age bands"), dcc.RadioItems(id="compare-banding", value="coarse", inline=True,
                                                   options=[{"label": _("Coarse"), "value": "coarse"},
                                                            {"label": _("Fine"), "value": "fine"}])),
            seeded_toggle("compare-seeded", data.has_seeded(ctx.engine, principal, ids)),
            html.Button(_("Download CSV"), id="compare-csv-button"), dcc.Download(id="compare-csv"),
        ], className="controls"),
        html.Div(id="compare-tz", className="tz-note"),
        dcc.Loading(html.Div([html.Div(id="compare-message", className="notice"),
                              html.Div(id="compare-table", className="card table-wrap"),
                              html.Div([graph("compare-ranking", figures.rows_height(len(ids))),
                                        graph("compare-mix", figures.rows_height(len(ids)))], className="grid2"),
                              graph("compare-trends", 420),
                              # Room for more comparison sections (conversion) below the trends.
                              html.Div(compare_card.section(), id="compare-more")]), type="default",
                    delay_show=150),
    ])


def _days(start: str, end: str) -> tuple[date, date]:
    return parse_day(start), parse_day(end)


def _table(engine, principal, start, end, seeded: bool):
    first, last = _days(start, end)
    ids = data.visible_store_ids(engine, principal)
    daily = data.local_daily_totals(engine, principal, ids, first, last, seeded=seeded)
    known = data.stores(engine, principal, ids)
    if not seeded:
        known = known[~known["seeded"].astype(bool)]
    table = metrics.compare_table(known, daily, (last - first).days + 1)
    return table.join(known.set_index("store_id")["seeded"], on="store_id"), daily, known


def zones_note(known) -> str:
    counts = Counter(known["timezone"])
    listed = ", ".join(f"{tz} ({n})" for tz, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return _("Days are each store's local days; time zones: {zones}.").format(zones=listed or "UTC")


def update(start, end, metric, seeded):
    principal = principal_with_role(*ROLES)
    if principal is None or not start or not end:
        blank = figures.empty(_("Not available."))
        return _("Not available."), [], blank, blank, ""
    table, daily, known = _table(context().engine, principal, start, end, include_seeded(seeded))
    label = _(METRICS[metric])
    if daily.empty:
        nothing = _("No visitor data in this date range.")
        return (_("No visitor data in this date range; pick other dates."), _html_table(table),
                figures.empty(nothing, _("Ranking: {metric}").format(metric=label)),
                figures.empty(nothing, _("Weekly visitors")), zones_note(known))
    ranking = figures.ranking(table, metric, label, _("all {n} stores").format(n=len(table)))
    return (_partial_note(known, end), _html_table(table), ranking,
            _trend_figure(table, daily, metric, label, *_days(start, end)), zones_note(known))


def _partial_note(known, end: str) -> str:
    running = [tz for tz in set(known["timezone"]) if parse_day(end) >= today(tz)]
    return _("Today is still running in some stores' time zones; its numbers are partial.") if running else ""


def _trend_figure(table, daily, metric, label, first, last):
    top = table.sort_values(metric, ascending=False)["store_id"].head(TREND_STORES)
    frame, unit, left_out = metrics.trend(daily[daily["store_id"].isin(top)], first, last)
    seeded = table.set_index("store_id")["seeded"]
    frame = frame.assign(store_id=[demo_short(s, bool(seeded.get(s, False))) for s in frame["store_id"]])
    parts = [_("top {n} of {total} stores by {metric}").format(n=len(top), total=len(table), metric=label)]
    if left_out:
        cut = ", ".join(i18n.period(a, b) for a, b in left_out)
        parts.append(_("partial weeks left out: {periods}").format(periods=cut))
    return figures.trends(frame, unit, " · ".join(parts))


def age_mix(start, end, banding, seeded):
    """Its own callback: the histograms are the heaviest query, and the table need not wait for them."""
    principal = principal_with_role(*ROLES)
    title = _("Age mix by store")
    if principal is None or not start or not end:
        return figures.empty(_("Not available."), title)
    engine = context().engine
    ids = data.visible_store_ids(engine, principal)
    known = data.stores(engine, principal, ids).set_index("store_id")
    first, last = _days(start, end)
    histograms = _local_histograms(engine, principal, known, first, last, include_seeded(seeded))
    if histograms.empty or histograms.to_numpy().sum() == 0:
        return figures.empty(_("No age estimates in this date range."), title)
    histograms = histograms[histograms.sum(axis=1) > 0]
    order = metrics.mean_age(histograms).sort_values().index
    mix = metrics.mix_by_store(histograms, banding)
    names = {sid: demo_short(sid, bool(known.loc[sid, "seeded"])) for sid in histograms.index}
    mix["store_id"] = mix["store_id"].map(names)
    return figures.mix_by_store(mix, [names[s] for s in order],
                                _("{n} stores, youngest mean age at the top").format(n=len(order)))


def _local_histograms(engine, principal, known, first, last, seeded: bool):
    """Age histograms per store over each store's own local days (one query per time zone)."""
    import pandas as pd

    parts = []
    for tz, group in known.groupby("timezone"):
        period = data.Period.local_days(first, last, tz)
        parts.append(data.age_histograms(engine, principal, list(group.index), period, seeded=seeded))
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts) if parts else pd.DataFrame()


def _fmt(kind: str, value) -> str:
    if kind == "int":
        return i18n.integer(value)
    if kind == "dec1":
        return i18n.decimal(value, 1)
    if kind == "dec2":
        return i18n.decimal(value, 2)
    if kind == "pct":
        return i18n.percent(value)
    return str(value)


def _html_table(table) -> html.Table:
    head = html.Tr([html.Th(_(title)) for _key, title, _kind in TABLE_COLUMNS])
    rows = []
    for _i, row in table.iterrows():
        seeded = bool(row.get("seeded", False))
        cells = [html.Td([row[key], " ", demo_badge(seeded)] if kind == "name" else _fmt(kind, row[key]))
                 for key, _title, kind in TABLE_COLUMNS]
        rows.append(html.Tr(cells, id=f"compare-row-{row['store_id']}", className="seeded" if seeded else ""))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="data", id="compare-kpi-table")


def download(n_clicks, start, end, seeded):
    principal = principal_with_role(*ROLES)
    if not n_clicks or principal is None or not start or not end:
        return dash.no_update
    table, _daily, _known = _table(context().engine, principal, start, end, include_seeded(seeded))
    return dcc.send_string(metrics.compare_csv(table), f"storelens-compare-{start[:10]}-{end[:10]}.csv")


def register_callbacks(app: dash.Dash) -> None:
    dates = [Input("compare-dates", "start_date"), Input("compare-dates", "end_date")]
    seeded = Input("compare-seeded", "value")
    app.callback(Output("compare-message", "children"), Output("compare-table", "children"),
                 Output("compare-ranking", "figure"), Output("compare-trends", "figure"),
                 Output("compare-tz", "children"), *dates, Input("compare-metric", "value"), seeded)(update)
    app.callback(Output("compare-mix", "figure"), *dates, Input("compare-banding", "value"), seeded)(age_mix)
    app.callback(Output("compare-csv", "data"), Input("compare-csv-button", "n_clicks"),
                 State("compare-dates", "start_date"), State("compare-dates", "end_date"),
                 State("compare-seeded", "value"), prevent_initial_call=True)(download)

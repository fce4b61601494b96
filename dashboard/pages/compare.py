"""Compare page (HQ analysts): normalised KPIs side by side, ranking, age mix, trends, CSV export."""

from __future__ import annotations

import dash
from dash import Input, Output, State, dcc, html

from dashboard import data, figures, metrics
from dashboard.pages._common import (
    context,
    control,
    default_range,
    graph,
    not_allowed,
    parse_day,
    principal_with_role,
)

dash.register_page(__name__, path="/compare", title="Compare stores - storelens", name="Compare")

ROLES = ("analyst",)
METRICS = {"visitors_per_open_hour": "Visitors per opening hour", "visitors_per_m2": "Visitors per m²",
           "unique_visitors": "Unique visitors", "coverage": "Coverage (share with an age)",
           "family_share": "Family visits per visitor"}
TREND_STORES = 8
TABLE_COLUMNS = (("rank", "#", "{:d}"), ("store_id", "Store", "{}"), ("name", "Name", "{}"),
                 ("unique_visitors", "Unique visitors", "{:,.0f}"), ("entries", "Entries", "{:,.0f}"),
                 ("visitors_per_open_hour", "per opening hour", "{:.1f}"), ("visitors_per_m2", "per m²", "{:.2f}"),
                 ("coverage", "coverage", "{:.0%}"), ("family_share", "family share", "{:.0%}"))


def layout(**_query) -> html.Div:
    principal = principal_with_role(*ROLES)
    if principal is None:
        return not_allowed("the store comparison")
    ctx = context()
    first, last = default_range(data.latest_window(ctx.engine, principal, data.visible_store_ids(ctx.engine, principal)),
                                max(ctx.cfg.default_days, 28))
    return html.Div([
        html.Div([
            control("Dates (UTC)", dcc.DatePickerRange(id="compare-dates", start_date=first, end_date=last,
                                                       display_format="YYYY-MM-DD")),
            control("Rank by", dcc.Dropdown(id="compare-metric", value="visitors_per_open_hour", clearable=False,
                                            options=[{"label": v, "value": k} for k, v in METRICS.items()])),
            control("Age bands", dcc.RadioItems(id="compare-banding", value="coarse", inline=True,
                                                options=[{"label": "Coarse", "value": "coarse"},
                                                         {"label": "Fine", "value": "fine"}])),
            html.Button("Download CSV", id="compare-csv-button"), dcc.Download(id="compare-csv"),
        ], className="controls"),
        dcc.Loading(html.Div([html.Div(id="compare-message", className="notice"),
                              html.Div(id="compare-table", className="card"),
                              html.Div([graph("compare-ranking", 600), graph("compare-mix", 600)], className="grid2"),
                              graph("compare-trends", 380)]), type="default", delay_show=150),
    ])


def _period(start: str, end: str) -> data.Period:
    """The page compares stores over the same UTC days, whatever their time zones."""
    return data.Period.local_days(parse_day(start), parse_day(end), "UTC")


def _table(engine, principal, start, end):
    period = _period(start, end)
    ids = data.visible_store_ids(engine, principal)
    daily = data.daily_totals(engine, principal, ids, period)
    table = metrics.compare_table(data.stores(engine, principal, ids), daily, (period.end - period.start).days)
    return table, daily


def update(start, end, metric):
    principal = principal_with_role(*ROLES)
    if principal is None or not start or not end:
        blank = figures.empty("Not available.")
        return "Not available.", [], blank, blank
    table, daily = _table(context().engine, principal, start, end)
    if daily.empty:
        blank = figures.empty("No visitor data in this date range.")
        return "No visitor data in this date range; pick other dates.", _html_table(table), blank, blank
    top = table.sort_values(metric, ascending=False)["store_id"].head(TREND_STORES)
    trend = metrics.weekly_trend(daily[daily["store_id"].isin(top)])
    return "", _html_table(table), figures.ranking(table, metric, METRICS[metric]), figures.trends(trend)


def age_mix(start, end, banding):
    """Its own callback: the histograms are the heaviest query, and the table need not wait for them."""
    principal = principal_with_role(*ROLES)
    if principal is None or not start or not end:
        return figures.empty("Not available.")
    engine = context().engine
    period = _period(start, end)
    histograms = data.age_histograms(engine, principal, data.visible_store_ids(engine, principal), period)
    if histograms.empty:
        return figures.empty("No age estimates in this date range.")
    return figures.mix_by_store(metrics.mix_by_store(histograms, banding))


def _html_table(table) -> html.Table:
    head = html.Tr([html.Th(title) for _key, title, _fmt in TABLE_COLUMNS])
    rows = [html.Tr([html.Td(fmt.format(row[key])) for key, _title, fmt in TABLE_COLUMNS],
                    id=f"compare-row-{row['store_id']}") for _i, row in table.iterrows()]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="data", id="compare-kpi-table")


def download(n_clicks, start, end):
    principal = principal_with_role(*ROLES)
    if not n_clicks or principal is None or not start or not end:
        return dash.no_update
    table, _daily = _table(context().engine, principal, start, end)
    return dcc.send_string(metrics.compare_csv(table), f"storelens-compare-{start[:10]}-{end[:10]}.csv")


def register_callbacks(app: dash.Dash) -> None:
    dates = [Input("compare-dates", "start_date"), Input("compare-dates", "end_date")]
    app.callback(Output("compare-message", "children"), Output("compare-table", "children"),
                 Output("compare-ranking", "figure"), Output("compare-trends", "figure"), *dates,
                 Input("compare-metric", "value"))(update)
    app.callback(Output("compare-mix", "figure"), *dates, Input("compare-banding", "value"))(age_mix)
    app.callback(Output("compare-csv", "data"), Input("compare-csv-button", "n_clicks"),
                 State("compare-dates", "start_date"), State("compare-dates", "end_date"),
                 prevent_initial_call=True)(download)

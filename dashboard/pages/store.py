"""Store page (store managers, analysts): visitors, age mix, dwell, zones and the floor heatmap."""

from __future__ import annotations

import dash
from dash import Input, Output, dcc, html

from dashboard import data, figures, metrics
from dashboard.pages._common import (
    context,
    control,
    default_range,
    fmt_change,
    graph,
    kpi,
    not_allowed,
    parse_day,
    principal_with_role,
)

dash.register_page(__name__, path="/store", title="Store - storelens", name="Store")

ROLES = ("manager", "analyst")
BANDING = [{"label": "Fine", "value": "fine"}, {"label": "Coarse", "value": "coarse"},
           {"label": "Custom", "value": "custom"}]
NO_STORE = "Choose a store you have access to."


def layout(store: str | None = None, **_query) -> html.Div:
    principal = principal_with_role(*ROLES)
    if principal is None:
        return not_allowed("store pages")
    ctx = context()
    visible = data.stores(ctx.engine, principal)
    if visible.empty:
        return html.Div("No stores are assigned to your account yet; ask an administrator to add them "
                        "(storelens dashboard user add ... --stores).", className="notice", id="store-empty")
    refused = store is not None and store not in set(visible["store_id"])
    chosen = None if refused else (store or visible["store_id"].iloc[0])
    tz = visible.set_index("store_id")["timezone"].get(chosen, "UTC")
    first, last = default_range(data.latest_window(ctx.engine, principal, [chosen] if chosen else []),
                                ctx.cfg.default_days, tz)
    options = [{"label": f"{r.name} ({r.store_id})", "value": r.store_id} for r in visible.itertuples()]
    return html.Div([
        not_allowed(f"store {store}") if refused else html.Div(),
        _controls(options, chosen, first, last),
        dcc.Loading(html.Div([html.Div(id="store-message", className="notice"),
                              html.Div(id="store-kpis", className="kpis"),
                              html.Div([graph("store-by-hour"), graph("store-by-day")], className="grid2"),
                              html.Div([graph("store-age"), graph("store-dwell")], className="grid2"),
                              html.Div([graph("store-zones"), graph("store-heatmap", 480)], className="grid2")]),
                    type="default", delay_show=150),
    ])


def _controls(options, chosen, first, last) -> html.Div:
    return html.Div([
        control("Store", dcc.Dropdown(id="store-select", options=options, value=chosen, clearable=False)),
        control("Dates", dcc.DatePickerRange(id="store-dates", start_date=first, end_date=last,
                                             display_format="YYYY-MM-DD")),
        control("Age bands", dcc.RadioItems(id="store-banding", options=BANDING, value="fine", inline=True)),
        control("Custom band lower bounds", dcc.Input(id="store-custom-bands", value="0,18,25,35,50,65",
                                                      debounce=True)),
        control("Heatmap: age band", dcc.Dropdown(id="store-heat-band", options=[], value=None,
                                                  placeholder="all visitors")),
        html.Div([html.Label("Heatmap: hours of day"),
                  dcc.RangeSlider(id="store-heat-hours", min=0, max=24, step=1, value=[0, 24],
                                  marks={h: str(h) for h in range(0, 25, 6)})], className="control",
                 style={"minWidth": "16em"}),
    ], className="controls")


def _scope(store_id, start, end):
    """(principal, store row, period) when this request may see the store, else None."""
    principal = principal_with_role(*ROLES)
    if principal is None or not store_id or not start or not end:
        return None
    ctx = context()
    found = data.stores(ctx.engine, principal, [store_id])
    if found.empty:
        return None
    row = found.iloc[0]
    return principal, row, data.Period.local_days(parse_day(start), parse_day(end), row["timezone"])


def overview(store_id, start, end):
    scope = _scope(store_id, start, end)
    if scope is None:
        blank = figures.empty(NO_STORE)
        return NO_STORE, [], blank, blank, blank, blank
    principal, row, period = scope
    engine = context().engine
    now = data.windows(engine, principal, [store_id], period)
    before = data.windows(engine, principal, [store_id], period.previous())
    message = "" if not now.empty else ("No visitor data in this date range. Data arrives off-peak (usually "
                                        "overnight), so today may still be empty; pick earlier dates.")
    dwell = data.dwell_histogram(engine, principal, store_id, period)
    zone = data.zone_visits(engine, principal, store_id, period)
    return (message, _kpi_cards(metrics.kpis(now), metrics.kpis(before)),
            figures.visitors_by_hour(metrics.by_hour(now, row["timezone"])),
            figures.visitors_by_day(metrics.by_day(now, row["timezone"]), metrics.by_day(before, row["timezone"])),
            figures.dwell(dwell) if dwell["visits"].sum() else figures.empty("No dwell times in this range."),
            figures.zones(zone) if not zone.empty else figures.empty("No zones configured or visited."))


def _kpi_cards(now: dict, before: dict) -> list:
    def delta(key):
        return fmt_change(metrics.change(now[key], before[key]))

    return [kpi("Unique visitors", f"{now['unique_visitors']:,}", delta("unique_visitors"), "visitors"),
            kpi("Entries", f"{now['entries']:,}", delta("entries"), "entries"),
            kpi("Visitors with an age (coverage)", f"{now['coverage']:.0%}",
                f"{now['visitors_with_age']:,} visitors", "coverage"),
            kpi("Family visits", f"{now['family_visits']:,}", f"{now['family_share']:.0%} of visitors", "family"),
            kpi("Group visits", f"{now['group_visits']:,}", delta("group_visits"), "groups")]


def age(store_id, start, end, banding, custom):
    scope = _scope(store_id, start, end)
    if scope is None:
        return figures.empty(NO_STORE), ""
    principal, _row, period = scope
    try:
        spec = metrics.parse_custom_bands(custom or "") if banding == "custom" else banding
    except ValueError as exc:
        return figures.empty(str(exc)), str(exc)
    hist = data.age_histograms(context().engine, principal, [store_id], period)
    if hist.empty or hist.to_numpy().sum() == 0:
        return figures.empty("No age estimates in this range (faces too small, turned away or none seen)."), ""
    return figures.age_mix(metrics.band_mix(hist.iloc[0].to_numpy(), spec)), ""


def heat(store_id, start, end, band, hours):
    scope = _scope(store_id, start, end)
    if scope is None:
        return figures.empty(NO_STORE), []
    principal, row, period = scope
    engine = context().engine
    grid = data.heatmap(engine, principal, store_id, period, band=band, hours=tuple(hours or (0, 24)),
                        tz=row["timezone"])
    options = [{"label": b, "value": b} for b in grid.bands]
    if grid.counts.size == 0 or grid.counts.sum() == 0:
        return figures.empty("No floor positions for this filter (no camera mapped to the floor, or no visitors)."), \
            options
    image = data.floorplan(engine, principal, store_id)
    size = (float(row["floor_width_m"]), float(row["floor_height_m"]))
    return figures.floor_heatmap(grid.counts, grid.cell_m, size, image), options


def register_callbacks(app: dash.Dash) -> None:
    dates = [Input("store-select", "value"), Input("store-dates", "start_date"), Input("store-dates", "end_date")]
    app.callback(Output("store-message", "children"), Output("store-kpis", "children"),
                 Output("store-by-hour", "figure"), Output("store-by-day", "figure"),
                 Output("store-dwell", "figure"), Output("store-zones", "figure"), *dates)(overview)
    app.callback(Output("store-age", "figure"), Output("store-custom-bands", "title"), *dates,
                 Input("store-banding", "value"), Input("store-custom-bands", "value"))(age)
    app.callback(Output("store-heatmap", "figure"), Output("store-heat-band", "options"), *dates,
                 Input("store-heat-band", "value"), Input("store-heat-hours", "value"))(heat)


"""Layout before/after (store managers, analysts): two periods of one store side by side.

For a layout change: the floor heatmaps of both periods on one fixed colour scale, the difference
(after minus before), and zone visits and mean dwell in both periods with the change. Visits are
per day with data, so a two-week "before" compares fairly with a one-week "after".
"""

from __future__ import annotations

from datetime import timedelta

import dash
import numpy as np
from dash import Input, Output, dcc, html

from dashboard import data, figures, i18n, metrics
from dashboard.i18n import _
from dashboard.pages import _heat as heat
from dashboard.pages._common import (
    context,
    control,
    date_range,
    default_range,
    dropdown,
    graph,
    include_seeded,
    not_allowed,
    parse_day,
    principal_with_role,
    seeded_toggle,
    today,
    tz_note,
)
from dashboard.pages.store import banding_options, store_options

dash.register_page(__name__, path="/layout", title="storelens", name="Layout")

ROLES = ("manager", "analyst")


def layout(store: str | None = None, **_query) -> html.Div:
    principal = principal_with_role(*ROLES)
    if principal is None:
        return not_allowed(_("store pages"))
    ctx = context()
    visible = data.stores(ctx.engine, principal)
    if visible.empty:
        return html.Div(_("No stores are assigned to your account yet."), className="notice")
    chosen = store if store in set(visible["store_id"]) else visible["store_id"].iloc[0]
    tz = visible.set_index("store_id")["timezone"].get(chosen, "UTC")
    first_b, last_b = default_range(data.latest_window(ctx.engine, principal, [chosen]), 7, tz)
    if last_b >= today(tz):  # whole days: today is still running, its visits per day would fall short
        last_b = today(tz) - timedelta(days=1)
        first_b = last_b - timedelta(days=6)
    first_a, last_a = first_b - timedelta(days=7), first_b - timedelta(days=1)
    return html.Div([
        html.H2(_("Layout before/after")),
        html.P(_("Pick the weeks before and after a layout change: both maps share one colour scale, the third "
                 "map shows where visits rose (red) or fell (blue)."), className="lead"),
        html.Div([
            control(_("Store"), dropdown(id="ba-store", options=store_options(visible), value=chosen,
                                             clearable=False)),
            control(_("Before"), date_range("ba-before", first_a, last_a, tz)),
            control(_("After"), date_range("ba-after", first_b, last_b, tz)),
            control(_("Age bands"), dcc.RadioItems(id="ba-banding", options=banding_options()[:2], value="fine",
                                                   inline=True)),
            seeded_toggle("ba-seeded", data.has_seeded(ctx.engine, principal, [chosen])),
        ], className="controls"),
        html.Div(id="ba-tz"),
        heat.controls("ba", scale=False),
        dcc.Loading(html.Div([
            html.Div(id="ba-message", className="notice"),
            html.Div([graph("ba-heat-before", 560), graph("ba-heat-after", 560)], className="grid2"),
            html.Div([graph("ba-heat-diff", 560), html.Div(id="ba-zones", className="card table-wrap")],
                     className="grid2"),
        ]), type="default", delay_show=150),
    ])


def _scope(store_id, *ranges):
    principal = principal_with_role(*ROLES)
    if principal is None or not store_id or not all(ranges):
        return None
    found = data.stores(context().engine, principal, [store_id])
    if found.empty:
        return None
    row = found.iloc[0]
    days = [parse_day(d) for d in ranges]
    periods = (data.Period.local_days(days[0], days[1], row["timezone"]),
               data.Period.local_days(days[2], days[3], row["timezone"]))
    return principal, row, periods, days


def compare(store_id, a_start, a_end, b_start, b_end, band, hours, seeded):
    scope = _scope(store_id, a_start, a_end, b_start, b_end)
    if scope is None:
        blank = figures.empty(_("Choose a store you have access to."))
        return _("Choose a store you have access to."), blank, blank, blank, [], ""
    principal, row, (before, after), days = scope
    engine, keep = context().engine, include_seeded(seeded)
    choice_a, choice_b = heat.choose(band, hours), heat.choose(band, hours)
    a, _all_a, grid_a = heat.per_day(engine, principal, row, before, choice_a, keep)
    b, _all_b, grid_b = heat.per_day(engine, principal, row, after, choice_b, keep)
    a, b = _same_shape(a, b)
    top = float(max(a.max(initial=0), b.max(initial=0)))
    image = data.floorplan(engine, principal, store_id)
    floor = (float(row["floor_width_m"]), float(row["floor_height_m"]))
    unit = _("visits/day")
    figs = [_map(values, grid.cell_m or grid_a.cell_m, floor, image, label, choice, first, last, top, unit)
            for values, grid, label, choice, first, last in ((a, grid_a, _("Before"), choice_a, days[0], days[1]),
                                                             (b, grid_b, _("After"), choice_b, days[2], days[3]))]
    diff = b - a
    limit = float(np.abs(diff).max(initial=0))
    figs.append(figures.heat_difference(diff, grid_a.cell_m, floor, image, title=_("Difference: after − before"),
                                        subtitle=_diff_subtitle(choice_a, days),
                                        limit=limit or 1.0, unit=unit) if top else figures.empty(
        _("No floor positions in either period."), _("Difference: after − before")))
    zones = metrics.zone_change(data.zone_visits(engine, principal, store_id, before, seeded=keep),
                                data.zone_visits(engine, principal, store_id, after, seeded=keep),
                                max(grid_a.days, 1), max(grid_b.days, 1))
    message = _message(grid_a, grid_b)
    return message, *figs, _zone_table(zones), tz_note(row["timezone"], "ba-tz-note")


def _diff_subtitle(choice, days) -> str:
    return " · ".join((choice.band_text, heat.hours_text(choice.hours),
                       f"{i18n.period(days[0], days[1])} → {i18n.period(days[2], days[3])}"))


def _same_shape(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
    out = []
    for grid in (a, b):
        padded = np.zeros((rows, cols))
        padded[:grid.shape[0], :grid.shape[1]] = grid
        out.append(padded)
    return out[0], out[1]


def _map(values, cell_m, floor, image, label, choice, first, last, top, unit):
    title = _("{label}: where visitors stood").format(label=label)
    sub = heat.subtitle(choice, first, last)
    if not values.any():
        return figures.empty(_("No floor positions in this period."), title, sub)
    return figures.floor_heatmap(values, cell_m, floor, image, title=title, subtitle=sub, zmax=top, unit=unit)


def _message(grid_a, grid_b) -> str:
    notes = []
    if grid_a.days == 0 or grid_b.days == 0:
        notes.append(_("One of the periods has no data; pick dates with visitors in both."))
    if grid_a.days and grid_b.days and grid_a.cell_m != grid_b.cell_m:
        notes.append(_("The floor grid changed between the periods; cells are compared by position."))
    if grid_a.skipped or grid_b.skipped:
        notes.append(_("{n} windows with an invalid heatmap were left out.").format(n=grid_a.skipped + grid_b.skipped))
    return " ".join(notes)


ZONE_COLUMNS = ((None, "zone"), ("per_day_a", "int1"), ("per_day_b", "int1"), ("visits_change", "pct"),
                ("mean_dwell_s_a", "s"), ("mean_dwell_s_b", "s"), ("dwell_change_s", "ds"))


def _zone_table(zones) -> html.Div:
    if zones.empty:
        return html.Div(_("No zone visits in either period."), className="empty-note", id="ba-zones-empty")
    head = html.Tr([html.Th(t) for t in (_("Zone"), _("Visits/day before"), _("Visits/day after"), _("Change"),
                                         _("Mean dwell before"), _("Mean dwell after"), _("Dwell change"))])
    rows = [html.Tr([html.Td(_cell(kind, r[key] if key else r["zone"])) for key, kind in ZONE_COLUMNS],
                    id=f"ba-zone-row-{i}") for i, r in zones.iterrows()]
    return html.Div([html.H4(_("Zones: both periods")),
                     html.Table([html.Thead(head), html.Tbody(rows)], className="data", id="ba-zones-table")])


def _cell(kind: str, value) -> str:
    if kind == "zone":
        return str(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if kind == "int1":
        return i18n.decimal(value, 1)
    if kind == "pct":
        return i18n.percent(value, signed=True)
    if kind == "ds":
        return f"{value:+.0f} s"
    return f"{value:.0f} s"


def register_callbacks(app: dash.Dash) -> None:
    app.callback(Output("ba-message", "children"), Output("ba-heat-before", "figure"),
                 Output("ba-heat-after", "figure"), Output("ba-heat-diff", "figure"), Output("ba-zones", "children"),
                 Output("ba-tz", "children"),
                 Input("ba-store", "value"), Input("ba-before", "start_date"), Input("ba-before", "end_date"),
                 Input("ba-after", "start_date"), Input("ba-after", "end_date"), Input("ba-heat-band", "value"),
                 Input("ba-heat-hours", "value"), Input("ba-seeded", "value"))(compare)
    app.callback(Output("ba-heat-band", "options"), Output("ba-heat-band", "value"),
                 Input("ba-banding", "value"), dash.State("ba-heat-band", "value"))(band_menu)


def band_menu(banding, current):
    return heat.band_menu(banding, "", current)

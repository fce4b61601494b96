"""The floor heatmap as the store page and the before/after page show it: filters, title, colour scale.

Heat by age is stored per band of the edge's own banding (fine by default). A band chosen here that
does not line up with the recorded ones is drawn as the nearest union of recorded bands, and the
title says which ages that is. Values are visits per day with data, so periods of different length
compare; the colour scale is fixed (on all visitors at all hours of the period) unless the user asks
for a scale fitted to the filter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from dash import Input, Output, State, dcc, html

from dashboard import data, figures, i18n, metrics
from dashboard.i18n import _
from dashboard.pages._common import context, dropdown, graph, include_seeded, parse_day
from storelens.agebands import band_edges, band_labels

ALL = "all"
HOURS_MARKS = {h: f"{h:02d}" for h in range(0, 25, 6)}


def band_options(banding: str | None, custom: str | None) -> list[dict]:
    """All visitors, then each band of the chosen banding (custom bounds parsed as the age chart does)."""
    try:
        spec = metrics.parse_custom_bands(custom or "") if banding == "custom" else (banding or "fine")
        labels = band_labels(band_edges(spec))
    except ValueError:
        labels = []
    return [{"label": _("All visitors"), "value": ALL}, *({"label": b, "value": b} for b in labels)]


def controls(prefix: str, *, scale: bool) -> html.Div:
    items = [html.Div([html.Label(_("Heatmap: age band")),
                       dropdown(id=f"{prefix}-heat-band", options=band_options("fine", ""), value=ALL,
                                    clearable=False)], className="control"),
             html.Div([html.Label(_("Heatmap: hours of day (store time)")),
                       dcc.RangeSlider(id=f"{prefix}-heat-hours", min=0, max=24, step=1, value=[0, 24],
                                       marks=HOURS_MARKS, allowCross=False)],
                      className="control wide")]
    if scale:
        items.append(html.Div([html.Label(_("Colour scale")), dcc.RadioItems(
            id=f"{prefix}-heat-scale", inline=True, value="fixed",
            options=[{"label": _("fixed (comparable across filters)"), "value": "fixed"},
                     {"label": _("fitted to this filter"), "value": "fit"}])], className="control"))
    return html.Div(items, className="controls")


def section(prefix: str) -> html.Div:
    """Filters and map; the band menu follows the page's age banding (see register_store_callbacks)."""
    return html.Div([html.H3(_("Floor heatmap"), className="section"), controls(prefix, scale=True),
                     dcc.Loading(graph(f"{prefix}-heatmap", 620), type="default", delay_show=150)],
                    className="heat-section")


@dataclass
class HeatChoice:
    """What a heatmap shows: the wished band (None: everyone) and hours; once the recorded bands are
    known, `resolve` sets the recorded bands to sum and the words for the title."""

    band: str | None
    hours: tuple[int, int]
    band_text: str = ""

    def resolve(self, recorded: tuple[str, ...]) -> list[str] | None:
        if not self.band or self.band == ALL:
            self.band_text = _("all visitors")
            return None
        labels, covered = metrics.covering_bands(self.band, recorded)
        if covered is None:
            self.band_text = _("ages {band} (not recorded)").format(band=self.band)
            return []
        shown = _span_label(covered)
        self.band_text = (_("ages {band}").format(band=self.band) if shown == self.band else
                          _("ages {shown} (nearest recorded bands to {band})").format(shown=shown, band=self.band))
        return labels


def choose(band: str | None, hours) -> HeatChoice:
    return HeatChoice(band, tuple(int(h) for h in (hours or (0, 24))))


def _span_label(span: tuple[int, int]) -> str:
    lo, hi = span
    return f"{lo}+" if hi >= 90 else (f"{lo}-{hi}" if hi > lo else str(lo))


def hours_text(hours: tuple[int, int]) -> str:
    if tuple(hours) == (0, 24):
        return _("all day")
    return f"{hours[0]:02d}:00–{hours[1]:02d}:00"


def subtitle(choice: HeatChoice, first, last) -> str:
    return " · ".join((choice.band_text, hours_text(choice.hours), i18n.period(first, last)))


def crop(values: np.ndarray, cell_m: float, floor_m: tuple[float, float]) -> np.ndarray:
    """Cells on the store's floor only (a larger declared grid has nothing to show beyond it)."""
    if not floor_m[0] or not floor_m[1] or values.size == 0:
        return values
    rows, cols = math.ceil(floor_m[1] / cell_m - 1e-9), math.ceil(floor_m[0] / cell_m - 1e-9)
    return values[:rows, :cols]


def per_day(engine, principal, row, period, choice: HeatChoice, seeded: bool):
    """(visits per day for the choice, the same for everyone at all hours, grid) on the store's floor."""
    grid = data.heatmap(engine, principal, row["store_id"], period, band=choice.resolve, hours=choice.hours,
                        tz=row["timezone"], seeded=seeded)
    floor = (float(row["floor_width_m"]), float(row["floor_height_m"]))
    days = max(grid.days, 1)
    total = grid.total if grid.total is not None else grid.counts
    return crop(grid.counts / days, grid.cell_m, floor), crop(total / days, grid.cell_m, floor), grid


def store_heat(scope_of, store_id, start, end, band, hours, scale, seeded):
    scope = scope_of(store_id, start, end)
    if scope is None:
        return figures.empty(_("Choose a store you have access to."), _("Where visitors stood"))
    principal, row, period = scope
    engine = context().engine
    choice = choose(band, hours)
    values, everyone, grid = per_day(engine, principal, row, period, choice, include_seeded(seeded))
    title, sub = _("Where visitors stood"), subtitle(choice, parse_day(start), parse_day(end))
    if values.size == 0 or values.sum() == 0:
        return figures.empty(_("No floor positions for this filter (no camera mapped to the floor, or no "
                               "visitors)."), title, sub)
    zmax = float(everyone.max()) if scale != "fit" and everyone.size else None
    floor = (float(row["floor_width_m"]), float(row["floor_height_m"]))
    return figures.floor_heatmap(values, grid.cell_m, floor, data.floorplan(engine, principal, store_id),
                                 title=title, subtitle=sub, zmax=zmax, unit=_("visits/day"))


def band_menu(banding, custom, current):
    options = band_options(banding, custom)
    values = {o["value"] for o in options}
    return options, current if current in values else ALL


def register_store_callbacks(app, scope_of) -> None:
    app.callback(Output("store-heat-band", "options"), Output("store-heat-band", "value"),
                 Input("store-banding", "value"), Input("store-custom-bands", "value"),
                 State("store-heat-band", "value"))(band_menu)

    def heat(store_id, start, end, band, hours, scale, seeded):
        return store_heat(scope_of, store_id, start, end, band, hours, scale, seeded)

    app.callback(Output("store-heatmap", "figure"), Input("store-select", "value"),
                 Input("store-dates", "start_date"), Input("store-dates", "end_date"),
                 Input("store-heat-band", "value"), Input("store-heat-hours", "value"),
                 Input("store-heat-scale", "value"), Input("store-seeded", "value"))(heat)

"""Conversion figures: DataFrame in, plotly Figure out (the look of dashboard.figures)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard import figures
from dashboard.i18n import _

TRANSACTIONS_COLOUR = "#54A24B"
CONVERSION_COLOUR = "#E45756"


def _base(title: str, subtitle: str = "") -> go.Figure:
    fig = figures.empty("", title, subtitle)
    fig.update_layout(annotations=[], xaxis={"visible": True}, yaxis={"visible": True})
    return fig


def _conversion_axis() -> dict:
    return {"overlaying": "y", "side": "right", "tickformat": ".0%", "rangemode": "tozero", "showgrid": False,
            "nticks": 5, "title": _("conversion")}


def by_day(days: pd.DataFrame, tz: str) -> go.Figure:
    """Entries (in hours with POS data) and transactions as bars, conversion as a line on its own axis."""
    shown = days[days["pos_hours"] > 0]
    title, subtitle = _("Conversion by day"), _("store time, {zone}").format(zone=tz)
    if shown.empty:
        return figures.empty(_("No sales data in this date range."), title, subtitle)
    fig = _base(title, subtitle)
    fig.add_bar(x=shown["period_start"], y=shown["entries_with_pos"], name=_("Entries (hours with sales data)"),
                marker_color=figures.ENTRIES_COLOUR)
    fig.add_bar(x=shown["period_start"], y=shown["transactions"], name=_("Transactions"),
                marker_color=TRANSACTIONS_COLOUR)
    fig.add_scatter(x=shown["period_start"], y=shown["conversion"], name=_("Conversion"), yaxis="y2",
                    mode="lines+markers", line={"color": CONVERSION_COLOUR})
    fig.update_layout(barmode="group", xaxis=figures.day_axis(shown["period_start"]), yaxis2=_conversion_axis())
    return fig


def by_hour_of_day(hours: pd.DataFrame, tz: str) -> go.Figure:
    """Conversion per hour of day over the period (which hours sell)."""
    title, subtitle = _("Conversion by hour of day"), _("store time, {zone}").format(zone=tz)
    if hours["transactions"].sum() == 0 and hours["entries_with_pos"].sum() == 0:
        return figures.empty(_("No sales data in this date range."), title, subtitle)
    fig = _base(title, subtitle)
    fig.add_bar(x=hours["hour"], y=hours["conversion"], name=_("Conversion"), marker_color=CONVERSION_COLOUR,
                customdata=hours[["transactions", "entries_with_pos"]].to_numpy(),
                hovertemplate=_("%{x}:00 conversion %{y:.1%} (%{customdata[0]} / %{customdata[1]})")
                + "<extra></extra>")
    fig.update_layout(xaxis={"dtick": 2, "title": _("hour"), "range": [-0.5, 23.5]},
                      yaxis={"tickformat": ".0%", "rangemode": "tozero"})
    return fig

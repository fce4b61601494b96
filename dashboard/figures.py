"""Pure builders: DataFrame (or array) in, plotly Figure out. No queries, no Dash, no state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

ENTRIES_COLOUR = "#4C78A8"
VISITORS_COLOUR = "#F58518"
PREVIOUS_COLOUR = "#9D9D9D"
_MARGIN = {"l": 50, "r": 20, "t": 40, "b": 40}


def _base(title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, margin=_MARGIN, template="plotly_white", legend={"orientation": "h", "y": -0.2})
    return fig


def empty(message: str, title: str = "") -> go.Figure:
    """A blank figure that says why it is blank."""
    fig = _base(title)
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False},
                      annotations=[{"text": message, "showarrow": False, "font": {"size": 14}, "xref": "paper",
                                    "yref": "paper", "x": 0.5, "y": 0.5}])
    return fig


def visitors_by_hour(frame: pd.DataFrame) -> go.Figure:
    """Entries and unique visitors side by side per hour of day."""
    fig = _base("Visitors by hour of day (store time)")
    fig.add_bar(x=frame["hour"], y=frame["entries"], name="Entries", marker_color=ENTRIES_COLOUR)
    fig.add_bar(x=frame["hour"], y=frame["unique_visitors"], name="Unique visitors", marker_color=VISITORS_COLOUR)
    fig.update_layout(barmode="group", xaxis={"dtick": 2, "title": "hour"})
    return fig


def visitors_by_day(frame: pd.DataFrame, previous: pd.DataFrame | None = None) -> go.Figure:
    """Entries and unique visitors per day; the previous period's visitors as a line, day by day."""
    fig = _base("Visitors by day")
    fig.add_bar(x=frame["day"], y=frame["entries"], name="Entries", marker_color=ENTRIES_COLOUR)
    fig.add_bar(x=frame["day"], y=frame["unique_visitors"], name="Unique visitors", marker_color=VISITORS_COLOUR)
    if previous is not None and not previous.empty and not frame.empty:
        n = min(len(frame), len(previous))
        fig.add_scatter(x=frame["day"].iloc[-n:], y=previous["unique_visitors"].iloc[-n:], mode="lines+markers",
                        name="Unique visitors, previous period", line={"color": PREVIOUS_COLOUR, "dash": "dot"})
    fig.update_layout(barmode="group", xaxis={"type": "date", "tickformat": "%a %d %b"})
    return fig


def age_mix(frame: pd.DataFrame) -> go.Figure:
    """Share of aged visitors per band, with the count on hover."""
    fig = _base("Age mix (visitors with an age estimate)")
    fig.add_bar(x=frame["band"], y=frame["share"] * 100, customdata=frame["visitors"], marker_color=VISITORS_COLOUR,
                hovertemplate="%{x}: %{y:.1f}% (%{customdata} visitors)<extra></extra>", name="share")
    fig.update_layout(yaxis={"title": "% of visitors with an age", "rangemode": "tozero"},
                      xaxis={"type": "category"})
    return fig


def dwell(frame: pd.DataFrame) -> go.Figure:
    fig = _base("Time in store")
    fig.add_bar(x=frame["label"], y=frame["visits"], marker_color=ENTRIES_COLOUR, name="visits")
    fig.update_layout(xaxis={"type": "category", "title": "dwell"}, yaxis={"title": "visits"})
    return fig


def zones(frame: pd.DataFrame) -> go.Figure:
    """Visits per zone, mean dwell on hover, busiest first."""
    fig = _base("Zone visits")
    fig.add_bar(y=frame["zone"], x=frame["visits"], orientation="h", customdata=frame["mean_dwell_s"],
                marker_color=VISITORS_COLOUR, name="visits",
                hovertemplate="%{y}: %{x} visits, mean dwell %{customdata:.0f} s<extra></extra>")
    fig.update_layout(yaxis={"autorange": "reversed", "type": "category"}, xaxis={"title": "visits"})
    return fig


def floor_heatmap(counts: np.ndarray, cell_m: float, floor_m: tuple[float, float], image: str | None) -> go.Figure:
    """Heat cells drawn over the floor-plan image; metres on both axes, y growing downwards like the plan."""
    width_m = floor_m[0] or counts.shape[1] * cell_m
    height_m = floor_m[1] or counts.shape[0] * cell_m
    fig = _base("Where visitors stood")
    shown = np.where(counts > 0, counts, np.nan)  # empty cells stay transparent so the plan shows through
    fig.add_heatmap(z=shown, x0=cell_m / 2, dx=cell_m, y0=cell_m / 2, dy=cell_m, colorscale="YlOrRd", opacity=0.65,
                    colorbar={"title": "visits"}, hovertemplate="x %{x:.1f} m, y %{y:.1f} m: %{z}<extra></extra>")
    if image:
        fig.add_layout_image(source=image, xref="x", yref="y", x=0, y=0, sizex=width_m, sizey=height_m,
                             sizing="stretch", layer="below", xanchor="left", yanchor="top")
    fig.update_layout(xaxis={"range": [0, width_m], "title": "m", "showgrid": False, "constrain": "domain"},
                      yaxis={"range": [height_m, 0], "showgrid": False, "scaleanchor": "x"})
    return fig


def ranking(table: pd.DataFrame, metric: str, label: str) -> go.Figure:
    """Stores ranked on one normalised KPI, best at the top."""
    ranked = table.sort_values(metric, ascending=False)
    fig = _base(f"Ranking: {label}")
    fig.add_bar(y=ranked["store_id"], x=ranked[metric], orientation="h", marker_color=ENTRIES_COLOUR, name=label,
                customdata=ranked["name"], hovertemplate="%{customdata}: %{x:.2f}<extra></extra>")
    fig.update_layout(yaxis={"autorange": "reversed", "type": "category"},
                      height=max(300, 22 * len(ranked) + 80))
    return fig


def mix_by_store(frame: pd.DataFrame) -> go.Figure:
    """100% stacked bars: age mix of each store."""
    fig = _base("Age mix by store")
    for band, part in frame.groupby("band", sort=False):
        fig.add_bar(x=part["store_id"], y=part["share"] * 100, name=str(band))
    fig.update_layout(barmode="stack", yaxis={"title": "%", "range": [0, 100]}, xaxis={"type": "category"})
    return fig


def trends(frame: pd.DataFrame) -> go.Figure:
    """Weekly unique visitors, one line per store."""
    fig = _base("Weekly visitors")
    for store_id, part in frame.groupby("store_id"):
        fig.add_scatter(x=part["week"], y=part["unique_visitors"], mode="lines", name=str(store_id))
    return fig

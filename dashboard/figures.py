"""Pure builders: DataFrame (or array) in, plotly Figure out. No queries, no Dash, no state.

Texts go through dashboard.i18n (English outside a request). Titles sit below plotly's toolbar
(the modebar floats over the top right corner of the figure), with the filter on a second, smaller
line, so neither covers the other on a phone. Days on a date axis get explicit ticks: one tick per
shown day at most, never an hour tick that repeats the same date, never an axis on an empty range.
Seeded (demo) data is hatched wherever a bar can carry a pattern.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import sample_colorscale

from dashboard import i18n
from dashboard.i18n import _

ENTRIES_COLOUR = "#4C78A8"
VISITORS_COLOUR = "#F58518"
PREVIOUS_COLOUR = "#9D9D9D"
SEEDED_PATTERN = "/"
TITLE_TOP_PX = 36  # below the modebar (about 26 px tall at the figure's top edge)
_MARGIN = {"l": 50, "r": 20, "t": 72, "b": 40}
MAX_DAY_TICKS = 7  # fits a 300 px phone chart; more days get every n-th day labelled


def _title(title: str, subtitle: str = "") -> dict:
    # Anchored to the figure's own left edge, not the plot area's: long axis labels (store names)
    # push the plot area right and would push a paper-anchored title out of the figure.
    out = {"text": title, "x": 0, "xref": "container", "xanchor": "left", "y": 1, "yref": "container",
           "yanchor": "top", "pad": {"t": TITLE_TOP_PX, "l": 14}, "font": {"size": 15}}
    if subtitle:
        out["subtitle"] = {"text": wrap(subtitle), "font": {"size": 12, "color": "#555"}}
    return out


SUBTITLE_WIDTH_PX = 320  # what a phone chart (360 px on a 390 px screen) leaves for a line of 12 px text


def _text_px(text: str) -> float:
    """Rough width at 12 px: CJK characters are square, Latin ones about half as wide."""
    return sum(12.0 if ord(ch) > 0x2E80 else 6.3 for ch in text)


def wrap(text: str, width_px: float = SUBTITLE_WIDTH_PX, sep: str = " · ") -> str:
    """Break a subtitle at its separators, and a part that is still too long at its spaces (plotly
    does not wrap), so it fits a phone."""
    lines, line = [], ""
    for part in text.split(sep):
        for piece in _pieces(part, width_px):
            candidate = f"{line}{sep}{piece}" if line and piece is not None else (line or piece)
            if line and _text_px(candidate) > width_px:
                lines.append(line)
                line = piece
            else:
                line = candidate
    return "<br>".join([*lines, line])


def _pieces(part: str, width_px: float) -> list[str]:
    """A part as one piece, or as lines of whole words when it alone is wider than a line."""
    if _text_px(part) <= width_px:
        return [part]
    out, line = [], ""
    for word in part.split(" "):
        candidate = f"{line} {word}" if line else word
        if line and _text_px(candidate) > width_px:
            out.append(line)
            line = word
        else:
            line = candidate
    out.append(line)
    return ["<br>".join(out)]


def title_text(fig: go.Figure) -> str:
    """Title and subtitle as one line of text (what the chart says about its filter)."""
    title = fig.layout.title
    return " · ".join(t for t in (title.text, title.subtitle.text if title.subtitle else None) if t)


_TEMPLATE_LOCK = threading.Lock()


@functools.cache
def _template() -> go.layout.Template:
    """plotly_white with only the trace types drawn here: validating the full template cost ~90 ms a
    figure (a deep copy of every trace type's defaults), this one ~7 ms (as a plain dict: ~180 ms)."""
    white = pio.templates["plotly_white"]
    return go.layout.Template(layout=white.layout, data={"bar": white.data.bar, "scatter": white.data.scatter,
                                                         "heatmap": white.data.heatmap})


def _apply_template(fig: go.Figure) -> None:
    # Dash serves callbacks on several threads, and two figures copying the one shared Template at
    # once corrupt plotly's parent/child bookkeeping ("ValueError: Invalid value" from
    # BaseFigure._index_is): the copy is serialised. The lock also covers the first build above.
    with _TEMPLATE_LOCK:
        fig.update_layout(template=_template())


def _base(title: str, subtitle: str = "") -> go.Figure:
    fig = go.Figure()
    extra_lines = wrap(subtitle).count("<br>") if subtitle else 0
    margin = {**_MARGIN, "t": _MARGIN["t"] + (20 + 15 * extra_lines if subtitle else 0)}
    _apply_template(fig)
    fig.update_layout(title=_title(title, subtitle), margin=margin,
                      legend={"orientation": "h", "y": -0.18, "x": 0}, separators=_separators())
    return fig


def _separators() -> str:
    symbols = i18n.locale().number_symbols["latn"]
    return symbols["decimal"] + symbols["group"]


def empty(message: str, title: str = "", subtitle: str = "") -> go.Figure:
    """A blank figure that says why it is blank (no axes: nothing to measure them against)."""
    fig = _base(title, subtitle)
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False},
                      annotations=[{"text": message, "showarrow": False, "font": {"size": 14}, "xref": "paper",
                                    "yref": "paper", "x": 0.5, "y": 0.5}])
    return fig


def day_axis(days: Sequence[date], *, weekday: bool | None = None) -> dict:
    """A date axis over whole days: at most MAX_DAY_TICKS labels, each a distinct day, half a day of
    padding either side (a one-day range shows one bar and one label)."""
    shown = sorted({pd.Timestamp(d).date() for d in days})
    if not shown:
        return {"visible": False}
    step = max(1, math.ceil(len(shown) / MAX_DAY_TICKS))
    ticks = shown[::step]
    with_weekday = len(shown) <= MAX_DAY_TICKS if weekday is None else weekday
    return {"type": "date", "tickmode": "array", "tickvals": [d.isoformat() for d in ticks],
            "ticktext": [i18n.short_day(d, weekday=with_weekday) for d in ticks],
            "range": [(pd.Timestamp(shown[0]) - timedelta(hours=12)).isoformat(),
                      (pd.Timestamp(shown[-1]) + timedelta(hours=12)).isoformat()]}


def visitors_by_hour(frame: pd.DataFrame, tz: str = "UTC") -> go.Figure:
    """Entries and unique visitors side by side per hour of day (store time)."""
    fig = _base(_("Visitors by hour of day"), _("store time, {zone}").format(zone=tz))
    fig.add_bar(x=frame["hour"], y=frame["entries"], name=_("Entries"), marker_color=ENTRIES_COLOUR)
    fig.add_bar(x=frame["hour"], y=frame["unique_visitors"], name=_("Unique visitors"),
                marker_color=VISITORS_COLOUR)
    fig.update_layout(barmode="group", xaxis={"dtick": 3, "ticksuffix": ":00", "range": [-0.5, 23.5]})
    return fig


def _patterns(frame: pd.DataFrame) -> list[str] | None:
    if "seeded" not in frame or not frame["seeded"].any():
        return None
    return [SEEDED_PATTERN if s else "" for s in frame["seeded"]]


def _seeded_legend(fig: go.Figure) -> None:
    """A legend entry that explains the hatching (an empty bar trace with the pattern)."""
    fig.add_bar(x=[None], y=[None], name=_("hatched: demo (seeded) data"), marker_color="#ffffff",
                marker_line_color="#666", marker_line_width=1, marker_pattern_shape=SEEDED_PATTERN,
                marker_pattern_fgcolor="#666", hoverinfo="skip")


def visitors_by_day(frame: pd.DataFrame, previous: pd.DataFrame | None = None, *, shift_days: int | None = None,
                    today: date | None = None) -> go.Figure:
    """Entries and unique visitors per day; the previous period's visitors as a line on the days they
    precede by `shift_days` (the period's length; by position when not given). Today's bars are
    still growing: drawn lighter and labelled "so far", with no previous-period point to fall short of."""
    fig = _base(_("Visitors by day"))
    if frame.empty:
        return empty(_("No visitor data in this date range."), _("Visitors by day"))
    days = [pd.Timestamp(d).date() for d in frame["day"]]
    pattern = _patterns(frame)
    extra = {"marker_pattern_shape": pattern, "marker_pattern_fgcolor": "#ffffff"} if pattern else {}
    opacity = [0.45 if d == today else 1.0 for d in days]
    fig.add_bar(x=frame["day"], y=frame["entries"], name=_("Entries"), marker_color=ENTRIES_COLOUR,
                marker_opacity=opacity, **extra)
    fig.add_bar(x=frame["day"], y=frame["unique_visitors"], name=_("Unique visitors"),
                marker_color=VISITORS_COLOUR, marker_opacity=opacity, **extra)
    if previous is not None and not previous.empty:
        _previous_line(fig, frame, previous, shift_days, today)
    if pattern:
        _seeded_legend(fig)
    axis = day_axis(frame["day"])
    if today in days and today.isoformat() in axis.get("tickvals", []):
        at = axis["tickvals"].index(today.isoformat())
        so_far = _("(so far)")  # outside the f-string: pybabel does not look inside one
        axis["ticktext"][at] = f"{axis['ticktext'][at]}<br>{so_far}"  # two short lines fit a phone
    fig.update_layout(barmode="group", xaxis=axis)
    return fig


def _previous_line(fig: go.Figure, frame: pd.DataFrame, previous: pd.DataFrame, shift_days: int | None,
                   today: date | None) -> None:
    if shift_days is None:
        n = min(len(frame), len(previous))
        x, y = list(frame["day"].iloc[-n:]), list(previous["unique_visitors"].iloc[-n:])
    else:
        x = [pd.Timestamp(d).date() + timedelta(days=shift_days) for d in previous["day"]]
        y = list(previous["unique_visitors"])
    y = [None if pd.Timestamp(d).date() == today else v for d, v in zip(x, y, strict=True)]
    fig.add_scatter(x=x, y=y, mode="lines+markers", name=_("Unique visitors, previous period"),
                    line={"color": PREVIOUS_COLOUR, "dash": "dot"}, connectgaps=False)


def age_mix(frame: pd.DataFrame, subtitle: str = "") -> go.Figure:
    """Share of aged visitors per band, with the count on hover."""
    fig = _base(_("Age mix (visitors with an age estimate)"), subtitle)
    fig.add_bar(x=frame["band"], y=frame["share"] * 100, customdata=frame["visitors"], marker_color=VISITORS_COLOUR,
                hovertemplate="%{x}: %{y:.1f}% (%{customdata})<extra></extra>", name=_("share"))
    fig.update_layout(yaxis={"title": "%", "rangemode": "tozero"},
                      xaxis={"type": "category"})
    return fig


def dwell(frame: pd.DataFrame) -> go.Figure:
    fig = _base(_("Time in store"))
    fig.add_bar(x=frame["label"], y=frame["visits"], marker_color=ENTRIES_COLOUR, name=_("visits"))
    fig.update_layout(xaxis={"type": "category", "title": _("dwell")}, yaxis={"title": _("visits")})
    return fig


def zones(frame: pd.DataFrame) -> go.Figure:
    """Visits per zone, mean dwell on hover, busiest first (zone names as the store wrote them)."""
    fig = _base(_("Zone visits"))
    fig.add_bar(y=frame["zone"], x=frame["visits"], orientation="h", customdata=frame["mean_dwell_s"],
                marker_color=VISITORS_COLOUR, name=_("visits"),
                hovertemplate="%{y}: %{x} · " + _("mean dwell") + " %{customdata:.0f} s<extra></extra>")
    fig.update_layout(yaxis={"autorange": "reversed", "type": "category", "automargin": True},
                      xaxis={"title": _("visits")})
    return fig


def _floor_size(values: np.ndarray, cell_m: float, floor_m: tuple[float, float]) -> tuple[float, float]:
    return floor_m[0] or values.shape[1] * cell_m, floor_m[1] or values.shape[0] * cell_m


def _plan(fig: go.Figure, image: str | None, size: tuple[float, float]) -> None:
    if image:
        fig.add_layout_image(source=image, xref="x", yref="y", x=0, y=0, sizex=size[0], sizey=size[1],
                             sizing="stretch", layer="below", xanchor="left", yanchor="top")
    # Both axes keep the floor's own range; the plot shrinks to the floor's aspect instead of showing
    # metres beyond the walls.
    fig.update_layout(xaxis={"range": [0, size[0]], "title": "m", "showgrid": False, "constrain": "domain"},
                      yaxis={"range": [size[1], 0], "showgrid": False, "scaleanchor": "x", "constrain": "domain"})


def floor_heatmap(values: np.ndarray, cell_m: float, floor_m: tuple[float, float], image: str | None, *,
                  title: str = "", subtitle: str = "", zmax: float | None = None, unit: str = "") -> go.Figure:
    """Heat cells drawn over the floor-plan image; metres on both axes, y growing downwards like the plan.

    `zmax` fixes the colour scale (0..zmax) so maps stay comparable across filters and periods."""
    size = _floor_size(values, cell_m, floor_m)
    fig = _base(title or _("Where visitors stood"), subtitle)
    shown = np.where(values > 0, values, np.nan)  # empty cells stay transparent so the plan shows through
    unit = unit or _("visits")
    fig.add_heatmap(z=shown, x0=cell_m / 2, dx=cell_m, y0=cell_m / 2, dy=cell_m, colorscale="YlOrRd", opacity=0.65,
                    zmin=0, zmax=zmax if zmax else None, zauto=not zmax,
                    colorbar={"title": {"text": unit, "side": "right"}, "thickness": 12},
                    hovertemplate="x %{x:.1f} m, y %{y:.1f} m: %{z:.3~g} " + unit + "<extra></extra>")
    _plan(fig, image, size)
    return fig


def heat_difference(diff: np.ndarray, cell_m: float, floor_m: tuple[float, float], image: str | None, *,
                    title: str, subtitle: str, limit: float, unit: str) -> go.Figure:
    """After minus before on a diverging scale centred on 0 (blue: fewer, red: more)."""
    size = _floor_size(diff, cell_m, floor_m)
    fig = _base(title, subtitle)
    shown = np.where(diff != 0, diff, np.nan)
    fig.add_heatmap(z=shown, x0=cell_m / 2, dx=cell_m, y0=cell_m / 2, dy=cell_m, colorscale="RdBu_r",
                    zmid=0, zmin=-limit, zmax=limit, opacity=0.75,
                    colorbar={"title": {"text": unit, "side": "right"}, "thickness": 12},
                    hovertemplate="x %{x:.1f} m, y %{y:.1f} m: %{z:+.3~g} " + unit + "<extra></extra>")
    _plan(fig, image, size)
    return fig


def rows_height(rows: int) -> int:
    """Height of a chart with one bar per store: every store name stays readable."""
    return max(360, 22 * rows + 170)


def ranking(table: pd.DataFrame, metric: str, label: str, subtitle: str = "") -> go.Figure:
    """Stores ranked on one normalised KPI, best at the top; demo stores hatched."""
    ranked = table.sort_values(metric, ascending=False)
    fig = _base(_("Ranking: {metric}").format(metric=label), subtitle)
    pattern = _patterns(ranked)
    extra = {"marker_pattern_shape": pattern, "marker_pattern_fgcolor": "#ffffff"} if pattern else {}
    fig.add_bar(y=ranked["store_id"], x=ranked[metric], orientation="h", marker_color=ENTRIES_COLOUR, name=label,
                customdata=ranked["name"], hovertemplate="%{customdata}: %{x:.2f}<extra></extra>", **extra)
    if pattern:
        _seeded_legend(fig)
    fig.update_layout(yaxis={"autorange": "reversed", "type": "category", "automargin": True},
                      height=rows_height(len(ranked)), showlegend=bool(pattern))
    return fig


def band_colours(n: int) -> list[str]:
    """Ordered bands get ordered colours (young light to old dark), readable as a sequence."""
    return sample_colorscale("Viridis_r", [0.08 + 0.84 * i / max(n - 1, 1) for i in range(n)])


def mix_by_store(frame: pd.DataFrame, order: Sequence[str], subtitle: str = "") -> go.Figure:
    """100% horizontal bars, one row per store in `order` (top first), one ordered colour per band."""
    fig = _base(_("Age mix by store"), subtitle)
    bands = list(dict.fromkeys(frame["band"]))
    for band, colour in zip(bands, band_colours(len(bands)), strict=True):
        part = frame[frame["band"] == band].set_index("store_id").reindex(order)
        fig.add_bar(y=list(order), x=part["share"] * 100, name=str(band), orientation="h", marker_color=colour,
                    hovertemplate="%{y} " + str(band) + ": %{x:.0f}%<extra></extra>")
    fig.update_layout(barmode="stack", xaxis={"title": "%", "range": [0, 100]},
                      yaxis={"type": "category", "autorange": "reversed", "automargin": True},
                      height=rows_height(len(order)),
                      margin={**fig.layout.margin.to_plotly_json(), "b": 90},
                      legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0,
                              "traceorder": "normal"})
    return fig


def trends(frame: pd.DataFrame, unit: str, subtitle: str = "") -> go.Figure:
    """Visitors per store over time, one line per store; `unit` is "week" (whole weeks) or "day"."""
    title = _("Weekly visitors") if unit == "week" else _("Daily visitors")
    if frame.empty:
        return empty(_("No visitor data in this date range."), title, subtitle)
    fig = _base(title, subtitle)
    for store_id, part in frame.groupby("store_id"):
        fig.add_scatter(x=part["period"], y=part["unique_visitors"], mode="lines+markers", name=str(store_id))
    fig.update_layout(xaxis=day_axis(frame["period"], weekday=unit == "day"), yaxis={"rangemode": "tozero"})
    return fig

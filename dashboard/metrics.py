"""Pure DataFrame transforms between the queries (data.py) and the figures (figures.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from storelens.agebands import band_edges, band_labels, rebin_histogram

VISITOR_COLUMNS = ["entries", "unique_visitors"]


def _local(windows: pd.DataFrame, tz: str) -> pd.Series:
    return windows["window_start"].dt.tz_convert(tz)


def by_hour(windows: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Entries and unique visitors per local hour of day (0..23), summed over the period."""
    out = pd.DataFrame({"hour": range(24)})
    if windows.empty:
        return out.assign(entries=0, unique_visitors=0)
    summed = windows.groupby(_local(windows, tz).dt.hour.rename("hour"))[VISITOR_COLUMNS].sum()
    return out.join(summed, on="hour").fillna(0).astype("int64")


def by_day(windows: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Entries and unique visitors per local calendar day."""
    if windows.empty:
        return pd.DataFrame({"day": pd.Series(dtype="object"), "entries": [], "unique_visitors": []})
    days = _local(windows, tz).dt.date.rename("day")
    return windows.groupby(days)[VISITOR_COLUMNS].sum().reset_index()


def kpis(windows: pd.DataFrame) -> dict[str, float]:
    """Headline numbers of a period: totals and the shares derived from them."""
    total = {c: int(windows[c].sum()) if not windows.empty else 0
             for c in ("entries", "exits", "unique_visitors", "visitors_with_age", "family_visits", "group_visits")}
    visitors = total["unique_visitors"]
    total["coverage"] = total["visitors_with_age"] / visitors if visitors else 0.0
    total["family_share"] = total["family_visits"] / visitors if visitors else 0.0
    return total


def change(current: float, previous: float) -> float | None:
    """Relative change against the previous period; None when there is nothing to compare with."""
    return (current - previous) / previous if previous else None


def parse_custom_bands(text: str) -> tuple[int, ...]:
    """'0, 18, 25, 40' -> (0, 18, 25, 40); ValueError names what is wrong."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"custom bands {text!r}: use whole years separated by commas, e.g. 0,18,25,40") from None
    return band_edges(values)


def band_mix(histogram: Sequence[int] | np.ndarray, spec: str | Sequence[int]) -> pd.DataFrame:
    """Visitors and share per age band for a 91-bin histogram."""
    edges = band_edges(spec)
    counts = rebin_histogram(np.asarray(histogram, dtype=np.int64), edges)
    total = counts.sum()
    share = counts / total if total else np.zeros(len(counts))
    return pd.DataFrame({"band": band_labels(edges), "visitors": counts, "share": share})


def mix_by_store(histograms: pd.DataFrame, spec: str | Sequence[int]) -> pd.DataFrame:
    """Long frame store_id, band, share for stacked 100% bars."""
    parts = []
    for store_id, row in histograms.iterrows():
        mix = band_mix(row.to_numpy(), spec)
        mix.insert(0, "store_id", store_id)
        parts.append(mix)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["store_id", "band", "visitors",
                                                                                   "share"])


def compare_table(stores: pd.DataFrame, totals: pd.DataFrame, days: float) -> pd.DataFrame:
    """Per-store KPIs normalised by opening hours and floor area, ranked by visitors per opening hour.

    `totals` has one or more rows per store (windows or daily totals); they are summed."""
    sums = totals.groupby("store_id")[["entries", "unique_visitors", "visitors_with_age", "family_visits"]].sum()
    table = stores.set_index("store_id")[["name", "area_m2", "opening_hours_per_week"]].join(sums, how="left")
    table = table.fillna({c: 0 for c in sums.columns})
    open_hours = table["opening_hours_per_week"] * days / 7.0
    table["visitors_per_open_hour"] = _ratio(table["unique_visitors"], open_hours)
    table["visitors_per_m2"] = _ratio(table["unique_visitors"], table["area_m2"])
    table["coverage"] = _ratio(table["visitors_with_age"], table["unique_visitors"])
    table["family_share"] = _ratio(table["family_visits"], table["unique_visitors"])
    table = table.sort_values("visitors_per_open_hour", ascending=False)
    table["rank"] = range(1, len(table) + 1)
    return table.reset_index()


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den.where(den > 0)).fillna(0.0)


def weekly_trend(daily: pd.DataFrame) -> pd.DataFrame:
    """Unique visitors per store per week (weeks start on Monday), from daily totals."""
    if daily.empty:
        return pd.DataFrame(columns=["store_id", "week", "unique_visitors"])
    week = pd.to_datetime(daily["day"]).dt.to_period("W-SUN").dt.start_time.rename("week")
    return daily.groupby(["store_id", week])["unique_visitors"].sum().reset_index()


CSV_COLUMNS = ["rank", "store_id", "name", "unique_visitors", "entries", "visitors_per_open_hour",
               "visitors_per_m2", "coverage", "family_share", "area_m2", "opening_hours_per_week"]


def compare_csv(table: pd.DataFrame) -> str:
    """The comparison table exactly as shown, as CSV text."""
    return table[CSV_COLUMNS].to_csv(index=False, float_format="%.4f")

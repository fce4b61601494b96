"""Pure DataFrame transforms between the queries (data.py) and the figures (figures.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from storelens.agebands import band_edges, band_labels, rebin_histogram
from storelens.wire import AGE_BINS

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
    """Entries and unique visitors per local calendar day; `seeded` when any of its windows is demo data."""
    if windows.empty:
        return pd.DataFrame({"day": pd.Series(dtype="object"), "entries": [], "unique_visitors": [],
                             "seeded": pd.Series(dtype="bool")})
    days = _local(windows, tz).dt.date.rename("day")
    summed = windows.groupby(days)[VISITOR_COLUMNS].sum()
    seeded = windows["seeded"] if "seeded" in windows else pd.Series(False, index=windows.index)
    summed["seeded"] = seeded.astype(bool).groupby(days).any()
    return summed.reset_index()


def seeded_days(windows: pd.DataFrame, tz: str) -> tuple[int, int]:
    """(days with demo data, days with any data) of a windows frame."""
    if windows.empty:
        return 0, 0
    days = _local(windows, tz).dt.date
    if "seeded" not in windows:
        return 0, int(days.nunique())
    return int(days[windows["seeded"].astype(bool)].nunique()), int(days.nunique())


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


def full_weeks(first: date, last: date) -> tuple[date, date] | None:
    """First Monday and last Sunday of the whole Monday-Sunday weeks inside first..last, or None."""
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    sunday = last - timedelta(days=(last.weekday() + 1) % 7)
    return (monday, sunday) if sunday - monday >= timedelta(days=6) else None


def trend(daily: pd.DataFrame, first: date, last: date) -> tuple[pd.DataFrame, str, list[tuple[date, date]]]:
    """Visitors per store over time without partial periods: ("week", whole weeks only) when the range
    holds two whole weeks or more, else ("day", every day). Also the partial stretches left out."""
    weeks = full_weeks(first, last)
    if weeks is None or (weeks[1] - weeks[0]).days < 13:
        frame = daily[["store_id", "day", "unique_visitors"]].rename(columns={"day": "period"})
        return frame.assign(period=pd.to_datetime(frame["period"])), "day", []
    inside = daily[(daily["day"] >= weeks[0]) & (daily["day"] <= weeks[1])]
    frame = weekly_trend(inside).rename(columns={"week": "period"})
    left_out = [(a, b) for a, b in ((first, weeks[0] - timedelta(days=1)), (weeks[1] + timedelta(days=1), last))
                if a <= b]
    return frame, "week", left_out


def mean_age(histograms: pd.DataFrame) -> pd.Series:
    """Mean age per store from 1-year histograms (90+ counted as 90)."""
    counts = histograms.to_numpy(dtype=float)
    total = counts.sum(axis=1)
    ages = np.arange(counts.shape[1], dtype=float)
    return pd.Series(np.where(total > 0, counts @ ages / np.where(total > 0, total, 1), np.nan),
                     index=histograms.index)


def zone_change(before: pd.DataFrame, after: pd.DataFrame, days_before: int, days_after: int) -> pd.DataFrame:
    """Zone visits (total and per day) and mean dwell in two periods, with the change between them.

    Visits are compared per day with data, so periods of different length compare fairly."""
    cols = ["zone", "visits", "mean_dwell_s"]
    a = (before[cols] if not before.empty else pd.DataFrame(columns=cols)).set_index("zone")
    b = (after[cols] if not after.empty else pd.DataFrame(columns=cols)).set_index("zone")
    table = a.add_suffix("_a").join(b.add_suffix("_b"), how="outer")
    for c in ("visits_a", "visits_b"):
        table[c] = table[c].fillna(0).astype("int64")
    table["per_day_a"] = table["visits_a"] / days_before if days_before else 0.0
    table["per_day_b"] = table["visits_b"] / days_after if days_after else 0.0
    table["visits_change"] = _relative(table["per_day_b"], table["per_day_a"])
    table["dwell_change_s"] = table["mean_dwell_s_b"] - table["mean_dwell_s_a"]
    return table.sort_values(["per_day_b", "per_day_a"], ascending=False).reset_index()


def _relative(now: pd.Series, before: pd.Series) -> pd.Series:
    return ((now - before) / before.where(before > 0)).astype(float)


def parse_band(label: str) -> tuple[int, int]:
    """'18-21' -> (18, 21), '66+' -> (66, 90), '5' -> (5, 5): a band label as inclusive years."""
    text = label.strip()
    if text.endswith("+"):
        return int(text[:-1]), AGE_BINS - 1
    lo, _sep, hi = text.partition("-")
    return int(lo), int(hi or lo)


def covering_bands(wanted: str, recorded: Sequence[str]) -> tuple[list[str], tuple[int, int] | None]:
    """The recorded heatmap bands that overlap the wanted band, and the ages they cover together.

    Heat is stored per recorded band (the edge's banding), so a band that does not line up with
    them is shown as the nearest union; the caller says so when the span differs from the wish."""
    lo, hi = parse_band(wanted)
    parsed = []
    for label in recorded:
        try:
            parsed.append((label, *parse_band(label)))
        except ValueError:
            continue  # a label that is not an age band is never part of an age filter
    chosen = [(label, a, b) for label, a, b in parsed if a <= hi and b >= lo]
    if not chosen:
        return [], None
    return [c[0] for c in chosen], (min(c[1] for c in chosen), max(c[2] for c in chosen))


CSV_COLUMNS = ["rank", "store_id", "name", "unique_visitors", "entries", "visitors_per_open_hour",
               "visitors_per_m2", "coverage", "family_share", "area_m2", "opening_hours_per_week"]


def compare_csv(table: pd.DataFrame) -> str:
    """The comparison table exactly as shown, as CSV text (with the demo mark where the page shows it)."""
    columns = [*CSV_COLUMNS, *(["seeded"] if "seeded" in table else [])]
    return table[columns].to_csv(index=False, float_format="%.4f")

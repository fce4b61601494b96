"""Conversion: POS transactions / entries, per store-local hour and day. Pure DataFrame transforms.

Only hours that have a POS row count: a day's conversion is its transactions over the entries of
the hours the till reported, so a POS export covering 9-18 h is not diluted by the entries counted
before opening. `entries_with_pos` says which entries those were; `entries` is every entry.
An hour with a POS row but no entries (camera down) has no conversion (NaN), never infinity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HOURLY_COLUMNS = ["store_id", "period_start", "entries", "entries_with_pos", "transactions", "conversion",
                  "revenue", "currency"]


def local_hour_start(moments: pd.Series, tz: str) -> pd.Series:
    """UTC start of the store-local hour each moment falls in (DST-safe, and right for +05:30 zones)."""
    local = moments.dt.tz_convert(tz)
    offset = pd.to_timedelta(local.dt.minute, unit="m") + pd.to_timedelta(local.dt.second, unit="s")
    return (moments - offset).dt.floor("s")


def entries_by_hour(windows: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Entries per store and store-local hour (all cameras summed), hour_start in UTC."""
    if windows.empty:
        return pd.DataFrame({"store_id": pd.Series(dtype=str), "hour_start": pd.Series(dtype="datetime64[ns, UTC]"),
                             "entries": pd.Series(dtype="int64")})
    hours = local_hour_start(windows["window_start"], tz).rename("hour_start")
    return windows.groupby([windows["store_id"], hours])["entries"].sum().reset_index()


def hourly(windows: pd.DataFrame, pos: pd.DataFrame, tz: str) -> pd.DataFrame:
    """One row per store-local hour that has entries or a POS row, with conversion where both exist."""
    entries = entries_by_hour(windows, tz)
    sales = pos[["store_id", "hour_start", "transactions", "revenue", "currency"]].assign(has_pos=True)
    entries["hour_start"] = entries["hour_start"].astype("datetime64[ns, UTC]")  # one resolution to join on
    sales["hour_start"] = sales["hour_start"].astype("datetime64[ns, UTC]")
    frame = entries.merge(sales, on=["store_id", "hour_start"], how="outer")
    frame["entries"] = frame["entries"].fillna(0).astype("int64")
    frame["has_pos"] = frame["has_pos"].eq(True)
    frame["entries_with_pos"] = frame["entries"].where(frame["has_pos"], 0)
    frame["transactions"] = frame["transactions"].fillna(0).astype("int64")
    frame["conversion"] = _ratio(frame["transactions"], frame["entries_with_pos"], frame["has_pos"])
    frame["period_start"] = frame["hour_start"].dt.tz_convert(tz)
    return frame.sort_values(["store_id", "hour_start"], ignore_index=True)


def daily(hours: pd.DataFrame, tz: str) -> pd.DataFrame:
    """The hourly frame summed per store-local day; revenue only where the day has one currency."""
    if hours.empty:
        return pd.DataFrame(columns=[*HOURLY_COLUMNS, "pos_hours"])
    local_day = hours["hour_start"].dt.tz_convert(tz).dt.date.rename("period_start")  # a date: DST-proof
    grouped = hours.groupby([hours["store_id"], local_day])
    out = grouped.agg(entries=("entries", "sum"), entries_with_pos=("entries_with_pos", "sum"),
                      transactions=("transactions", "sum"), pos_hours=("has_pos", "sum"),
                      revenue=("revenue", lambda r: r.sum(min_count=1)),
                      currencies=("currency", lambda c: sorted(set(c.dropna()))))
    out = out.reset_index()
    out["currency"] = [cs[0] if len(cs) == 1 else None for cs in out["currencies"]]
    out.loc[out["currencies"].map(len) > 1, "revenue"] = np.nan  # never add euros to pounds
    out["conversion"] = _ratio(out["transactions"], out["entries_with_pos"], out["pos_hours"] > 0)
    return out.drop(columns="currencies")


def by_hour_of_day(hours: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Conversion per local hour of day (0..23) over the period, from hours with POS data."""
    out = pd.DataFrame({"hour": range(24)})
    if hours.empty:
        return out.assign(entries_with_pos=0, transactions=0, conversion=np.nan)
    with_pos = hours[hours["has_pos"]]
    hour = with_pos["hour_start"].dt.tz_convert(tz).dt.hour.rename("hour")
    summed = with_pos.groupby(hour)[["entries_with_pos", "transactions"]].sum()
    out = out.join(summed, on="hour").fillna({"entries_with_pos": 0, "transactions": 0})
    out["conversion"] = _ratio(out["transactions"], out["entries_with_pos"], out["transactions"].notna())
    return out


def totals(hours: pd.DataFrame) -> dict:
    """Headline numbers of a period: transactions over the entries of hours with POS data."""
    if hours.empty:
        return {"transactions": 0, "entries_with_pos": 0, "pos_hours": 0, "conversion": None}
    transactions = int(hours["transactions"].sum())
    entries = int(hours["entries_with_pos"].sum())
    pos_hours = int(hours["has_pos"].sum())
    return {"transactions": transactions, "entries_with_pos": entries, "pos_hours": pos_hours,
            "conversion": transactions / entries if entries else None}


def _ratio(num: pd.Series, den: pd.Series, valid: pd.Series) -> pd.Series:
    return (num / den.where((den > 0) & valid)).astype("float64")

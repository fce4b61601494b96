"""The API's tables, from the same queries the pages use (dashboard.data) and the same transforms.

Every function takes the asking Principal; dashboard.data filters by it in SQL, so the API and the
pages decide access in one place. Hours are store-local hours (ISO-8601 with the UTC offset of that
hour, so the two 01:00 hours of an autumn DST change are two rows); days are store-local dates.
Periods without any window are left out: no data is not zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from dashboard import data, metrics
from dashboard.api.schema import AgeRow, ConversionRow, CountRow, ZoneRow
from dashboard.auth import Principal
from dashboard.sales import conversion

SUMMED = ("entries", "exits", "unique_visitors", "visitors_with_age", "family_visits", "group_visits")
PEAK = ("occupancy_max",)


def _period_key(utc: pd.Series, tz: str, resolution: str) -> pd.Series:
    if resolution == "hour":
        return conversion.local_hour_start(utc, tz)
    return utc.dt.tz_convert(tz).dt.date


def _label(value, tz: str, resolution: str) -> str:
    return value.tz_convert(tz).isoformat() if resolution == "hour" else value.isoformat()


def counts(engine, principal: Principal, store_id: str, tz: str, period: data.Period, resolution: str,
           seeded: bool = True) -> list[CountRow]:
    frame = data.windows(engine, principal, [store_id], period, seeded=seeded)
    if frame.empty:
        return []
    key = _period_key(frame["window_start"], tz, resolution).rename("period")
    grouped = frame.groupby(key)
    summed = grouped[list(SUMMED)].sum().join(grouped[list(PEAK)].max())
    return [CountRow(store_id=store_id, period_start=_label(moment, tz, resolution),
                     **{c: int(row[c]) for c in (*SUMMED, *PEAK)})
            for moment, row in summed.sort_index().iterrows()]


def age(engine, principal: Principal, store_id: str, period: data.Period, spec: str | Sequence[int],
        seeded: bool = True) -> list[AgeRow]:
    hist = data.age_histograms(engine, principal, [store_id], period, seeded=seeded)
    if hist.empty:
        return []
    mix = metrics.band_mix(hist.iloc[0].to_numpy(), spec)
    return [AgeRow(store_id=store_id, band=r.band, visitors=int(r.visitors), share=round(float(r.share), 6))
            for r in mix.itertuples()]


def zones(engine, principal: Principal, store_id: str, period: data.Period, seeded: bool = True) -> list[ZoneRow]:
    frame = data.zone_visits(engine, principal, store_id, period, seeded=seeded)
    return [ZoneRow(store_id=store_id, zone=str(r.zone), visits=int(r.visits), mean_dwell_s=round(float(r.mean_dwell_s), 3))
            for r in frame.itertuples()]


def conversion_frame(engine, principal: Principal, store_id: str, tz: str, period: data.Period, resolution: str,
                     seeded: bool = True) -> pd.DataFrame:
    """Hourly or daily conversion rows of one store (the store page's card uses the same frame)."""
    windows = data.windows(engine, principal, [store_id], period, seeded=seeded)
    pos = data.pos_hours(engine, principal, [store_id], period)
    hours = conversion.hourly(windows, pos, tz)
    return hours if resolution == "hour" else conversion.daily(hours, tz)


def conversion_rows(frame: pd.DataFrame, tz: str, resolution: str) -> list[ConversionRow]:
    rows = []
    for r in frame.to_dict("records"):
        when = r["hour_start"] if resolution == "hour" else r["period_start"]
        rows.append(ConversionRow(
            store_id=r["store_id"], period_start=_label(when, tz, resolution), entries=int(r["entries"]),
            entries_with_pos=int(r["entries_with_pos"]), transactions=int(r["transactions"]),
            conversion=_number(r["conversion"], 6), revenue=_number(r["revenue"], 4),
            currency=r["currency"] if isinstance(r["currency"], str) else None))
    return rows


def _number(value, digits: int) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), digits)

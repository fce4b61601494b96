"""Queries -> DataFrames. Every function takes the asking `Principal` and filters in SQL.

Access is decided here and nowhere else: a store the principal may not see is dropped from the
query itself, so a forged callback or an edited URL returns empty frames, never another store's
rows. Times are timezone-aware UTC (sqlmodel's UTCDateTime); store-local time is derived in pandas.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import DateTime, Text, cast, func, select, type_coerce
from sqlalchemy.engine import Engine

from cloud_sync.db.models import AggregateRecord, Device, HealthRecord, PosHour, Store
from dashboard import heatgrid
from dashboard.auth import Principal
from storelens.wire import AGE_BINS, COUNT_FIELDS, DWELL_EDGES_S, MAX_HEAT_SIDE_CELLS

log = logging.getLogger(__name__)

A = AggregateRecord.__table__.c
S = Store.__table__.c
COUNT_COLUMNS = COUNT_FIELDS
STORE_COLUMNS = ("store_id", "name", "timezone", "area_m2", "opening_hours_per_week", "floor_width_m",
                 "floor_height_m", "seeded")


@dataclass(frozen=True)
class Period:
    """A half-open interval [start, end) of aware UTC datetimes."""

    start: datetime
    end: datetime

    @classmethod
    def local_days(cls, first: date, last: date, tz: str) -> Period:
        """Whole local days first..last (inclusive) in time zone `tz`, as UTC."""
        zone = ZoneInfo(tz)
        start = datetime.combine(first, time.min, zone)
        end = datetime.combine(last + timedelta(days=1), time.min, zone)
        return cls(start.astimezone(UTC), end.astimezone(UTC))

    def previous(self) -> Period:
        """The period of the same length just before this one (for comparisons)."""
        return Period(self.start - (self.end - self.start), self.start)


def visible_store_ids(engine: Engine, principal: Principal, wanted: Iterable[str] | None = None) -> list[str]:
    """The stores this principal may see, optionally narrowed to `wanted`; the basis of every query."""
    query = select(S.store_id).order_by(S.store_id)
    if not principal.all_stores:
        query = query.where(S.store_id.in_(principal.store_ids))
    if wanted is not None:
        query = query.where(S.store_id.in_(list(wanted)))
    with engine.connect() as conn:
        ids = list(conn.scalars(query))
    if wanted is not None and len(ids) < len(set(wanted)):
        log.warning("user %s asked for stores outside their access: %s", principal.username,
                    sorted(set(wanted) - set(ids)))
    return ids


def stores(engine: Engine, principal: Principal, wanted: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per visible store with its size and opening hours (no floor-plan image)."""
    ids = visible_store_ids(engine, principal, wanted)
    query = select(*(S[c] for c in STORE_COLUMNS)).where(S.store_id.in_(ids)).order_by(S.store_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame.from_records(rows, columns=list(STORE_COLUMNS))


def floorplan(engine: Engine, principal: Principal, store_id: str) -> str | None:
    """The store's floor-plan image (data: URI), or None when absent or not visible."""
    if not visible_store_ids(engine, principal, [store_id]):
        return None
    with engine.connect() as conn:
        return conn.scalar(select(S.floorplan_png).where(S.store_id == store_id))


def _utc(column):
    """The column as a plain DateTime: skips sqlmodel's per-row Python conversion (pandas does it in bulk)."""
    return type_coerce(column, DateTime()).label(column.name)


def _in_period(engine: Engine, principal: Principal, store_ids: Sequence[str], period: Period,
               seeded: bool = True) -> tuple:
    """The WHERE clauses of every window query: stores the principal may see, starts in [start, end);
    seeded=False leaves out synthetic (seeded) rows."""
    ids = visible_store_ids(engine, principal, store_ids)
    where = (A.store_id.in_(ids), A.window_start >= period.start, A.window_start < period.end)
    return where if seeded else (*where, A.seeded.is_(False))


def windows(engine: Engine, principal: Principal, store_ids: Sequence[str], period: Period, *,
            seeded: bool = True) -> pd.DataFrame:
    """Scalar counts of every aggregate window in the period, one row per (camera, window), with its
    `seeded` mark."""
    cols = ["store_id", "camera_id", "window_start", "seeded", *COUNT_COLUMNS]
    query = (select(A.store_id, A.camera_id, _utc(A.window_start), A.seeded, *(A[c] for c in COUNT_COLUMNS))
             .where(*_in_period(engine, principal, store_ids, period, seeded))
             .order_by(A.window_start))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame.from_records(rows, columns=cols)
    frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True)  # naive values are UTC
    frame["seeded"] = frame["seeded"].astype(bool)
    return frame


DAILY_COLUMNS = ("entries", "unique_visitors", "visitors_with_age", "family_visits")


def daily_totals(engine: Engine, principal: Principal, store_ids: Sequence[str], period: Period, *,
                 seeded: bool = True) -> pd.DataFrame:
    """Per store and UTC day, summed in SQL (the fleet-wide pages stay fast over months of windows)."""
    day = func.date(A.window_start).label("day")
    query = (select(A.store_id, day, *(func.sum(A[c]).label(c) for c in DAILY_COLUMNS))
             .where(*_in_period(engine, principal, store_ids, period, seeded))
             .group_by(A.store_id, day).order_by(A.store_id, day))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame.from_records(rows, columns=["store_id", "day", *DAILY_COLUMNS])
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def _json_rows(engine: Engine, principal: Principal, store_ids: Sequence[str], period: Period, column: str,
               seeded: bool = True):
    query = select(A.store_id, A.window_start, A[column]).where(
        *_in_period(engine, principal, store_ids, period, seeded))
    with engine.connect() as conn:
        return conn.execute(query).all()


def age_histograms(engine: Engine, principal: Principal, store_ids: Sequence[str], period: Period, *,
                   seeded: bool = True) -> pd.DataFrame:
    """Summed 1-year age histogram per store: index store_id, columns 0..90 (90 means 90+)."""
    query = select(A.store_id, cast(A.age_histogram, Text)).where(
        *_in_period(engine, principal, store_ids, period, seeded))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return pd.DataFrame(columns=range(AGE_BINS), dtype="int64")
    frame = pd.DataFrame(_parse_histograms([r[1] for r in rows]), columns=range(AGE_BINS))
    frame.insert(0, "store_id", [r[0] for r in rows])
    return frame.groupby("store_id").sum()


def _parse_histograms(texts: list[str]) -> np.ndarray:
    """JSON arrays of 91 counts -> (n, 91) array. One C-level parse for all rows (per-row json.loads
    dominated the compare page); rows of another length (never valid on the wire) count as zeros."""
    flat = np.fromstring(",".join(texts).replace("[", "").replace("]", ""), dtype=np.int64, sep=",")
    if flat.size == len(texts) * AGE_BINS:
        return flat.reshape(-1, AGE_BINS)
    parsed = [json.loads(t) for t in texts]
    return np.array([p if len(p) == AGE_BINS else [0] * AGE_BINS for p in parsed], dtype=np.int64)


def dwell_histogram(engine: Engine, principal: Principal, store_id: str, period: Period, *,
                    seeded: bool = True) -> pd.DataFrame:
    """Visits per dwell-time bin: columns edge_s (lower bound), label, visits."""
    rows = _json_rows(engine, principal, [store_id], period, "dwell_seconds_histogram", seeded)
    edges = list(DWELL_EDGES_S)
    totals = np.zeros(len(edges), dtype=np.int64)
    for _sid, _start, hist in rows:
        if list(hist.get("edges_s", [])) == edges:
            totals += np.asarray(hist["counts"], dtype=np.int64)
    labels = [f"{_fmt_s(lo)}-{_fmt_s(hi)}" for lo, hi in zip(edges, edges[1:], strict=False)]
    labels.append(f"{_fmt_s(edges[-1])}+")
    return pd.DataFrame({"edge_s": edges, "label": labels, "visits": totals})


def _fmt_s(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds >= 60 else f"{seconds}s"


def zone_visits(engine: Engine, principal: Principal, store_id: str, period: Period, *,
                seeded: bool = True) -> pd.DataFrame:
    """Visits and visit-weighted mean dwell per zone over the period."""
    rows = _json_rows(engine, principal, [store_id], period, "zone_visits", seeded)
    records = [(zone, s.get("visits", 0), s.get("mean_dwell_s", 0.0))
               for _sid, _start, zones in rows for zone, s in zones.items()]
    frame = pd.DataFrame.from_records(records, columns=["zone", "visits", "mean_dwell_s"])
    if frame.empty:
        return frame
    frame["dwell_total"] = frame["visits"] * frame["mean_dwell_s"]
    out = frame.groupby("zone", as_index=False)[["visits", "dwell_total"]].sum()
    out["mean_dwell_s"] = (out["dwell_total"] / out["visits"].where(out["visits"] > 0)).fillna(0.0)
    return out.drop(columns="dwell_total").sort_values("visits", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class HeatGrid:
    """Summed heatmap counts on the floor grid (rows x cols), plus the bands seen in the period.

    `counts` holds the chosen band and hours; `total` all visitors at all hours of the same period,
    so a colour scale fixed on it stays put while the filter changes. `days`: local days with data."""

    counts: np.ndarray
    cell_m: float
    bands: tuple[str, ...]
    total: np.ndarray | None = None
    days: int = 0
    skipped: int = 0


def heatmap(engine: Engine, principal: Principal, store_id: str, period: Period, *,
            band: str | Sequence[str] | Callable[[tuple[str, ...]], Sequence[str] | None] | None = None, hours: tuple[int, int] = (0, 24), tz: str = "UTC",
            seeded: bool = True) -> HeatGrid:
    """Floor heatmap summed over windows whose local start hour is in [hours[0], hours[1]).

    `band` is one recorded band label or several (summed: a wider band made of recorded ones), or a
    function from the bands recorded in the period to those."""
    with_bands = band is not None
    rows = _heat_rows(engine, principal, store_id, period, seeded, with_bands)
    zone = ZoneInfo(tz)
    local = [(as_utc(start).astimezone(zone), h) for start, h in rows]
    days = len({start.date() for start, _h in local})
    maps = [h for _start, h in local]
    recorded = tuple(sorted({b for h in maps for b in (h.get("by_band") or {})}))
    if callable(band):  # a band chosen in terms of the bands recorded in this period
        band = band(recorded)
    wanted = None if band is None else ([band] if isinstance(band, str) else band)
    summed = heatgrid.sum_maps(maps, wanted, [hours[0] <= start.hour < hours[1] for start, _h in local])
    if summed.skipped:
        log.warning("heatmap of %s: left out %d of %d windows whose grid exceeds %dx%d cells or whose cells "
                    "are malformed (stored before the wire bounds?)", store_id, summed.skipped, len(rows),
                    MAX_HEAT_SIDE_CELLS, MAX_HEAT_SIDE_CELLS)
    return HeatGrid(summed.counts, summed.cell_m, recorded, summed.total, days, summed.skipped)


def _heat_rows(engine: Engine, principal: Principal, store_id: str, period: Period, seeded: bool,
               with_bands: bool) -> list[tuple[datetime, dict]]:
    """Each window's heatmap, parsed by the database down to the parts needed (the per-band lists
    are about half of every heatmap and are read only when a band is chosen)."""
    h = A.heatmap
    parts = ("width_cells", "height_cells", "cell_m", "cells", *(("by_band",) if with_bands else ()))
    query = select(A.window_start, *(h[p] for p in parts)).where(
        *_in_period(engine, principal, [store_id], period, seeded))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(r[0], {p: v for p, v in zip(parts, r[1:], strict=True) if v is not None}) for r in rows]


def as_utc(moment: datetime) -> datetime:
    """SQLite may hand back naive values for rows written outside sqlmodel; they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def latest_window(engine: Engine, principal: Principal, store_ids: Sequence[str], *,
                  seeded: bool = True) -> datetime | None:
    """Start of the most recent window among the visible stores (to pick a default date range)."""
    ids = visible_store_ids(engine, principal, store_ids)
    where = [A.store_id.in_(ids)] if seeded else [A.store_id.in_(ids), A.seeded.is_(False)]
    with engine.connect() as conn:
        return conn.scalar(select(func.max(A.window_start)).where(*where))


def has_seeded(engine: Engine, principal: Principal, store_ids: Sequence[str] | None = None) -> bool:
    """Whether any visible store, or any window of one, is synthetic demo data (shows the demo toggle)."""
    ids = visible_store_ids(engine, principal, store_ids)
    with engine.connect() as conn:
        store = conn.scalar(select(S.store_id).where(S.store_id.in_(ids), S.seeded.is_(True)).limit(1))
        window = store or conn.scalar(select(A.id).where(A.store_id.in_(ids), A.seeded.is_(True)).limit(1))
    return window is not None


@dataclass(frozen=True)
class SoFar:
    """Sums over [start, end) of one store: today so far, or the same hours a week earlier."""

    start: datetime
    end: datetime
    entries: int
    unique_visitors: int
    windows: int


def so_far(engine: Engine, principal: Principal, store_id: str, period: Period, *, seeded: bool = True) -> SoFar:
    """Entries and unique visitors in the period, summed in SQL (cheap enough to poll every minute)."""
    query = (select(func.coalesce(func.sum(A.entries), 0), func.coalesce(func.sum(A.unique_visitors), 0),
                    func.count(A.id))
             .where(*_in_period(engine, principal, [store_id], period, seeded)))
    with engine.connect() as conn:
        entries, visitors, count = conn.execute(query).one()
    return SoFar(period.start, period.end, int(entries), int(visitors), int(count))


@dataclass(frozen=True)
class Occupancy:
    """People in view in the newest window of the period (summed over cameras), and the period's peak."""

    latest: int
    latest_start: datetime | None
    latest_end: datetime | None
    peak: int


def occupancy(engine: Engine, principal: Principal, store_id: str, period: Period, *,
              seeded: bool = True) -> Occupancy:
    where = _in_period(engine, principal, [store_id], period, seeded)
    newest = select(func.max(A.window_start)).where(*where).scalar_subquery()
    with engine.connect() as conn:
        latest = conn.execute(select(func.coalesce(func.sum(A.occupancy_max), 0), func.max(A.window_start),
                                     func.max(A.window_end)).where(*where, A.window_start == newest)).one()
        peak = conn.scalar(select(func.coalesce(func.max(A.occupancy_max), 0)).where(*where))
    start, end = (as_utc(v) if v is not None else None for v in latest[1:])
    return Occupancy(int(latest[0]), start, end, int(peak or 0))


def newest_end(engine: Engine, principal: Principal, store_id: str, period: Period, *,
               seeded: bool = True) -> datetime | None:
    """End of the newest window that started in the period: how far today's data reaches."""
    with engine.connect() as conn:
        value = conn.scalar(select(func.max(A.window_end))
                            .where(*_in_period(engine, principal, [store_id], period, seeded)))
    return as_utc(value) if value is not None else None


LOCAL_DAILY_COLUMNS = DAILY_COLUMNS


def local_daily_totals(engine: Engine, principal: Principal, store_ids: Sequence[str], first: date, last: date,
                       *, seeded: bool = True) -> pd.DataFrame:
    """Per store and *store-local* day first..last: each store's own days, whatever its time zone.

    Summed in SQL by local date: within a stretch of days with one UTC offset the local date is
    date(window_start + offset); a day on which the offset changes (DST) is summed by its own UTC
    bounds. A few queries per time zone, however many months are asked for."""
    known = stores(engine, principal, store_ids)
    parts = []
    for tz, group in known.groupby("timezone"):
        ids = list(group["store_id"])
        for period, offset, day in offset_stretches(first, last, tz):
            parts.append(_local_day_sums(engine, principal, ids, period, seeded, offset, day))
    return _sum_local_days(parts)


def offset_stretches(first: date, last: date, tz: str) -> list[tuple[Period, int | None, date | None]]:
    """Local days first..last as (UTC period, offset in minutes, None) runs of 24-hour days with one
    offset, and (UTC period, None, day) for each day whose offset changes (23 or 25 hours)."""
    zone = ZoneInfo(tz)
    out: list[tuple[Period, int | None, date | None]] = []
    day = first
    while day <= last:
        period = Period.local_days(day, day, tz)
        if period.end - period.start != timedelta(days=1):
            out.append((period, None, day))
        else:
            offset = int(datetime.combine(day, time.min, zone).utcoffset().total_seconds() // 60)
            previous = out[-1] if out else None
            if previous is not None and previous[1] == offset:
                out[-1] = (Period(previous[0].start, period.end), offset, None)
            else:
                out.append((period, offset, None))
        day += timedelta(days=1)
    return out


def _local_date(engine: Engine, offset_minutes: int):
    if engine.dialect.name == "sqlite":
        return func.date(A.window_start, f"{offset_minutes:+d} minutes")
    return func.date(func.timezone("UTC", A.window_start) + timedelta(minutes=offset_minutes))


def _local_day_sums(engine: Engine, principal: Principal, ids: list[str], period: Period, seeded: bool,
                    offset: int | None, day: date | None) -> pd.DataFrame:
    local = _local_date(engine, offset).label("day") if offset is not None else None
    keys = [A.store_id, A.seeded, *([local] if local is not None else [])]
    query = (select(*keys, *(func.sum(A[c]).label(c) for c in LOCAL_DAILY_COLUMNS))
             .where(*_in_period(engine, principal, ids, period, seeded)).group_by(*keys))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    columns = ["store_id", "seeded", *(["day"] if local is not None else []), *LOCAL_DAILY_COLUMNS]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    if local is None:
        frame.insert(2, "day", day)
    elif len(frame):
        frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame


def _sum_local_days(parts: list[pd.DataFrame]) -> pd.DataFrame:
    columns = ["store_id", "day", "seeded", *LOCAL_DAILY_COLUMNS]
    frames = [p for p in parts if not p.empty]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object" if c in ("store_id", "day") else "int64") for c in columns})
    frame = pd.concat(frames, ignore_index=True)
    frame["seeded"] = frame["seeded"].astype(bool)
    summed = frame.groupby(["store_id", "day"], as_index=False).agg(
        {"seeded": "any", **{c: "sum" for c in LOCAL_DAILY_COLUMNS}})
    return summed[columns].sort_values(["store_id", "day"], ignore_index=True)


def devices(engine: Engine, principal: Principal) -> pd.DataFrame:
    """One row per camera of every visible device (devices without heartbeat get one row)."""
    ids = visible_store_ids(engine, principal)
    with engine.connect() as conn:
        registered = conn.execute(select(Device.__table__.c.device_id, Device.__table__.c.store_id)
                                  .where(Device.__table__.c.store_id.in_(ids))).all()
        health = conn.execute(select(HealthRecord.__table__).where(HealthRecord.__table__.c.store_id.in_(ids))).all()
        synced = dict(conn.execute(select(A.device_id, func.max(A.received_at))
                                   .where(A.store_id.in_(ids)).group_by(A.device_id)).all())
    by_device = {h.device_id: h for h in health}
    rows = []
    for device_id, store_id in sorted({tuple(r) for r in registered} | {(h.device_id, h.store_id) for h in health}):
        rows.extend(_device_rows(device_id, store_id, by_device.get(device_id), synced.get(device_id)))
    frame = pd.DataFrame.from_records(rows, columns=DEVICE_COLUMNS)
    return _with_store_details(engine, frame, ids)


DEVICE_COLUMNS = ["store_id", "device_id", "camera_id", "status", "last_heartbeat", "camera_up", "fps",
                  "last_frame_at", "backlog", "backlog_oldest_s", "last_sync", "model_versions",
                  "backlight_score", "small_face_fraction", "median_face_px", "edge_problem",
                  "faces_seen", "software_version", "uptime_s", "buffer_dropped"]


def _with_store_details(engine: Engine, frame: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """Each row's store time zone and whether the store (hence its device) is seeded demo data."""
    with engine.connect() as conn:
        found = dict(conn.execute(select(S.store_id, S.timezone).where(S.store_id.in_(ids))).all())
        seeded = set(conn.scalars(select(S.store_id).where(S.store_id.in_(ids), S.seeded.is_(True))))
    frame["timezone"] = [found.get(s) or "UTC" for s in frame["store_id"]]
    frame["seeded"] = [s in seeded for s in frame["store_id"]]
    return frame


def _device_rows(device_id: str, store_id: str, health, last_sync: datetime | None) -> list[dict]:
    payload = health.payload if health is not None else {}
    base = {"store_id": store_id, "device_id": device_id,
            "status": health.status if health is not None else "never seen",
            "last_heartbeat": health.received_at if health is not None else None,
            "backlog": payload.get("buffer_depth"), "backlog_oldest_s": payload.get("buffer_oldest_age_s"),
            "last_sync": last_sync,
            "model_versions": ", ".join(f"{k} {v}" for k, v in sorted(payload.get("model_versions", {}).items()))}
    base.update(software_version=payload.get("software_version"), uptime_s=payload.get("uptime_s"),
                buffer_dropped=payload.get("buffer_dropped"))
    cameras = payload.get("cameras") or [{}]
    return [{**base, "camera_id": cam.get("camera_id", ""), "camera_up": cam.get("up"), "fps": cam.get("fps"),
             "last_frame_at": cam.get("last_frame_at"), "backlight_score": cam.get("backlight_score"),
             "small_face_fraction": cam.get("small_face_fraction"), "median_face_px": cam.get("median_face_px"),
             "edge_problem": cam.get("problem"), "faces_seen": cam.get("faces_seen")} for cam in cameras]


# --- point-of-sale data (conversion) ----------------------------------------------------------------

P = PosHour.__table__.c
POS_COLUMNS = ["store_id", "hour_start", "transactions", "revenue", "currency"]


def pos_hours(engine: Engine, principal: Principal, store_ids: Sequence[str], period: Period) -> pd.DataFrame:
    """Imported POS transactions (and revenue) per store and hour in the period, hour_start in UTC."""
    ids = visible_store_ids(engine, principal, store_ids)
    query = (select(P.store_id, _utc(P.hour_start), P.transactions, P.revenue, P.currency)
             .where(P.store_id.in_(ids), P.hour_start >= period.start, P.hour_start < period.end)
             .order_by(P.store_id, P.hour_start))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame.from_records(rows, columns=POS_COLUMNS)
    frame["hour_start"] = pd.to_datetime(frame["hour_start"], utc=True)
    return frame


def has_pos(engine: Engine, principal: Principal, store_ids: Sequence[str]) -> bool:
    """Whether any POS hour was ever imported for these stores (the empty state says how to add some)."""
    ids = visible_store_ids(engine, principal, store_ids)
    with engine.connect() as conn:
        return conn.scalar(select(P.store_id).where(P.store_id.in_(ids)).limit(1)) is not None

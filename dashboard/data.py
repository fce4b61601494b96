"""Queries -> DataFrames. Every function takes the asking `Principal` and filters in SQL.

Access is decided here and nowhere else: a store the principal may not see is dropped from the
query itself, so a forged callback or an edited URL returns empty frames, never another store's
rows. Times are timezone-aware UTC (sqlmodel's UTCDateTime); store-local time is derived in pandas.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import DateTime, Text, cast, func, select, type_coerce
from sqlalchemy.engine import Engine

from cloud_sync.db.models import AggregateRecord, Device, HealthRecord, Store
from dashboard.auth import Principal
from storelens.wire import AGE_BINS, COUNT_FIELDS, DWELL_EDGES_S

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


def _in_period(engine: Engine, principal: Principal, store_ids: Sequence[str], period: Period) -> tuple:
    """The WHERE clauses of every window query: stores the principal may see, starts in [start, end)."""
    ids = visible_store_ids(engine, principal, store_ids)
    return A.store_id.in_(ids), A.window_start >= period.start, A.window_start < period.end


def windows(engine: Engine, principal: Principal, store_ids: Sequence[str], period: Period) -> pd.DataFrame:
    """Scalar counts of every aggregate window in the period, one row per (camera, window)."""
    cols = ["store_id", "camera_id", "window_start", *COUNT_COLUMNS]
    query = (select(A.store_id, A.camera_id, _utc(A.window_start), *(A[c] for c in COUNT_COLUMNS))
             .where(*_in_period(engine, principal, store_ids, period))
             .order_by(A.window_start))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame.from_records(rows, columns=cols)
    frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True)  # naive values are UTC
    return frame


DAILY_COLUMNS = ("entries", "unique_visitors", "visitors_with_age", "family_visits")


def daily_totals(engine: Engine, principal: Principal, store_ids: Sequence[str], period: Period) -> pd.DataFrame:
    """Per store and UTC day, summed in SQL (the fleet-wide pages stay fast over months of windows)."""
    day = func.date(A.window_start).label("day")
    query = (select(A.store_id, day, *(func.sum(A[c]).label(c) for c in DAILY_COLUMNS))
             .where(*_in_period(engine, principal, store_ids, period))
             .group_by(A.store_id, day).order_by(A.store_id, day))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame.from_records(rows, columns=["store_id", "day", *DAILY_COLUMNS])
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def _json_rows(engine: Engine, principal: Principal, store_ids: Sequence[str], period: Period, column: str):
    query = select(A.store_id, A.window_start, A[column]).where(*_in_period(engine, principal, store_ids, period))
    with engine.connect() as conn:
        return conn.execute(query).all()


def age_histograms(engine: Engine, principal: Principal, store_ids: Sequence[str], period: Period) -> pd.DataFrame:
    """Summed 1-year age histogram per store: index store_id, columns 0..90 (90 means 90+)."""
    query = select(A.store_id, cast(A.age_histogram, Text)).where(*_in_period(engine, principal, store_ids, period))
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


def dwell_histogram(engine: Engine, principal: Principal, store_id: str, period: Period) -> pd.DataFrame:
    """Visits per dwell-time bin: columns edge_s (lower bound), label, visits."""
    rows = _json_rows(engine, principal, [store_id], period, "dwell_seconds_histogram")
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


def zone_visits(engine: Engine, principal: Principal, store_id: str, period: Period) -> pd.DataFrame:
    """Visits and visit-weighted mean dwell per zone over the period."""
    rows = _json_rows(engine, principal, [store_id], period, "zone_visits")
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
    """Summed heatmap counts on the floor grid (rows x cols), plus the bands seen in the period."""

    counts: np.ndarray
    cell_m: float
    bands: tuple[str, ...]


def heatmap(engine: Engine, principal: Principal, store_id: str, period: Period, *,
            band: str | None = None, hours: tuple[int, int] = (0, 24), tz: str = "UTC") -> HeatGrid:
    """Floor heatmap summed over windows whose local start hour is in [hours[0], hours[1])."""
    rows = _json_rows(engine, principal, [store_id], period, "heatmap")
    zone = ZoneInfo(tz)
    maps = [h for _sid, start, h in rows
            if hours[0] <= as_utc(start).astimezone(zone).hour < hours[1]]
    if not maps:
        return HeatGrid(np.zeros((0, 0), dtype=np.int64), 0.5, ())
    width = max(int(h.get("width_cells", 0)) for h in maps)
    height = max(int(h.get("height_cells", 0)) for h in maps)
    grid = np.zeros((height, width), dtype=np.int64)
    bands = sorted({b for h in maps for b in h.get("by_band", {})})
    for h in maps:
        cells = h.get("cells", []) if band is None else h.get("by_band", {}).get(band, [])
        _add_cells(grid, cells)
    return HeatGrid(grid, float(maps[0].get("cell_m", 0.5)), tuple(bands))


def as_utc(moment: datetime) -> datetime:
    """SQLite may hand back naive values for rows written outside sqlmodel; they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _add_cells(grid: np.ndarray, cells: list) -> None:
    if not cells:
        return
    arr = np.asarray(cells, dtype=np.int64)
    inside = (arr[:, 0] < grid.shape[1]) & (arr[:, 1] < grid.shape[0])
    np.add.at(grid, (arr[inside, 1], arr[inside, 0]), arr[inside, 2])


def latest_window(engine: Engine, principal: Principal, store_ids: Sequence[str]) -> datetime | None:
    """Start of the most recent window among the visible stores (to pick a default date range)."""
    ids = visible_store_ids(engine, principal, store_ids)
    with engine.connect() as conn:
        return conn.scalar(select(func.max(A.window_start)).where(A.store_id.in_(ids)))


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
    return pd.DataFrame.from_records(rows, columns=DEVICE_COLUMNS)


DEVICE_COLUMNS = ["store_id", "device_id", "camera_id", "status", "last_heartbeat", "camera_up", "fps",
                  "last_frame_at", "backlog", "backlog_oldest_s", "last_sync", "model_versions",
                  "backlight_score", "small_face_fraction", "median_face_px", "edge_problem"]


def _device_rows(device_id: str, store_id: str, health, last_sync: datetime | None) -> list[dict]:
    payload = health.payload if health is not None else {}
    base = {"store_id": store_id, "device_id": device_id,
            "status": health.status if health is not None else "never seen",
            "last_heartbeat": health.received_at if health is not None else None,
            "backlog": payload.get("buffer_depth"), "backlog_oldest_s": payload.get("buffer_oldest_age_s"),
            "last_sync": last_sync,
            "model_versions": ", ".join(f"{k} {v}" for k, v in sorted(payload.get("model_versions", {}).items()))}
    cameras = payload.get("cameras") or [{}]
    return [{**base, "camera_id": cam.get("camera_id", ""), "camera_up": cam.get("up"), "fps": cam.get("fps"),
             "last_frame_at": cam.get("last_frame_at"), "backlight_score": cam.get("backlight_score"),
             "small_face_fraction": cam.get("small_face_fraction"), "median_face_px": cam.get("median_face_px"),
             "edge_problem": cam.get("problem")} for cam in cameras]

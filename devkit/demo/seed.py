"""Synthetic history for demos and benchmarks: many stores, many days, every row marked seeded=True.

Patterns that make the dashboard worth looking at: opening hours per weekday, a lunch and an
after-work peak, busier Saturdays, store profiles with different age mixes (young-skewed, family,
mixed, senior), coverage that varies by store, and floor heatmaps around each store's fixtures, where
one display table in each store gets little attention. Generation is vectorised per store and
rows go in with bulk INSERTs, so 50 stores x 90 days takes seconds, not minutes.
`seed_store_history` gives one store registered elsewhere (the demo's live stores, whose sample
video has faces too small for an age) a seeded past of a chosen profile on its own floor and zones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from cloud_sync.db.models import AggregateRecord, Device, HealthRecord, Store
from devkit.demo.floorplan import Fixture, data_uri, render_png
from storelens.agebands import PRESETS, band_index, band_labels
from storelens.wire import AGE_BINS, DWELL_EDGES_S

log = logging.getLogger(__name__)

SEED_PREFIX = "seed-"
CELL_M = 1.0
HOURS = {  # weekday -> (open, close) local hour; Sunday shorter
    0: (9, 20), 1: (9, 20), 2: (9, 20), 3: (9, 21), 4: (9, 21), 5: (9, 20), 6: (11, 17)}
WEEKDAY_FACTOR = np.array([0.85, 0.85, 0.9, 1.0, 1.15, 1.45, 0.7])
ZONES = ("entrance", "new arrivals", "tables", "checkout", "fitting rooms")
TIMEZONES = ("Europe/Berlin", "Europe/London", "Europe/Madrid", "Europe/Warsaw", "Europe/Helsinki")
# (mean age, sd, weight) mixtures per store profile
PROFILES: dict[str, dict] = {
    "young": {"ages": ((23, 3.5, 0.55), (29, 5, 0.3), (45, 12, 0.15)), "family": 0.03, "coverage": 0.8},
    "family": {"ages": ((37, 6, 0.45), (8, 3.5, 0.32), (20, 4, 0.13), (66, 8, 0.1)), "family": 0.28,
               "coverage": 0.7},
    "mixed": {"ages": ((36, 13, 0.8), (10, 4, 0.08), (66, 9, 0.12)), "family": 0.09, "coverage": 0.75},
    "senior": {"ages": ((63, 9, 0.6), (42, 10, 0.3), (24, 4, 0.1)), "family": 0.05, "coverage": 0.65},
}
PROFILE_CYCLE = ("young", "mixed", "family", "young", "mixed", "senior", "family", "mixed")
HEAT_BANDS = tuple(PRESETS["fine"])  # the edge records heat per band of its banding, fine by default


@dataclass(frozen=True)
class SeedStore:
    store_id: str
    name: str
    profile: str
    timezone: str
    width_m: float
    height_m: float
    fixtures: tuple[Fixture, ...]
    base_per_hour: float
    coverage: float
    zones: tuple[str, ...] = ZONES  # a store with its own plan (the demo's live stores) names its own

    @property
    def area_m2(self) -> float:
        return self.width_m * self.height_m

    @property
    def device_id(self) -> str:
        return f"{self.store_id}-edge"


@dataclass(frozen=True)
class SeedSummary:
    stores: int
    windows: int
    first_day: date
    last_day: date


def age_pmf(profile: str) -> np.ndarray:
    """Probability per year of age 0..90+ for a store profile."""
    ages = np.arange(AGE_BINS)
    pmf = sum(w * np.exp(-0.5 * ((ages - m) / s) ** 2) / s for m, s, w in PROFILES[profile]["ages"])
    return pmf / pmf.sum()


def make_store(index: int, rng: np.random.Generator) -> SeedStore:
    profile = PROFILE_CYCLE[index % len(PROFILE_CYCLE)]
    width, height = float(rng.integers(12, 31)), float(rng.integers(10, 23))
    names = ("denim", "shoes", "kids", "new in", "sale", "bags", "beauty")
    fixtures = []
    for k in range(int(rng.integers(4, 7))):
        fw, fh = float(rng.uniform(1.5, 3.0)), float(rng.uniform(1.0, 2.0))
        fixtures.append(Fixture(names[k], float(rng.uniform(1, width - fw - 1)),
                                float(rng.uniform(1, height - fh - 3)), fw, fh))
    fixtures.append(Fixture("till", width - 4.0, height - 3.0, 3.0, 1.0))
    return SeedStore(f"{SEED_PREFIX}{index + 1:03d}", f"Demo {profile} store {index + 1}", profile,
                     TIMEZONES[index % len(TIMEZONES)], width, height, tuple(fixtures),
                     float(rng.uniform(8, 40)) * (width * height / 300) ** 0.5,
                     float(np.clip(PROFILES[profile]["coverage"] + rng.normal(0, 0.08), 0.3, 0.95)))


def _window_starts(store: SeedStore, first: date, days: int) -> list[datetime]:
    """Local opening hours of each day, as aware datetimes (one-hour windows)."""
    zone = ZoneInfo(store.timezone)
    starts = []
    for d in range(days):
        day = first + timedelta(days=d)
        opens, closes = HOURS[day.weekday()]
        starts.extend(datetime(day.year, day.month, day.day, h, tzinfo=zone) for h in range(opens, closes))
    return starts


def _hour_shape(hours: np.ndarray) -> np.ndarray:
    """Lunch and after-work peaks on a slow morning."""
    return 0.6 + 0.5 * np.exp(-0.5 * ((hours - 12.5) / 1.2) ** 2) + 0.8 * np.exp(-0.5 * ((hours - 17.5) / 1.5) ** 2)


def _visitors(store: SeedStore, starts: list[datetime], rng: np.random.Generator) -> np.ndarray:
    hours = np.array([s.hour for s in starts], dtype=float)
    weekday = np.array([s.weekday() for s in starts])
    growth = np.linspace(0.92, 1.08, len(starts))
    lam = store.base_per_hour * _hour_shape(hours) * WEEKDAY_FACTOR[weekday] * growth
    return rng.poisson(lam)


def _heat_samples(store: SeedStore, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n floor positions (cell col, row): people gather at fixtures, the first fixture is mostly ignored."""
    centres = np.array([f.centre for f in store.fixtures] + [(store.width_m / 2, store.height_m - 1.0)])
    weights = np.array([0.15] + [1.0] * (len(store.fixtures) - 1) + [1.5])
    pick = rng.choice(len(centres), size=n, p=weights / weights.sum())
    pos = centres[pick] + rng.normal(0, 1.2, size=(n, 2))
    cols = np.clip((pos[:, 0] / CELL_M).astype(int), 0, int(store.width_m / CELL_M) - 1)
    rows = np.clip((pos[:, 1] / CELL_M).astype(int), 0, int(store.height_m / CELL_M) - 1)
    return cols, rows


def _sparse(grid: np.ndarray) -> list[list[int]]:
    rows, cols = np.nonzero(grid)
    return [[int(c), int(r), int(grid[r, c])] for r, c in zip(rows, cols, strict=True)]


def _heatmaps(store: SeedStore, visitors: np.ndarray, rng: np.random.Generator) -> list[dict]:
    """One wire-format heatmap per window, with by-band splits on the coarse bands."""
    width, height = int(store.width_m / CELL_M), int(store.height_m / CELL_M)
    labels = band_labels(HEAT_BANDS)
    pmf = age_pmf(store.profile)
    out = []
    for n in visitors * 2:
        cols, rows = _heat_samples(store, int(n), rng)
        bands = band_index(rng.choice(AGE_BINS, size=int(n), p=pmf), HEAT_BANDS)
        grid = np.zeros((len(labels), height, width), dtype=np.int64)
        np.add.at(grid, (bands, rows, cols), 1)
        out.append({"cell_m": CELL_M, "width_cells": width, "height_cells": height, "cells": _sparse(grid.sum(0)),
                    "by_band": {lab: _sparse(grid[i]) for i, lab in enumerate(labels) if grid[i].any()}})
    return out


def _zones(store: SeedStore, visitors: np.ndarray, rng: np.random.Generator) -> list[dict]:
    share = rng.uniform(0.1, 0.9, size=len(store.zones))
    visits = rng.binomial(visitors[:, None], share[None, :])
    dwell = rng.uniform(20, 240, size=len(store.zones))
    return [{z: {"visits": int(v[k]), "mean_dwell_s": round(float(dwell[k] * rng.uniform(0.8, 1.2)), 1)}
             for k, z in enumerate(store.zones) if v[k]} for v in visits]


def _counts(store: SeedStore, visitors: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-window counts that follow from the visitors: re-entries, coverage, groups, families."""
    aged = rng.binomial(visitors, store.coverage)
    entries = visitors + rng.binomial(visitors, 0.08)
    return {"entries": entries, "exits": entries, "unique_visitors": visitors, "visitors_with_age": aged,
            "family_visits": rng.binomial(visitors, PROFILES[store.profile]["family"]),
            "group_visits": rng.binomial(visitors, 0.12), "occupancy_max": np.minimum(visitors, 1 + visitors // 3),
            "faces_seen": visitors * 3, "faces_low_quality": visitors - aged}


DWELL_P = np.array([0.05, 0.12, 0.18, 0.22, 0.2, 0.12, 0.06, 0.03, 0.015, 0.005])


def store_windows(store: SeedStore, first: date, days: int, rng: np.random.Generator, *,
                  device_id: str | None = None, camera_id: str = "entrance") -> list[dict]:
    """Every hourly AggregateRecord row of one store, ready for a bulk INSERT (device default: STORE-edge)."""
    starts = _window_starts(store, first, days)
    visitors = _visitors(store, starts, rng)
    counts = _counts(store, visitors, rng)
    ages = rng.multinomial(counts["visitors_with_age"], age_pmf(store.profile))
    dwell = rng.multinomial(visitors, DWELL_P / DWELL_P.sum())
    heat, zones = _heatmaps(store, visitors, rng), _zones(store, visitors, rng)
    rows = []
    for i, start in enumerate(starts):
        begin = start.astimezone(UTC)
        rows.append({"store_id": store.store_id, "device_id": device_id or store.device_id,
                     "camera_id": camera_id,
                     "seq": i, "window_start": begin, "window_end": begin + timedelta(hours=1), "frames": 36000,
                     "gap_seconds": 0.0, **{k: int(v[i]) for k, v in counts.items()},
                     "age_histogram": ages[i].tolist(),
                     "dwell_seconds_histogram": {"edges_s": list(DWELL_EDGES_S), "counts": dwell[i].tolist()},
                     "zone_visits": zones[i], "heatmap": heat[i], "model_versions": {"age": "age_v1"},
                     "seeded": True})
    return rows


def _store_row(store: SeedStore) -> dict:
    week_hours = float(sum(c - o for o, c in HOURS.values()))
    png = render_png(store.width_m, store.height_m, list(store.fixtures), (store.width_m / 2 - 1.5, store.width_m / 2 + 1.5))
    return {"store_id": store.store_id, "name": store.name, "timezone": store.timezone, "area_m2": store.area_m2,
            "opening_hours_per_week": week_hours, "floor_width_m": store.width_m, "floor_height_m": store.height_m,
            "floorplan_png": data_uri(png), "seeded": True}


def _health_row(store: SeedStore, index: int, now: datetime) -> dict:
    """A heartbeat snapshot; a few devices carry typical field problems so the devices page shows them."""
    problem = {3: "backlit", 7: "small faces", 11: "offline", 13: "no frames"}.get(index % 17)
    camera = {"camera_id": "entrance", "up": problem != "no frames", "fps": 0.0 if problem == "no frames" else 9.5,
              "faces_seen": 40, "median_face_px": 28.0 if problem == "small faces" else 64.0,
              "backlight_score": 2.4 if problem == "backlit" else 0.3,
              "small_face_fraction": 0.7 if problem == "small faces" else 0.1}
    payload = {"schema_version": 1, "store_id": store.store_id, "device_id": store.device_id,
               "sent_at": now.isoformat(), "software_version": "seeded", "model_versions": {"age": "age_v1"},
               "cameras": [camera], "buffer_depth": 0, "uptime_s": 86400.0}
    seen = now - timedelta(hours=5) if problem == "offline" else now
    return {"device_id": store.device_id, "store_id": store.store_id,
            "status": "offline" if problem == "offline" else "online", "status_at": seen, "sent_at": seen,
            "received_at": seen, "payload": payload}


def refresh_heartbeats(engine: Engine) -> int:
    """Keep the seeded fleet's online devices fresh during a long demo (only their designed problems show)."""
    now = datetime.now(UTC)
    h, st = HealthRecord.__table__.c, Store.__table__.c
    seeded_ids = select(st.store_id).where(st.seeded.is_(True))
    with engine.begin() as conn:
        result = conn.execute(update(HealthRecord.__table__)
                              .where(h.store_id.in_(seeded_ids), h.status == "online")
                              .values(received_at=now, sent_at=now))
    return result.rowcount


def clear_seeded(engine: Engine) -> None:
    """Remove earlier synthetic history (only rows marked seeded; real data is never touched)."""
    with engine.begin() as conn:
        ids = list(conn.scalars(select(Store.__table__.c.store_id).where(Store.__table__.c.seeded.is_(True))))
        conn.execute(delete(AggregateRecord.__table__).where(AggregateRecord.__table__.c.seeded.is_(True)))
        conn.execute(delete(HealthRecord.__table__).where(HealthRecord.__table__.c.store_id.in_(ids)))
        conn.execute(delete(Device.__table__).where(Device.__table__.c.store_id.in_(ids)))
        conn.execute(delete(Store.__table__).where(Store.__table__.c.store_id.in_(ids)))


def seed_history(engine: Engine, *, stores: int = 50, days: int = 90, last_day: date | None = None,
                 seed: int = 7, chunk: int = 5000) -> SeedSummary:
    """Replace the synthetic history with `stores` stores x `days` days ending `last_day` (default yesterday)."""
    rng = np.random.default_rng(seed)
    last_day = last_day or (datetime.now(UTC).date() - timedelta(days=1))
    first = last_day - timedelta(days=days - 1)
    clear_seeded(engine)
    now = datetime.now(UTC)
    total = 0
    for index in range(stores):
        store = make_store(index, rng)
        rows = store_windows(store, first, days, rng)
        with engine.begin() as conn:
            conn.execute(insert(Store.__table__), [_store_row(store)])
            conn.execute(insert(Device.__table__), [{"device_id": store.device_id, "store_id": store.store_id,
                                                     "name": "seeded", "mqtt_username": store.device_id,
                                                     "password_hash": "!seeded-no-login", "created_at": now,
                                                     "revoked_at": now}])  # never a broker user
            conn.execute(insert(HealthRecord.__table__), [_health_row(store, index, now)])
            _insert_windows(conn, rows, now, chunk)
        total += len(rows)
    log.info("seeded %d stores x %d days (%d windows, %s..%s)", stores, days, total, first, last_day)
    return SeedSummary(stores, total, first, last_day)


def _insert_windows(conn, rows: list[dict], now: datetime, chunk: int = 5000) -> None:
    for k in range(0, len(rows), chunk):
        conn.execute(insert(AggregateRecord.__table__), [{**r, "received_at": now} for r in rows[k:k + chunk]])


def seed_store_history(engine: Engine, store: SeedStore, *, days: int, last_day: date, device_id: str,
                       camera_id: str, seed: int = 7) -> SeedSummary:
    """Replace the seeded past of one store registered elsewhere (the demo's live stores).

    Only AggregateRecord rows are written, all seeded=True, under `device_id`/`camera_id`: a pair no
    real camera reports, so these rows never share an idempotency key with the store's real windows.
    The store row, its devices and its real (seeded=False) windows are left alone.
    """
    rng = np.random.default_rng(seed)
    first = last_day - timedelta(days=days - 1)
    rows = store_windows(store, first, days, rng, device_id=device_id, camera_id=camera_id)
    a = AggregateRecord.__table__.c
    with engine.begin() as conn:
        conn.execute(delete(AggregateRecord.__table__).where(a.store_id == store.store_id, a.seeded.is_(True)))
        _insert_windows(conn, rows, datetime.now(UTC))
    log.info("seeded %s (%s profile) x %d days (%d windows, %s..%s)", store.store_id, store.profile, days,
             len(rows), first, last_day)
    return SeedSummary(1, len(rows), first, last_day)

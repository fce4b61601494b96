"""Dashboard queries on a real SQLite database: access filtering in SQL, sums, heatmaps, device problems."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlmodel import Session

from cloud_sync.db.engine import init_db, make_engine
from cloud_sync.db.models import AggregateRecord, Device, HealthRecord, Store
from dashboard import data
from dashboard.auth import Principal
from dashboard.problems import camera_problems
from storelens.config.dashboard import DashboardConfig

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
MANAGER_A = Principal("m", "manager", ("a",))
ANALYST = Principal("x", "analyst", ())
TECH_B = Principal("t", "technician", ("b",))


def _record(store: str, hour: int, visitors: int, **extra) -> AggregateRecord:
    hist = [0] * 91
    hist[20 + hour] = visitors
    start = T0 + timedelta(hours=hour)
    return AggregateRecord(store_id=store, device_id=f"{store}-edge", camera_id="cam", window_start=start,
                           window_end=start + timedelta(hours=1), entries=visitors + 1, unique_visitors=visitors,
                           visitors_with_age=visitors, age_histogram=hist, **extra)


@pytest.fixture()
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'cloud.db'}")
    init_db(eng)
    heat = {"cell_m": 0.5, "width_cells": 4, "height_cells": 3, "cells": [[1, 2, 5], [3, 0, 1]],
            "by_band": {"18-34": [[1, 2, 4]], "35-54": [[3, 0, 1], [1, 2, 1]]}}
    zones = {"tables": {"visits": 4, "mean_dwell_s": 30.0}, "till": {"visits": 1, "mean_dwell_s": 90.0}}
    with Session(eng) as s:
        for sid in ("a", "b", "c"):
            s.add(Store(store_id=sid, name=f"Store {sid}", timezone="UTC", area_m2=100, opening_hours_per_week=70))
        s.add_all([_record("a", h, 10 + h, heatmap=heat, zone_visits=zones) for h in range(4)])
        s.add_all([_record("b", h, 100, zone_visits={"tables": {"visits": 2, "mean_dwell_s": 60.0}}) for h in range(3)])
        s.add(_record("c", 0, 1000))
        s.commit()
    yield eng
    eng.dispose()


@pytest.mark.parametrize(
    ("principal", "wanted", "expected"),
    [(MANAGER_A, None, ["a"]), (MANAGER_A, ["b"], []), (MANAGER_A, ["a", "b"], ["a"]),
     (ANALYST, None, ["a", "b", "c"]), (ANALYST, ["c"], ["c"]), (TECH_B, None, ["b"]),
     (Principal("t2", "technician", ()), None, ["a", "b", "c"]), (Principal("z", "manager", ()), None, [])],
)
def test_visible_stores_follow_the_role(engine, principal, wanted, expected) -> None:
    assert data.visible_store_ids(engine, principal, wanted) == expected


PERIOD = data.Period(T0, T0 + timedelta(days=1))


def test_windows_of_a_forbidden_store_are_empty(engine) -> None:
    assert data.windows(engine, MANAGER_A, ["b"], PERIOD).empty
    assert data.age_histograms(engine, MANAGER_A, ["b", "c"], PERIOD).empty
    assert data.heatmap(engine, MANAGER_A, "b", PERIOD).counts.size == 0
    assert data.zone_visits(engine, MANAGER_A, "b", PERIOD).empty
    assert data.floorplan(engine, MANAGER_A, "b") is None
    own = data.windows(engine, MANAGER_A, ["a", "b"], PERIOD)
    assert set(own["store_id"]) == {"a"} and own["unique_visitors"].sum() == 10 + 11 + 12 + 13


def test_period_bounds_are_half_open(engine) -> None:
    first_two = data.Period(T0, T0 + timedelta(hours=2))
    assert data.windows(engine, ANALYST, ["a"], first_two)["unique_visitors"].tolist() == [10, 11]
    assert data.Period(T0, T0 + timedelta(hours=2)).previous() == data.Period(T0 - timedelta(hours=2), T0)


@pytest.mark.parametrize(
    ("tz", "first_utc"),
    [("UTC", datetime(2026, 6, 1, tzinfo=UTC)), ("Europe/Berlin", datetime(2026, 5, 31, 22, tzinfo=UTC)),
     ("America/New_York", datetime(2026, 6, 1, 4, tzinfo=UTC))],
)
def test_local_days_become_utc_bounds(tz: str, first_utc: datetime) -> None:
    period = data.Period.local_days(date(2026, 6, 1), date(2026, 6, 2), tz)
    assert period.start == first_utc and period.end - period.start == timedelta(days=2)


def test_age_histograms_sum_per_store(engine) -> None:
    hist = data.age_histograms(engine, ANALYST, ["a", "c"], PERIOD)
    assert hist.loc["a", 20] == 10 and hist.loc["a", 23] == 13 and hist.loc["a"].sum() == 46
    assert hist.loc["c"].sum() == 1000


def test_zone_dwell_is_visit_weighted(engine) -> None:
    zones = data.zone_visits(engine, ANALYST, "a", PERIOD).set_index("zone")
    assert zones.loc["tables", "visits"] == 16 and zones.loc["tables", "mean_dwell_s"] == pytest.approx(30.0)
    assert zones.index.tolist() == ["tables", "till"]  # busiest first


@pytest.mark.parametrize(
    ("band", "hours", "expected_total", "cell"),
    [(None, (0, 24), 4 * 6, 4 * 5), ("18-34", (0, 24), 4 * 4, 4 * 4), ("35-54", (0, 24), 4 * 2, 4 * 1),
     (None, (9, 11), 2 * 6, 2 * 5), ("55+", (0, 24), 0, 0)],
)
def test_heatmap_sums_cells_filtered_by_band_and_hour(engine, band, hours, expected_total, cell) -> None:
    grid = data.heatmap(engine, ANALYST, "a", PERIOD, band=band, hours=hours)
    assert grid.counts.shape == (3, 4) and grid.cell_m == 0.5
    assert grid.counts.sum() == expected_total
    assert grid.counts[2, 1] == cell  # [col 1, row 2]
    assert grid.bands == ("18-34", "35-54")


def test_devices_join_registration_heartbeat_and_last_sync(engine) -> None:
    now = datetime.now(UTC)
    cams = [{"camera_id": "door", "up": True, "fps": 9.0, "backlight_score": 2.0},
            {"camera_id": "floor", "up": False, "fps": 0.0}]
    with Session(engine) as s:
        s.add(Device(device_id="a-edge", store_id="a", mqtt_username="a-edge", password_hash="x"))
        s.add(Device(device_id="b-edge", store_id="b", mqtt_username="b-edge", password_hash="x"))
        s.add(HealthRecord(device_id="a-edge", store_id="a", status="online", received_at=now,
                           payload={"cameras": cams, "buffer_depth": 3, "model_versions": {"faces": "yunet"}}))
        s.commit()
    frame = data.devices(engine, TECH_B)
    assert frame[["device_id", "status", "camera_id"]].values.tolist() == [["b-edge", "never seen", ""]]
    rows = data.devices(engine, ANALYST).set_index("camera_id")
    assert rows.loc["door", "backlog"] == 3 and rows.loc["floor", "fps"] == 0.0
    assert rows.loc["door", "model_versions"] == "faces yunet"
    assert rows.loc["door", "last_sync"] is not None


NOW = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)
HEALTHY = {"status": "online", "last_heartbeat": NOW - timedelta(seconds=30), "camera_up": True, "fps": 9.5,
           "last_sync": NOW - timedelta(hours=10), "backlight_score": 0.2, "small_face_fraction": 0.1}


@pytest.mark.parametrize(
    ("change", "expected"),
    [({}, []), ({"status": "offline"}, ["offline"]),
     ({"last_heartbeat": NOW - timedelta(minutes=10)}, ["offline"]),
     ({"last_heartbeat": None}, ["offline"]), ({"camera_up": False}, ["no frames"]), ({"fps": 0.0}, ["no frames"]),
     ({"last_sync": NOW - timedelta(hours=40)}, ["sync overdue"]), ({"last_sync": None}, ["sync overdue"]),
     ({"backlight_score": 2.5}, ["backlit faces"]), ({"small_face_fraction": 0.8}, ["faces too small"]),
     ({"edge_problem": "lens dirty"}, ["lens dirty"]),
     ({"status": "offline", "backlight_score": 3.0}, ["offline", "backlit faces"]),
     ({"camera_up": None, "fps": float("nan")}, ["no frames"]),  # heartbeat without cameras
     ({"backlight_score": float("nan"), "edge_problem": float("nan")}, []),
     ({"last_heartbeat": datetime(2026, 6, 2, 11, 59)}, [])],  # naive values are read as UTC
)
def test_camera_problems(change: dict, expected: list[str]) -> None:
    assert camera_problems({**HEALTHY, **change}, NOW, DashboardConfig()) == expected


def test_problem_thresholds_come_from_config() -> None:
    strict = DashboardConfig(backlight_problem_stops=0.1, heartbeat_timeout_s=10)
    assert camera_problems(HEALTHY, NOW, strict) == ["offline", "backlit faces"]
    assert np.isclose(DashboardConfig().backlight_problem_stops, 1.5)


def test_daily_totals_are_summed_in_sql_and_filtered(engine) -> None:
    daily = data.daily_totals(engine, ANALYST, ["a", "b"], PERIOD).set_index("store_id")
    assert daily.loc["a", "unique_visitors"] == 46 and daily.loc["b", "unique_visitors"] == 300
    assert daily.loc["a", "entries"] == 50 and str(daily.loc["a", "day"].date()) == "2026-06-01"
    assert data.daily_totals(engine, MANAGER_A, ["a", "b"], PERIOD)["store_id"].tolist() == ["a"]


def test_histograms_of_the_wrong_length_count_as_zero() -> None:
    parsed = data._parse_histograms(["[1, 2]", "[" + ", ".join(["1"] * 91) + "]"])
    assert parsed.shape == (2, 91) and parsed[0].sum() == 0 and parsed[1].sum() == 91

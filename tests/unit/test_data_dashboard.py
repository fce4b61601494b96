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
    assert grid.bands == (("18-34", "35-54") if band else ())  # by-band lists are read only for a band


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


# --- seeded rows, store-local days, today so far, robust heatmaps ------------------------------------


def _add_seeded(engine) -> None:
    with Session(engine) as s:
        for h in range(2):
            row = _record("a", h, 1000, seeded=True)
            row.camera_id = "history"  # a seeded past under its own camera id, as the demo stores it
            s.add(row)
        s.commit()


def test_seeded_rows_can_be_left_out_in_sql(engine) -> None:
    _add_seeded(engine)
    both = data.windows(engine, ANALYST, ["a"], PERIOD)
    live = data.windows(engine, ANALYST, ["a"], PERIOD, seeded=False)
    assert both["unique_visitors"].sum() == 46 + 2000 and live["unique_visitors"].sum() == 46
    assert both["seeded"].sum() == 2 and not live["seeded"].any()
    assert data.age_histograms(engine, ANALYST, ["a"], PERIOD, seeded=False).loc["a"].sum() == 46
    assert data.has_seeded(engine, ANALYST, ["a"]) and not data.has_seeded(engine, ANALYST, ["b"])
    assert not data.has_seeded(engine, MANAGER_A, ["b"])  # another store's marks are not visible either


def test_local_daily_totals_use_each_stores_own_days(engine) -> None:
    with Session(engine) as s:
        s.get(Store, "b").timezone = "America/New_York"  # 08:00-10:00 UTC is 04:00-06:00 there, same day
        late = T0.replace(hour=23)  # 23:00 UTC on 1 June: already 2 June in Berlin, still 1 June in UTC
        s.add(AggregateRecord(store_id="c", device_id="c-edge", camera_id="cam", window_start=late,
                              window_end=late + timedelta(hours=1), entries=5, unique_visitors=5,
                              age_histogram=[0] * 91))
        s.get(Store, "c").timezone = "Europe/Berlin"
        s.commit()
    daily = data.local_daily_totals(engine, ANALYST, ["a", "b", "c"], date(2026, 6, 1), date(2026, 6, 2))
    by = {(r.store_id, str(r.day)): r.unique_visitors for r in daily.itertuples()}
    assert by[("a", "2026-06-01")] == 46 and by[("b", "2026-06-01")] == 300
    assert by[("c", "2026-06-01")] == 1000 and by[("c", "2026-06-02")] == 5  # the Berlin store's own midnight
    assert data.local_daily_totals(engine, MANAGER_A, ["a", "b"], date(2026, 6, 1), date(2026, 6, 2))[
        "store_id"].unique().tolist() == ["a"]


@pytest.mark.parametrize(
    ("tz", "now", "reach", "today", "last_week"),
    [("UTC", datetime(2026, 6, 10, 15, 7, tzinfo=UTC), datetime(2026, 6, 10, 15, 0, tzinfo=UTC),
      (datetime(2026, 6, 10, tzinfo=UTC), datetime(2026, 6, 10, 15, tzinfo=UTC)),
      (datetime(2026, 6, 3, tzinfo=UTC), datetime(2026, 6, 3, 15, tzinfo=UTC))),
     # Berlin moved to summer time between last Sunday and today: the same wall-clock hours are compared
     ("Europe/Berlin", datetime(2026, 3, 30, 10, 0, tzinfo=UTC), datetime(2026, 3, 30, 9, 45, tzinfo=UTC),
      (datetime(2026, 3, 29, 22, tzinfo=UTC), datetime(2026, 3, 30, 9, 45, tzinfo=UTC)),
      (datetime(2026, 3, 22, 23, tzinfo=UTC), datetime(2026, 3, 23, 10, 45, tzinfo=UTC))),
     ("UTC", datetime(2026, 6, 10, 8, 0, tzinfo=UTC), None,  # nothing yet today: up to now
      (datetime(2026, 6, 10, tzinfo=UTC), datetime(2026, 6, 10, 8, tzinfo=UTC)),
      (datetime(2026, 6, 3, tzinfo=UTC), datetime(2026, 6, 3, 8, tzinfo=UTC)))],
)
def test_today_is_compared_with_the_same_hours_last_week(tz, now, reach, today, last_week) -> None:
    from dashboard.today import today_periods

    got_today, got_week = today_periods(tz, now, reach)
    assert (got_today.start, got_today.end) == today
    assert (got_week.start, got_week.end) == last_week


def test_today_so_far_sums_today_and_the_same_hours_a_week_ago(engine) -> None:
    from dashboard.today import today_so_far

    now = T0 + timedelta(hours=4, minutes=30)  # 12:30 UTC on 1 June; windows at 08:00 ... 11:00
    week = T0 - timedelta(days=7)
    with Session(engine) as s:
        for h in range(5):  # a week earlier, 08:00-12:00
            row = _record("a", h, 7)
            row.window_start, row.window_end = row.window_start - timedelta(days=7), row.window_end - timedelta(days=7)
            s.add(row)
        s.commit()
    numbers = today_so_far(engine, ANALYST, "a", "UTC", now=now)
    assert numbers.today.unique_visitors == 10 + 11 + 12 + 13
    assert numbers.reach == T0 + timedelta(hours=4)  # data reaches 12:00
    assert numbers.last_week.start == week - timedelta(hours=8) and numbers.last_week.end == week + timedelta(hours=4)
    assert numbers.last_week.unique_visitors == 7 * 4  # 08:00-12:00 of last week; its 12:00 window is left out
    assert numbers.occupancy.peak == 0 and numbers.occupancy.latest_start == T0 + timedelta(hours=3)
    assert today_so_far(engine, MANAGER_A, "b", "UTC", now=now).today.windows == 0  # not visible


def _heat_rows(engine, heatmaps: list[dict]) -> None:
    with Session(engine) as s:
        for i, heat in enumerate(heatmaps):
            start = T0 + timedelta(minutes=i)
            s.add(AggregateRecord(store_id="b", device_id="b-x", camera_id=f"c{i}", window_start=start,
                                  window_end=start + timedelta(minutes=1), heatmap=heat, age_histogram=[0] * 91))
        s.commit()


def test_heatmap_leaves_out_oversized_and_malformed_grids_and_clips_cells(engine, caplog) -> None:
    good = {"cell_m": 0.5, "width_cells": 4, "height_cells": 3, "cells": [[1, 2, 5], [-1, 0, 9], [9, 9, 9]]}
    _heat_rows(engine, [good,
                        {"cell_m": 0.5, "width_cells": 3000, "height_cells": 3000, "cells": [[2999, 2999, 50]]},
                        {"cell_m": 0.05, "width_cells": 4, "height_cells": 3, "cells": [[1, 1, 7]]},  # cells too small
                        {"cell_m": 0.5, "width_cells": 4, "height_cells": 3, "cells": [["x"], [1]]},
                        {"cell_m": 0.5, "width_cells": 4, "height_cells": "many", "cells": []}])
    with caplog.at_level("WARNING", logger="dashboard.data"):
        grid = data.heatmap(engine, ANALYST, "b", PERIOD)
    assert grid.counts.shape == (3, 4) and grid.counts.sum() == 5 and grid.counts[2, 1] == 5
    assert grid.skipped == 4
    assert len([r for r in caplog.records if "left out 4" in r.getMessage()]) == 1  # one line per view


def test_heatmap_rebins_a_finer_grid_onto_the_coarser_one(engine) -> None:
    _heat_rows(engine, [{"cell_m": 1.0, "width_cells": 4, "height_cells": 3, "cells": [[1, 1, 2]]},
                        {"cell_m": 0.5, "width_cells": 8, "height_cells": 6, "cells": [[3, 2, 5], [2, 3, 1]],
                         "by_band": {"18-21": [[3, 2, 5]]}}])
    grid = data.heatmap(engine, ANALYST, "b", PERIOD)
    assert grid.cell_m == 1.0 and grid.counts.shape == (3, 4)
    assert grid.counts[1, 1] == 2 + 5 + 1 and grid.total.sum() == 8
    banded = data.heatmap(engine, ANALYST, "b", PERIOD, band=lambda recorded: [b for b in recorded if b == "18-21"])
    assert banded.counts.sum() == 5 and banded.total.sum() == 8 and banded.bands == ("18-21",)


def test_devices_carry_store_time_zone_and_demo_mark(engine) -> None:
    with Session(engine) as s:
        s.get(Store, "a").seeded = True
        s.get(Store, "a").timezone = "Asia/Shanghai"
        s.add(Device(device_id="a-edge", store_id="a", mqtt_username="a-edge", password_hash="x"))
        s.add(Device(device_id="b-edge", store_id="b", mqtt_username="b-edge", password_hash="x"))
        s.commit()
    rows = data.devices(engine, ANALYST).set_index("device_id")
    assert rows.loc["a-edge", "seeded"] and rows.loc["a-edge", "timezone"] == "Asia/Shanghai"
    assert not rows.loc["b-edge", "seeded"] and rows.loc["b-edge", "timezone"] == "UTC"


def test_offset_stretches_split_at_the_dst_change() -> None:
    stretches = data.offset_stretches(date(2026, 3, 27), date(2026, 4, 1), "Europe/Berlin")
    assert [(p.start, p.end, off, d) for p, off, d in stretches] == [
        (datetime(2026, 3, 26, 23, tzinfo=UTC), datetime(2026, 3, 28, 23, tzinfo=UTC), 60, None),
        (datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC), None, date(2026, 3, 29)),
        (datetime(2026, 3, 29, 22, tzinfo=UTC), datetime(2026, 4, 1, 22, tzinfo=UTC), 120, None)]
    assert len(data.offset_stretches(date(2026, 6, 1), date(2026, 8, 31), "Asia/Shanghai")) == 1

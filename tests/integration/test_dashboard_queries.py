"""The dashboard's SQL that differs by dialect (local dates, JSON parts) on SQLite and a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session

from cloud_sync.db.engine import init_db, make_engine
from cloud_sync.db.models import AggregateRecord, Store
from dashboard import data
from dashboard.auth import Principal

pytestmark = pytest.mark.integration
ANALYST = Principal("x", "analyst", ())


def _row(store: str, start: datetime, visitors: int, heat: dict | None = None) -> AggregateRecord:
    return AggregateRecord(store_id=store, device_id=f"{store}-edge", camera_id="cam", window_start=start,
                           window_end=start + timedelta(minutes=15), entries=visitors, unique_visitors=visitors,
                           age_histogram=[0] * 91, heatmap=heat or {})


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    init_db(eng)
    heat = {"cell_m": 0.5, "width_cells": 4, "height_cells": 3, "cells": [[1, 2, 5]],
            "by_band": {"18-21": [[1, 2, 3]]}}
    with Session(eng) as s:
        s.add(Store(store_id="ber", name="Berlin", timezone="Europe/Berlin"))
        s.add(Store(store_id="sha", name="上海", timezone="Asia/Shanghai"))
        s.commit()
        # Around Berlin's spring DST change (29 March 2026) and Shanghai's midnight (16:00 UTC).
        s.add_all([_row("ber", datetime(2026, 3, 28, 22, 30, tzinfo=UTC), 1),   # 23:30 CET, 28 March
                   _row("ber", datetime(2026, 3, 28, 23, 15, tzinfo=UTC), 2),   # 00:15 CET, 29 March (23 h day)
                   _row("ber", datetime(2026, 3, 29, 21, 45, tzinfo=UTC), 4),   # 23:45 CEST, 29 March
                   _row("ber", datetime(2026, 3, 29, 22, 0, tzinfo=UTC), 8),    # 00:00 CEST, 30 March
                   _row("sha", datetime(2026, 3, 29, 15, 45, tzinfo=UTC), 16, heat),  # 23:45, 29 March
                   _row("sha", datetime(2026, 3, 29, 16, 0, tzinfo=UTC), 32, heat)])  # 00:00, 30 March
        s.commit()
    yield eng
    eng.dispose()


def test_local_days_sum_each_store_by_its_own_midnight(engine) -> None:
    daily = data.local_daily_totals(engine, ANALYST, ["ber", "sha"], date(2026, 3, 28), date(2026, 3, 30))
    got = {(r.store_id, r.day.isoformat()): int(r.unique_visitors) for r in daily.itertuples()}
    assert got == {("ber", "2026-03-28"): 1, ("ber", "2026-03-29"): 6, ("ber", "2026-03-30"): 8,
                   ("sha", "2026-03-29"): 16, ("sha", "2026-03-30"): 32}


def test_heatmap_parts_are_read_by_the_database(engine) -> None:
    period = data.Period(datetime(2026, 3, 29, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
    everyone = data.heatmap(engine, ANALYST, "sha", period, tz="Asia/Shanghai")
    assert everyone.counts.sum() == 10 and everyone.counts[2, 1] == 10 and everyone.days == 2
    band = data.heatmap(engine, ANALYST, "sha", period, band="18-21", tz="Asia/Shanghai")
    assert band.counts.sum() == 6 and band.total.sum() == 10 and band.bands == ("18-21",)

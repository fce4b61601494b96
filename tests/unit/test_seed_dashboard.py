"""Synthetic history: marked seeded, valid on the wire schema, realistic patterns, never touches real data;
one registered store can get a seeded past of its own profile (the demo's live stores)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from cloud_sync.db.engine import init_db, make_engine
from cloud_sync.db.models import AggregateRecord, Device, HealthRecord, Store
from devkit.demo import seed
from devkit.demo.floorplan import Fixture
from storelens.wire import AggregateWindow

A = AggregateRecord.__table__.c
LAST = date(2026, 6, 28)  # a Sunday


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('seed') / 'cloud.db'}")
    init_db(engine)
    with Session(engine) as s:  # a real store with a real window: seeding must leave it alone
        s.add(Store(store_id="real-1", name="Real"))
        start = datetime(2026, 6, 20, 10, tzinfo=UTC)
        s.add(AggregateRecord(store_id="real-1", device_id="edge-1", camera_id="door", window_start=start,
                              window_end=start + timedelta(minutes=15), unique_visitors=3, age_histogram=[0] * 91))
        s.commit()
    seed.seed_history(engine, stores=8, days=28, last_day=LAST)
    summary = seed.seed_history(engine, stores=8, days=28, last_day=LAST)  # twice: replaces, never doubles
    yield engine, summary
    engine.dispose()


def _scalar(engine, query):
    with engine.connect() as conn:
        return conn.scalar(query)


def test_rows_are_marked_seeded_and_replaced_not_doubled(seeded) -> None:
    engine, summary = seeded
    assert summary.stores == 8 and summary.first_day == LAST - timedelta(days=27)
    assert _scalar(engine, select(func.count()).where(A.seeded.is_(True))) == summary.windows
    assert _scalar(engine, select(func.count()).select_from(Store).where(Store.seeded.is_(True))) == 8
    assert _scalar(engine, select(func.count()).select_from(Device)) == 8
    assert _scalar(engine, select(func.count()).select_from(HealthRecord)) == 8
    assert _scalar(engine, select(func.count()).where(A.store_id == "real-1", A.seeded.is_(False))) == 1


def test_clear_removes_only_seeded_rows(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    init_db(engine)
    seed.seed_history(engine, stores=2, days=2, last_day=LAST)
    with Session(engine) as s:
        s.add(Store(store_id="real-1", name="Real"))
        s.commit()
    seed.clear_seeded(engine)
    assert _scalar(engine, select(func.count()).select_from(AggregateRecord)) == 0
    assert _scalar(engine, select(Store.store_id)) == "real-1"


def test_every_row_is_a_valid_wire_window(seeded) -> None:
    engine, _summary = seeded
    with engine.connect() as conn:
        rows = conn.execute(select(AggregateRecord.__table__).where(A.seeded.is_(True)).limit(300)).mappings().all()
    for row in rows:
        fields = {k: v for k, v in row.items() if k in AggregateWindow.model_fields}  # not id, received_at, hash
        window = AggregateWindow.model_validate(fields)
        assert window.seeded and window.visitors_with_age <= window.unique_visitors
        assert sum(window.age_histogram) == window.visitors_with_age
        assert sum(window.dwell_seconds_histogram.counts) == window.unique_visitors


def _local_hours(engine, store_id: str) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        tz = conn.scalar(select(Store.timezone).where(Store.store_id == store_id))
        starts = conn.scalars(select(A.window_start).where(A.store_id == store_id))
        local = [s.replace(tzinfo=s.tzinfo or UTC).astimezone(ZoneInfo(tz)) for s in starts]
    return [(t.weekday(), t.hour) for t in local]


def test_windows_fall_in_opening_hours(seeded) -> None:
    engine, _summary = seeded
    slots = _local_hours(engine, "seed-001")
    assert all(seed.HOURS[wd][0] <= hour < seed.HOURS[wd][1] for wd, hour in slots)
    assert len(slots) == sum(c - o for o, c in seed.HOURS.values()) * 4  # 4 whole weeks


def _mean_by(engine, column: str, store_ids: list[str]) -> float:
    with engine.connect() as conn:
        return float(conn.scalar(select(func.avg(A[column])).where(A.store_id.in_(store_ids))))


def test_saturdays_are_busier_than_tuesdays(seeded) -> None:
    engine, _summary = seeded
    with engine.connect() as conn:
        rows = conn.execute(select(A.window_start, A.unique_visitors).where(A.seeded.is_(True))).all()
    by_day = {wd: np.mean([v for s, v in rows if s.weekday() == wd]) for wd in (1, 5)}
    assert by_day[5] > 1.3 * by_day[1]


def _median_age(engine, store_id: str) -> float:
    with engine.connect() as conn:
        hists = conn.scalars(select(A.age_histogram).where(A.store_id == store_id)).all()
    total = np.sum(np.array(hists), axis=0)
    return float(np.searchsorted(np.cumsum(total), total.sum() / 2))


def test_store_profiles_differ_in_age_and_families(seeded) -> None:
    engine, _summary = seeded
    kinds = {sid: name.split()[1] for sid, name in engine.connect().execute(select(Store.store_id, Store.name))
             if sid.startswith("seed-")}
    by_kind = {k: [s for s, v in kinds.items() if v == k] for k in ("young", "family", "senior")}
    assert all(by_kind.values()), by_kind
    young, senior = _median_age(engine, by_kind["young"][0]), _median_age(engine, by_kind["senior"][0])
    assert young < 30 < 50 < senior
    family = _mean_by(engine, "family_visits", by_kind["family"]) / _mean_by(engine, "unique_visitors", by_kind["family"])
    young_f = _mean_by(engine, "family_visits", by_kind["young"]) / _mean_by(engine, "unique_visitors", by_kind["young"])
    assert family > 4 * young_f


def test_heatmaps_fit_the_floor_and_split_by_band(seeded) -> None:
    engine, _summary = seeded
    with engine.connect() as conn:
        store = conn.execute(select(Store.floor_width_m, Store.floor_height_m, Store.floorplan_png)
                             .where(Store.store_id == "seed-002")).one()
        heat = conn.scalars(select(A.heatmap).where(A.store_id == "seed-002", A.unique_visitors > 0).limit(20)).all()
    assert store.floorplan_png.startswith("data:image/png;base64,")
    for h in heat:
        cells = np.array(h["cells"])
        assert h["width_cells"] == int(store.floor_width_m) and h["height_cells"] == int(store.floor_height_m)
        assert cells[:, 0].max() < h["width_cells"] and cells[:, 1].max() < h["height_cells"]
        assert sum(c[2] for cells_b in h["by_band"].values() for c in cells_b) == cells[:, 2].sum()


def test_refresh_heartbeats_touches_only_seeded_online_devices(seeded) -> None:
    engine, _summary = seeded
    with Session(engine) as s:
        s.add(HealthRecord(device_id="edge-1", store_id="real-1", status="online",
                           received_at=datetime(2026, 1, 1, tzinfo=UTC)))
        s.commit()
    before = datetime.now(UTC)
    assert seed.refresh_heartbeats(engine) == 8  # the 8 seeded devices (the first offline one is store 12)
    with engine.connect() as conn:
        rows = dict(conn.execute(select(HealthRecord.device_id, HealthRecord.received_at)).all())
    assert rows["edge-1"].year == 2026 and rows["edge-1"].month == 1
    fresh = [d for d, t in rows.items() if t.replace(tzinfo=t.tzinfo or UTC) >= before]
    assert len(fresh) == 8 and "edge-1" not in fresh


def _shop(profile: str, store_id: str = "shop-1") -> seed.SeedStore:
    fixtures = (Fixture("toys", 10, 5, 4, 3), Fixture("till", 2, 3, 4, 1.2))
    return seed.SeedStore(store_id, "Shop", profile, "Europe/London", 24.0, 20.0, fixtures, 25.0, 0.7,
                          ("toys", "checkout"))


def _under_13_share(hists: list[list[int]]) -> float:
    total = np.sum(np.array(hists), axis=0)
    return float(total[:13].sum() / total.sum())


@pytest.fixture
def registered_shop(tmp_path):
    """A store registered the normal way, with one real window inside the days to be seeded."""
    engine = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    init_db(engine)
    with Session(engine) as s:
        s.add(Store(store_id="shop-1", name="Shop", floor_width_m=24.0, floor_height_m=20.0))
        start = datetime(2026, 6, 27, 10, tzinfo=UTC)
        s.add(AggregateRecord(store_id="shop-1", device_id="shop-1-edge", camera_id="entrance", window_start=start,
                              window_end=start + timedelta(minutes=1), unique_visitors=2, age_histogram=[0] * 91))
        s.commit()
    yield engine
    engine.dispose()


@pytest.mark.parametrize(("profile", "low", "high"), [("young", 0.0, 0.03), ("family", 0.2, 0.45)])
def test_one_store_history_has_its_profile_on_its_own_plan(registered_shop, profile, low, high) -> None:
    engine = registered_shop
    args = {"days": 14, "last_day": LAST, "device_id": "shop-1-history", "camera_id": "history"}
    seed.seed_store_history(engine, _shop(profile), **args)
    summary = seed.seed_store_history(engine, _shop(profile), **args)  # twice: replaces, never doubles
    with engine.connect() as conn:
        rows = conn.execute(select(AggregateRecord.__table__).where(A.seeded.is_(True))).mappings().all()
        real = conn.execute(select(A.device_id, A.unique_visitors).where(A.seeded.is_(False))).all()
        stores = conn.scalar(select(func.count()).select_from(Store))
    assert len(rows) == summary.windows > 0 and summary.first_day == LAST - timedelta(days=13)
    assert real == [("shop-1-edge", 2)] and stores == 1  # the real window and the store row are untouched
    assert {(r["store_id"], r["device_id"], r["camera_id"]) for r in rows} == {("shop-1", "shop-1-history", "history")}
    end_of_last_day = datetime.combine(LAST + timedelta(days=1), datetime.min.time(), ZoneInfo("Europe/London"))
    assert max(r["window_end"].replace(tzinfo=UTC) for r in rows) <= end_of_last_day
    assert set().union(*(r["zone_visits"] for r in rows)) == {"toys", "checkout"}
    assert {(r["heatmap"]["width_cells"], r["heatmap"]["height_cells"]) for r in rows} == {(24, 20)}
    assert low <= _under_13_share([r["age_histogram"] for r in rows]) <= high

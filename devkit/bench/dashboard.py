"""`storelens bench dashboard`: page and callback times over a seeded history, through the full stack.

Each request goes through Flask, the log-in guard, Dash's callback dispatch and JSON serialisation
(Flask's test client, so no socket noise), exactly the body a browser sends. Pages are timed through
Dash's page-router callback, which is what builds a page's layout on navigation.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from cloud_sync.db.models import AggregateRecord

BENCH_USER, BENCH_PASSWORD = "bench-analyst", "bench-analyst-password"


@dataclass(frozen=True)
class Case:
    name: str
    outputs: tuple[tuple[str, str], ...]
    inputs: tuple[tuple[str, str, object], ...]


def _body(case: Case) -> dict:
    """The JSON a browser POSTs: a single output is named plainly, several as '..a.b...c.d..'."""
    outputs = [{"id": i, "property": p} for i, p in case.outputs]
    single = len(outputs) == 1
    return {"output": f"{case.outputs[0][0]}.{case.outputs[0][1]}" if single
            else ".." + "...".join(f"{i}.{p}" for i, p in case.outputs) + "..",
            "outputs": outputs[0] if single else outputs,
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in case.inputs],
            "changedPropIds": [f"{case.inputs[0][0]}.{case.inputs[0][1]}"], "state": []}


def _page(path: str, search: str = "") -> Case:
    return Case(f"page {path}{search}", (("_pages_content", "children"), ("_pages_store", "data")),
                (("_pages_location", "pathname", path), ("_pages_location", "search", search)))


def cases(store_id: str, last: str, week: str, quarter: str, month: str) -> list[Case]:
    """The requests a browser makes when opening and using each page."""
    seeded = ("store-seeded", "value", ["on"])
    dates = (("store-select", "value", store_id), ("store-dates", "start_date", week), ("store-dates", "end_date", last))
    long_dates = (dates[0], ("store-dates", "start_date", quarter), dates[2])
    overview = (("store-message", "children"), ("store-kpis", "children"), ("store-by-hour", "figure"),
                ("store-by-day", "figure"), ("store-dwell", "figure"), ("store-zones", "figure"),
                ("store-seeded-note", "children"))
    compare_out = (("compare-message", "children"), ("compare-table", "children"), ("compare-ranking", "figure"),
                   ("compare-trends", "figure"), ("compare-tz", "children"))
    heat = (("store-heatmap", "figure"),)
    before_after = (("ba-message", "children"), ("ba-heat-before", "figure"), ("ba-heat-after", "figure"),
                    ("ba-heat-diff", "figure"), ("ba-zones", "children"), ("ba-tz", "children"))

    def compare(start: str, key: str, value: str) -> tuple:
        return (("compare-dates", "start_date", start), ("compare-dates", "end_date", last), (key, "value", value),
                ("compare-seeded", "value", ["on"]))

    return [
        _page("/store", f"?store={store_id}"), _page("/compare"), _page("/devices"), _page("/layout"),
        Case("store overview, 7 days", overview, (*dates, seeded)),
        Case("store overview, 90 days", overview, (*long_dates, seeded)),
        Case("store today so far", (("today-note", "children"), ("today-kpis", "children")),
             (("today-refresh", "n_intervals", 1), dates[0], seeded)),
        Case("store age mix, fine, 7 days", (("store-age", "figure"), ("store-custom-bands", "title")),
             (*dates, ("store-banding", "value", "fine"), ("store-custom-bands", "value", ""), seeded)),
        Case("store heatmap, 7 days", heat,
             (*dates, ("store-heat-band", "value", "all"), ("store-heat-hours", "value", [0, 24]),
              ("store-heat-scale", "value", "fixed"), seeded)),
        Case("store heatmap, 90 days, band 18-34", heat,
             (*long_dates, ("store-heat-band", "value", "18-34"), ("store-heat-hours", "value", [9, 13]),
              ("store-heat-scale", "value", "fixed"), seeded)),
        Case("layout before/after, 2 x 7 days", before_after,
             (("ba-store", "value", store_id), ("ba-before", "start_date", month), ("ba-before", "end_date", week),
              ("ba-after", "start_date", week), ("ba-after", "end_date", last), ("ba-heat-band", "value", "all"),
              ("ba-heat-hours", "value", [0, 24]), ("ba-seeded", "value", ["on"]))),
        Case("compare table, 28 days, all stores", compare_out, compare(month, "compare-metric", "visitors_per_m2")),
        Case("compare table, 90 days, all stores", compare_out, compare(quarter, "compare-metric", "visitors_per_m2")),
        Case("compare age mix, 28 days, all stores", (("compare-mix", "figure"),),
             compare(month, "compare-banding", "coarse")),
        Case("compare age mix, 90 days, all stores", (("compare-mix", "figure"),),
             compare(quarter, "compare-banding", "fine")),
        Case("devices table", (("devices-summary", "children"), ("devices-table", "children"),
                               ("devices-filter", "options")),
             (("devices-refresh", "n_intervals", 1), ("devices-filter", "value", "all"),
              ("devices-search", "value", ""))),
    ]


def _timings(call: Callable[[], object], repeat: int) -> list[float]:
    call()  # warm caches and imports once; not counted
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def run(stores: int, days: int, repeat: int, db_dir: Path | None = None) -> Iterator[str]:
    """Seed a fresh database, then time each case `repeat` times; yields report lines."""
    from cloud_sync.db.engine import init_db, make_engine
    from dashboard.app import create_app
    from dashboard.auth import add_user
    from devkit.demo.seed import seed_history
    from storelens.config.dashboard import DashboardConfig

    with tempfile.TemporaryDirectory(dir=db_dir) as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        init_db(engine)
        t0 = time.perf_counter()
        summary = seed_history(engine, stores=stores, days=days)
        yield (f"seeded {summary.stores} stores x {days} days = {summary.windows} windows in "
               f"{time.perf_counter() - t0:.1f} s (SQLite, {Path(tmp) / 'bench.db'})")
        add_user(engine, username=BENCH_USER, password=BENCH_PASSWORD, role="analyst", store_ids=[])
        app = create_app(engine, DashboardConfig(), development=True)
        client = app.server.test_client()
        client.post("/login", data={"username": BENCH_USER, "password": BENCH_PASSWORD})
        yield f"{'request':<40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  (n={repeat}, target p95 < 1000 ms)"
        for case in cases("seed-001", *_dates(engine)):
            times = _timings(lambda c=case: _post(client, c), repeat)
            flag = "" if _p95(times) < 1000 else "  OVER TARGET"
            yield f"{case.name:<40} {statistics.median(times):8.1f} {_p95(times):8.1f} {max(times):8.1f}{flag}"
        engine.dispose()


def _dates(engine) -> tuple[str, str, str, str]:
    with engine.connect() as conn:
        last = conn.scalar(select(func.max(AggregateRecord.__table__.c.window_start))).date()
    return tuple((last - timedelta(days=d)).isoformat() for d in (0, 6, 89, 27))


def _post(client, case: Case) -> None:
    response = client.post("/_dash-update-component", json=_body(case))
    if response.status_code != 200:
        raise RuntimeError(f"{case.name}: HTTP {response.status_code}: {response.get_data(as_text=True)[:200]}")

"""The dashboard in a real headless Chromium, over a seeded SQLite database plus one live store.

Each role logs in through the form and sees numbers equal to a direct SQL query; nobody reaches
another store's data, neither through the URL nor through a forged callback. The live store's
windows and heartbeats go through the wire model and the ingest repository, as a device's would,
with a zone named 收银台. One browser and one server serve the whole module. Screenshots of every
page, at desktop and phone size and in Chinese, go to artifacts/screenshots/ for a human to look at.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import func, select
from sqlmodel import Session

from cloud_sync.db.models import AggregateRecord, Device, Store
from storelens.wire import AggregateWindow, CameraHealth, HealthMessage, ZoneStats, window_from_payload
from tests.integration.dashboard_helpers import (
    SHOTS,
    accept_language,
    chart_title,
    chart_widths,
    customdata_total,
    figure_sum,
    full_data,
    full_layout,
    login,
    no_horizontal_overflow,
    phone,
    settle,
    shot,
    start_chromium,
    titles_clear_of_modebar,
    wait_text,
    wait_until,
    z_total,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USERS = {"manager": ("maria", "maria-secret-1", ["seed-001", "live-001"]), "analyst": ("anna", "anna-secret-1", []),
         "technician": ("tom", "tom-secret-1", []), "zh": ("li", "li-secret-123", ["live-001", "seed-002"])}
A = AggregateRecord.__table__.c
LIVE = "live-001"
LIVE_ZONES = ("收银台", "入口", "new arrivals")
LIVE_FLOOR = (20.0, 16.0)
CELL_M = 0.5
POISON_START = datetime(2025, 6, 1, 12, tzinfo=UTC)


def _live_tz(now: datetime) -> str:
    """A zone where it is daytime now, so "today so far" has hours behind it whenever the test runs."""
    for tz in ("Asia/Shanghai", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Pacific/Auckland"):
        if 6 <= now.astimezone(ZoneInfo(tz)).hour <= 21:
            return tz
    return "Asia/Shanghai"


def _window(start: datetime, i: int, *, minutes: int = 15, camera: str = "door") -> AggregateWindow:
    """A live window as an edge box sends it: visitors, Unicode zones, a floor heatmap by fine band."""
    visitors = 3 + i % 5
    cells = [[4 + i % 30, 6 + i % 20, 2], [20, 10, 1 + i % 3]]
    return window_from_payload(AggregateWindow(
        store_id=LIVE, device_id="live-001-edge", camera_id=camera, window_start=start,
        window_end=start + timedelta(minutes=minutes), entries=visitors + 1, exits=visitors, unique_visitors=visitors,
        occupancy_max=2 + i % 4, frames=9000,
        zone_visits={z: ZoneStats(visits=1 + (i + k) % 3, mean_dwell_s=30.0 + 10 * k) for k, z in enumerate(LIVE_ZONES)},
        heatmap={"cell_m": CELL_M, "width_cells": 40, "height_cells": 32, "cells": cells,
                 "by_band": {"18-21": [cells[0]], "36-45": [cells[1]]}}).to_json())


def _store_live(engine, windows: list[AggregateWindow]) -> None:
    from cloud_sync.db.repository import store_windows

    with Session(engine) as session:
        store_windows(session, windows=windows)
        session.commit()


def _live_history(engine, tz: str, now: datetime) -> None:
    """Today's windows up to now, the same weekday last week all day, the seeded past, a poisoned row."""
    from devkit.demo.floorplan import Fixture, data_uri, render_png
    from devkit.demo.seed import SeedStore, seed_store_history

    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    fixtures = (Fixture("收银台 till", 2, 2, 4, 1.5), Fixture("new in", 10, 5, 4, 2), Fixture("denim", 4, 9, 3, 3))
    with Session(engine) as session:
        session.add(Store(store_id=LIVE, name="上海 南京路店", timezone=tz, area_m2=320, opening_hours_per_week=84,
                          floor_width_m=LIVE_FLOOR[0], floor_height_m=LIVE_FLOOR[1],
                          floorplan_png=data_uri(render_png(*LIVE_FLOOR, list(fixtures), (9, 11)))))
        session.commit()  # the store before its device (foreign key)
        session.add(Device(device_id="live-001-edge", store_id=LIVE, mqtt_username="live-001-edge", password_hash="x"))
        session.commit()
    start = max(local.replace(hour=0, minute=0, second=0, microsecond=0), local - timedelta(hours=3))
    start = start.replace(minute=start.minute // 15 * 15, second=0, microsecond=0)
    today = [_window((start + timedelta(minutes=15 * i)).astimezone(UTC), i)
             for i in range(12) if start + timedelta(minutes=15 * (i + 1)) <= local]
    week = datetime.combine(local.date() - timedelta(days=7), clock(0), zone)
    last_week = [_window((week + timedelta(minutes=15 * i)).astimezone(UTC), i) for i in range(24 * 4)]
    _store_live(engine, today + last_week)
    seed_store_history(engine, SeedStore(LIVE, "上海 南京路店", "young", tz, *LIVE_FLOOR, fixtures, 20.0, 0.8,
                                         LIVE_ZONES), days=14, last_day=local.date() - timedelta(days=1),
                       device_id="live-001-history", camera_id="history")
    _poison(engine)
    _heartbeat(engine, now)


def _heartbeat(engine, now: datetime | None = None) -> None:
    """The live box's heartbeat as ingest records it (and the seeded fleet's refreshed), so no device
    looks offline merely because the module has been running for a few minutes."""
    from cloud_sync.db.repository import record_health, record_status
    from devkit.demo.seed import refresh_heartbeats

    now = now or datetime.now(UTC)
    refresh_heartbeats(engine)
    cams = [CameraHealth(camera_id="door", up=True, fps=9.6, last_frame_at=now, faces_seen=120, median_face_px=62.0,
                         backlight_score=2.1, small_face_fraction=0.1),
            CameraHealth(camera_id="floor", up=True, fps=7.9, last_frame_at=now, faces_seen=80, median_face_px=24.0,
                         backlight_score=0.2, small_face_fraction=0.8)]
    with Session(engine) as session:
        record_health(session, store_id=LIVE, device_id="live-001-edge", health=HealthMessage(
            store_id=LIVE, device_id="live-001-edge", sent_at=now, software_version="0.1.0", cameras=cams,
            buffer_depth=3, buffer_oldest_age_s=1200.0, model_versions={"age": "age_v1"}))
        record_status(session, store_id=LIVE, device_id="live-001-edge", status="online")
        session.commit()


def _poison(engine) -> None:
    """A row stored before the wire capped heatmap grids: 3000 x 3000 cells declared in 256 bytes."""
    from sqlalchemy import insert

    with engine.begin() as conn:
        conn.execute(insert(AggregateRecord.__table__), [{
            "store_id": LIVE, "device_id": "old-edge", "camera_id": "cam", "window_start": POISON_START,
            "window_end": POISON_START + timedelta(minutes=15), "entries": 0, "unique_visitors": 0,
            "age_histogram": [0] * 91, "dwell_seconds_histogram": {}, "zone_visits": {}, "model_versions": {},
            "heatmap": {"cell_m": 0.5, "width_cells": 3000, "height_cells": 3000, "cells": [[2999, 2999, 50]]},
            "received_at": POISON_START}])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A seeded database, the live store, four users and the dashboard served on a free loopback port."""
    from cloud_sync.db.engine import init_db, make_engine
    from dashboard.app import create_app
    from dashboard.auth import add_user
    from dashboard.i18n.settings import set_user_language
    from dashboard.server import DashboardServer
    from devkit.demo.seed import seed_history
    from storelens.config.dashboard import DashboardConfig

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'cloud.db'}")
    init_db(engine)
    seed_history(engine, stores=4, days=21)
    now = datetime.now(UTC)
    tz = _live_tz(now)
    _live_history(engine, tz, now)
    for role, (name, password, stores) in USERS.items():
        add_user(engine, username=name, password=password, role="manager" if role == "zh" else role,
                 store_ids=stores)
    set_user_language(engine, "li", "zh_Hans")
    cfg = DashboardConfig(live_refresh_s=2)
    server = DashboardServer(create_app(engine, cfg, development=True), "127.0.0.1", 0).start()
    yield engine, server.url.rstrip("/"), tz
    server.stop()
    engine.dispose()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = start_chromium(tmp_path_factory)
    yield driver
    driver.quit()


@pytest.fixture()
def desktop(browser):
    """The shared browser as a desktop in English, whatever the previous test left."""
    phone(browser, False)
    accept_language(browser, None)
    return browser


def _login(driver, url: str, role: str) -> None:
    name, password, _stores = USERS[role]
    login(driver, url, name, password)


def _period(engine, store_id: str, days: int = 7):
    """The period the store page opens with: the last `days` local days ending with the newest data."""
    from dashboard.data import Period

    with engine.connect() as conn:
        tz = conn.scalar(select(Store.__table__.c.timezone).where(Store.__table__.c.store_id == store_id))
        latest = conn.scalar(select(func.max(A.window_start)).where(A.store_id == store_id))
    latest = latest if latest.tzinfo else latest.replace(tzinfo=UTC)
    last = min(latest.astimezone(ZoneInfo(tz)).date(), datetime.now(ZoneInfo(tz)).date())
    return Period.local_days(last - timedelta(days=days - 1), last, tz)


def _sql_sum(engine, column: str, store_id: str, period, *, seeded: bool = True) -> int:
    where = [A.store_id == store_id, A.window_start >= period.start, A.window_start < period.end]
    if not seeded:
        where.append(A.seeded.is_(False))
    with engine.connect() as conn:
        return int(conn.scalar(select(func.sum(A[column])).where(*where)) or 0)


def _sql_rows(engine, column: str, store_id: str, period) -> list:
    with engine.connect() as conn:
        return conn.scalars(select(A[column]).where(
            A.store_id == store_id, A.window_start >= period.start, A.window_start < period.end)).all()


def _number(text: str) -> int:
    return int(text.replace(",", "").strip())


# ------------------------------------------------------------------------------------------ store page


def test_manager_sees_own_store_and_numbers_equal_the_database(site, desktop) -> None:
    from selenium.webdriver.common.by import By

    engine, url, _tz = site
    browser = desktop
    _login(browser, url, "manager")
    assert browser.current_url.endswith("/store")
    browser.get(f"{url}/store?store=seed-001")
    visitors = wait_text(browser, "kpi-visitors")
    settle(browser)
    period = _period(engine, "seed-001")
    expected = _sql_sum(engine, "unique_visitors", "seed-001", period)
    assert expected > 0 and _number(visitors) == expected
    assert _number(wait_text(browser, "kpi-entries")) == _sql_sum(engine, "entries", "seed-001", period)
    assert figure_sum(browser, "store-by-day", 1) == expected  # trace 1: unique visitors per day
    assert figure_sum(browser, "store-by-hour", 0) == _sql_sum(engine, "entries", "seed-001", period)
    ages = _sql_rows(engine, "age_histogram", "seed-001", period)
    assert customdata_total(browser, "store-age") == sum(map(sum, ages))
    heat = _sql_rows(engine, "heatmap", "seed-001", period)
    days = len({w.date() for w in _local_starts(engine, "seed-001", period)})
    assert z_total(browser, "store-heatmap") == pytest.approx(sum(c[2] for m in heat for c in m["cells"]) / days)
    options = browser.execute_script("return document.querySelector('#store-select').innerText")
    assert "seed-001" in options and "seed-002" not in options
    assert "Europe/" in wait_text(browser, "store-tz")  # the page names the store's time zone
    shot(browser, "store_manager")

    browser.find_element(By.CSS_SELECTOR, "#store-banding input[value='coarse']").click()
    labels = wait_until(lambda: (full_data(browser, "store-age") or [{}])[0].get("x") == ["0-17", "18-34", "35-54",
                                                                                         "55+"], 30, "coarse bands")
    assert labels


def _local_starts(engine, store_id: str, period) -> list[datetime]:
    with engine.connect() as conn:
        tz = conn.scalar(select(Store.__table__.c.timezone).where(Store.__table__.c.store_id == store_id))
    return [(s if s.tzinfo else s.replace(tzinfo=UTC)).astimezone(ZoneInfo(tz))
            for s in _sql_rows(engine, "window_start", store_id, period)]


def test_seeded_store_and_days_are_marked_and_can_be_left_out(site, desktop) -> None:
    from selenium.webdriver.common.by import By

    engine, url, _tz = site
    browser = desktop
    _login(browser, url, "manager")
    browser.get(f"{url}/store?store=seed-001")
    assert wait_text(browser, "store-demo-badge") == "demo data"  # a seeded store carries the badge
    assert "seed-001" in browser.find_element(By.ID, "store-select").text and "demo data" in browser.find_element(
        By.ID, "store-select").text
    browser.get(f"{url}/store?store={LIVE}")
    wait_text(browser, "kpi-visitors")
    settle(browser)
    assert not browser.find_elements(By.ID, "store-demo-badge")  # the live store itself is not seeded
    assert "Demo (seeded) data on" in wait_text(browser, "store-seeded-note")
    days = full_data(browser, "store-by-day")
    period = _period(engine, LIVE)
    seeded_days = {d.date().isoformat() for d in _seeded_local_days(engine, period)}
    hatched = {x[:10] for x, p in zip(days[0]["x"], days[0]["pattern"], strict=True) if p == "/"}
    assert hatched == seeded_days and seeded_days  # exactly the seeded days are hatched
    assert any("demo (seeded)" in (t["name"] or "") for t in days)  # and the legend says what hatching means
    shot(browser, "store_live_with_seeded_days")

    all_visitors = _number(wait_text(browser, "kpi-visitors"))
    assert all_visitors == _sql_sum(engine, "unique_visitors", LIVE, period)
    browser.find_element(By.CSS_SELECTOR, "#store-seeded input").click()  # leave demo data out
    live_only = _sql_sum(engine, "unique_visitors", LIVE, period, seeded=False)
    wait_until(lambda: _number(wait_text(browser, "kpi-visitors")) == live_only, 30, "live-only visitors")
    assert live_only < all_visitors
    settle(browser)
    assert not (browser.find_element(By.ID, "store-seeded-note").text.strip())
    shot(browser, "store_live_without_seeded")


def _seeded_local_days(engine, period) -> set[datetime]:
    with engine.connect() as conn:
        tz = conn.scalar(select(Store.__table__.c.timezone).where(Store.__table__.c.store_id == LIVE))
        starts = conn.scalars(select(A.window_start).where(A.store_id == LIVE, A.seeded.is_(True),
                                                           A.window_start >= period.start,
                                                           A.window_start < period.end)).all()
    return {(s if s.tzinfo else s.replace(tzinfo=UTC)).astimezone(ZoneInfo(tz)).replace(
        hour=0, minute=0, second=0, microsecond=0) for s in starts}


def _today_sql(engine, tz: str) -> dict[str, int]:
    """Today so far and the same hours of the same weekday last week, straight from the table."""
    zone = ZoneInfo(tz)
    today = datetime.now(zone).date()
    midnight = datetime.combine(today, clock(0), zone)
    tomorrow = datetime.combine(today + timedelta(days=1), clock(0), zone)
    where = [A.store_id == LIVE, A.window_start >= midnight.astimezone(UTC), A.window_start < tomorrow.astimezone(UTC)]
    with engine.connect() as conn:
        entries, visitors, reach, peak = conn.execute(select(
            func.sum(A.entries), func.sum(A.unique_visitors), func.max(A.window_end), func.max(A.occupancy_max))
            .where(*where)).one()
        reach = (reach if reach.tzinfo else reach.replace(tzinfo=UTC)).astimezone(zone)
        elapsed = reach.replace(tzinfo=None) - midnight.replace(tzinfo=None)
        week = datetime.combine(today - timedelta(days=7), clock(0))
        week_end = (week + elapsed).replace(tzinfo=zone)
        before = conn.scalar(select(func.sum(A.entries)).where(
            A.store_id == LIVE, A.window_start >= week.replace(tzinfo=zone).astimezone(UTC),
            A.window_start < week_end.astimezone(UTC)))
        whole_week_day = conn.scalar(select(func.sum(A.entries)).where(
            A.store_id == LIVE, A.window_start >= week.replace(tzinfo=zone).astimezone(UTC),
            A.window_start < (week.replace(tzinfo=zone) + timedelta(days=1)).astimezone(UTC)))
    return {"entries": int(entries), "visitors": int(visitors), "peak": int(peak),
            "last_week_entries": int(before or 0), "last_week_whole_day": int(whole_week_day or 0)}


def test_today_updates_live_and_compares_with_the_same_hours_last_week(site, desktop) -> None:
    engine, url, tz = site
    browser = desktop
    _login(browser, url, "manager")
    browser.get(f"{url}/store?store={LIVE}")
    wait_text(browser, "kpi-today-entries")
    settle(browser)
    browser.execute_script("window.__noReload = 'still here';")  # gone if the page reloads
    sql = _today_sql(engine, tz)
    assert _number(wait_text(browser, "kpi-today-entries")) == sql["entries"] > 0
    assert _number(wait_text(browser, "kpi-today-visitors")) == sql["visitors"] > 0  # counted on arrival
    assert _number(wait_text(browser, "kpi-today-peak")) == sql["peak"]
    change = (sql["entries"] - sql["last_week_entries"]) / sql["last_week_entries"]
    assert f"{change:+.0%}".replace("+0%", "0%") in wait_text(browser, "kpi-today-entries-delta")
    assert sql["last_week_entries"] < sql["last_week_whole_day"]  # a full day would have been the wrong base
    assert tz in wait_text(browser, "today-note")
    shot(browser, "store_today_live")

    zone = ZoneInfo(tz)
    local = datetime.now(zone)
    late = local.replace(second=0, microsecond=0) - timedelta(minutes=1)
    _store_live(engine, [_window(late.astimezone(UTC), 7, minutes=1, camera="door2")])  # a window arrives
    new = _today_sql(engine, tz)
    assert new["entries"] > sql["entries"]
    wait_until(lambda: _number(wait_text(browser, "kpi-today-entries")) == new["entries"], 30, "live entries update")
    assert _number(wait_text(browser, "kpi-today-visitors")) == new["visitors"]
    assert browser.execute_script("return window.__noReload;") == "still here"


def test_manager_url_for_another_store_shows_nothing(site, desktop) -> None:
    engine, url, _tz = site
    browser = desktop
    _login(browser, url, "manager")
    browser.get(f"{url}/store?store=seed-002")
    assert "no access to store seed-002" in wait_text(browser, "not-allowed")
    settle(browser)
    page = browser.find_element("tag name", "body").text
    total_002 = _sql_sum(engine, "unique_visitors", "seed-002", _period(engine, "seed-002"))
    assert f"{total_002:,}" not in page
    assert "Choose a store you have access to." in page
    shot(browser, "store_manager_forbidden")
    browser.get(f"{url}/compare")
    assert "no access to the store comparison" in wait_text(browser, "not-allowed")


def _forge(url: str, cookies: dict, store_id: str, start: str, end: str) -> requests.Response:
    """The store page's overview callback, as the browser would POST it, for any store id."""
    outputs = [("store-message", "children"), ("store-kpis", "children"), ("store-by-hour", "figure"),
               ("store-by-day", "figure"), ("store-dwell", "figure"), ("store-zones", "figure"),
               ("store-seeded-note", "children")]
    body = {"output": ".." + "...".join(f"{i}.{p}" for i, p in outputs) + "..",
            "outputs": [{"id": i, "property": p} for i, p in outputs],
            "inputs": [{"id": "store-select", "property": "value", "value": store_id},
                       {"id": "store-dates", "property": "start_date", "value": start},
                       {"id": "store-dates", "property": "end_date", "value": end},
                       {"id": "store-seeded", "property": "value", "value": ["on"]}],
            "changedPropIds": ["store-select.value"], "state": []}
    return requests.post(f"{url}/_dash-update-component", json=body, cookies=cookies, timeout=60)


def _heat_request(url: str, cookies: dict, store_id: str, start: str, end: str) -> requests.Response:
    body = {"output": "store-heatmap.figure", "outputs": {"id": "store-heatmap", "property": "figure"},
            "inputs": [{"id": "store-select", "property": "value", "value": store_id},
                       {"id": "store-dates", "property": "start_date", "value": start},
                       {"id": "store-dates", "property": "end_date", "value": end},
                       {"id": "store-heat-band", "property": "value", "value": "all"},
                       {"id": "store-heat-hours", "property": "value", "value": [0, 24]},
                       {"id": "store-heat-scale", "property": "value", "value": "fixed"},
                       {"id": "store-seeded", "property": "value", "value": ["on"]}],
            "changedPropIds": ["store-select.value"], "state": []}
    return requests.post(f"{url}/_dash-update-component", json=body, cookies=cookies, timeout=60)


def test_forged_callback_for_another_store_returns_nothing(site, desktop) -> None:
    engine, url, _tz = site
    browser = desktop
    _login(browser, url, "manager")
    wait_text(browser, "kpi-visitors")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    period = _period(engine, "seed-002", days=21)
    start, end = period.start.date().isoformat(), (period.end.date() - timedelta(days=1)).isoformat()

    own = _forge(url, cookies, "seed-001", start, end)
    assert own.status_code == 200 and '"kpi-visitors"' in own.text  # the request shape is right
    forged = _forge(url, cookies, "seed-002", start, end)
    assert forged.status_code == 200
    payload = json.loads(forged.text)["response"]
    assert payload["store-message"]["children"] == "Choose a store you have access to."
    assert payload["store-kpis"]["children"] == []
    for graph in ("store-by-hour", "store-by-day", "store-dwell", "store-zones"):
        assert payload[graph]["figure"]["data"] == []
    assert _forge(url, {}, "seed-001", start, end).status_code == 401  # no cookie, no data at all


def test_an_oversized_stored_heatmap_grid_is_left_out_not_sent(site, desktop) -> None:
    """A 3000 x 3000 grid stored before the wire bounds made every heatmap view 111 MB."""
    engine, url, _tz = site
    browser = desktop
    _login(browser, url, "manager")
    wait_text(browser, "kpi-visitors")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    day = POISON_START.date().isoformat()
    reply = _heat_request(url, cookies, LIVE, (POISON_START.date() - timedelta(days=400)).isoformat(),
                          date.today().isoformat())
    assert reply.status_code == 200
    assert len(reply.content) < 2_000_000, f"heatmap reply is {len(reply.content)} bytes"
    z = json.loads(reply.text)["response"]["store-heatmap"]["figure"]["data"][0]["z"]
    rows = z if isinstance(z, list) else None
    assert rows is None or len(rows) <= LIVE_FLOOR[1] / CELL_M  # cropped to the store's floor
    only = _heat_request(url, cookies, LIVE, day, day)  # the poisoned window alone: nothing to draw
    figure = json.loads(only.text)["response"]["store-heatmap"]["figure"]
    assert figure["data"] == [] and "No floor positions" in figure["layout"]["annotations"][0]["text"]


# ------------------------------------------------------------------------------------ layout before/after


def test_layout_before_after_shares_one_colour_scale_and_compares_zones(site, desktop) -> None:
    from selenium.webdriver.common.by import By

    from dashboard.data import Period

    engine, url, _tz = site
    browser = desktop
    _login(browser, url, "manager")
    browser.get(f"{url}/layout?store={LIVE}")
    wait_text(browser, "ba-zones-table")
    settle(browser)
    before, after = full_data(browser, "ba-heat-before")[0], full_data(browser, "ba-heat-after")[0]
    assert before["zmin"] == after["zmin"] == 0 and before["zmax"] == after["zmax"] > 0  # one fixed scale
    top = max(max((v for r in t["z"] for v in r if v is not None), default=0) for t in (before, after))
    assert before["zmax"] == pytest.approx(top)
    diff = full_data(browser, "ba-heat-diff")[0]
    assert diff["zmin"] == -diff["zmax"]  # diverging, centred on zero
    title = chart_title(browser, "ba-heat-before")
    assert "all visitors" in title and "all day" in title and "–" in title  # band, hours, period

    tz = ZoneInfo(_tz)
    start_b, end_b = _dates_shown(browser, "ba-after")
    period_b = Period.local_days(start_b, end_b, _tz)
    zones_b = _sql_zone_visits(engine, period_b)
    days_b = len({(s if s.tzinfo else s.replace(tzinfo=UTC)).astimezone(tz).date()
                  for s in _sql_rows(engine, "window_start", LIVE, period_b)})
    rows = browser.find_elements(By.CSS_SELECTOR, "#ba-zones-table tbody tr")
    shown = {r.find_elements(By.TAG_NAME, "td")[0].text: float(r.find_elements(By.TAG_NAME, "td")[2].text.replace(",", ""))
             for r in rows}
    assert "收银台" in shown  # a Unicode zone name from the wire, as written
    for name, visits in zones_b.items():
        assert shown[name] == pytest.approx(round(visits / days_b, 1), abs=0.05)
    shot(browser, "layout_before_after")

    browser.find_element(By.CSS_SELECTOR, "#ba-banding input[value='coarse']").click()
    _pick(browser, "ba-heat-band", "18-34")
    wait_until(lambda: "18-35" in (chart_title(browser, "ba-heat-before") or ""), 30,
               "band in the title")
    title = chart_title(browser, "ba-heat-before")
    assert "nearest recorded bands to 18-34" in title  # heat is stored per fine band: said, not hidden
    b2, a2 = full_data(browser, "ba-heat-before")[0], full_data(browser, "ba-heat-after")[0]
    assert b2["zmax"] == a2["zmax"]


def _sql_zone_visits(engine, period) -> dict[str, int]:
    out: dict[str, int] = {}
    for zones in _sql_rows(engine, "zone_visits", LIVE, period):
        for name, stats in zones.items():
            out[name] = out.get(name, 0) + stats["visits"]
    return out


def _pick(browser, dropdown_id: str, label: str) -> None:
    """Choose an option of a dcc.Dropdown by its visible label, as a user clicks it."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, dropdown_id).click()
    menu = wait_until(lambda: browser.find_element(By.ID, dropdown_id).get_attribute("aria-controls"), 10,
                      f"#{dropdown_id} open")
    options = wait_until(lambda: [o for o in browser.find_elements(By.CSS_SELECTOR, f"[id='{menu}'] [role=option]")
                                  if o.text.strip() == label], 10, f"option {label!r} in #{dropdown_id}")
    options[0].click()


def test_store_heatmap_title_states_the_filter_and_keeps_its_scale(site, desktop) -> None:
    from selenium.webdriver.common.by import By

    engine, url, _tz = site
    browser = desktop
    _login(browser, url, "manager")
    browser.get(f"{url}/store?store=seed-001")
    wait_text(browser, "kpi-visitors")
    settle(browser)
    title = chart_title(browser, "store-heatmap")
    assert "all visitors" in title and "all day" in title
    zmax = full_data(browser, "store-heatmap")[0]["zmax"]
    options = browser.execute_script("return document.querySelector('#store-heat-band').innerText")
    assert "All visitors" in options
    _pick(browser, "store-heat-band", "22-25")  # a fine band
    wait_until(lambda: "ages 22-25" in (chart_title(browser, "store-heatmap") or ""), 30,
               "fine band in the title")
    assert full_data(browser, "store-heatmap")[0]["zmax"] == pytest.approx(zmax)  # same colours, other filter
    slider = browser.find_elements(By.CSS_SELECTOR, "#store-heat-hours [role='slider']")
    assert len(slider) == 2
    shot(browser, "store_heatmap_fine_band")
    image_px = browser.execute_script(
        "const i = document.querySelector('#store-heatmap .layer-below image, #store-heatmap image');"
        "return i ? i.getBoundingClientRect().width : 0;")
    from devkit.demo.floorplan import LABEL_HEIGHT_FRACTION

    assert image_px * LABEL_HEIGHT_FRACTION >= 11, f"fixture labels {image_px * LABEL_HEIGHT_FRACTION:.1f} px"


# --------------------------------------------------------------------------------------------- compare


def test_analyst_compares_store_local_days_and_exports_what_is_shown(site, desktop) -> None:
    from selenium.webdriver.common.by import By

    from dashboard.data import Period

    engine, url, _tz = site
    browser = desktop
    _login(browser, url, "analyst")
    assert browser.current_url.endswith("/compare")
    wait_text(browser, "compare-kpi-table")
    settle(browser)
    first, last = _dates_shown(browser, "compare-dates")
    rows = browser.find_elements(By.CSS_SELECTOR, "#compare-kpi-table tbody tr")
    assert len(rows) == 5
    shown = {r.find_elements(By.TAG_NAME, "td")[1].text: _number(r.find_elements(By.TAG_NAME, "td")[3].text)
             for r in rows}
    with engine.connect() as conn:
        zones = dict(conn.execute(select(Store.__table__.c.store_id, Store.__table__.c.timezone)).all())
    expected = {s: _sql_sum(engine, "unique_visitors", s, Period.local_days(first, last, zones[s])) for s in shown}
    assert shown == expected  # each store over its own local days
    assert "local days" in wait_text(browser, "compare-tz") and "Europe/Berlin" in wait_text(browser, "compare-tz")
    badges = browser.find_elements(By.CSS_SELECTOR, "#compare-kpi-table tr.seeded .badge.demo")
    assert len(badges) == 4  # the four seeded stores, not the live one
    trend = chart_title(browser, "compare-trends")
    assert "top 5 of 5 stores" in trend
    if "partial weeks left out" not in trend:
        assert (last - first).days < 13 or (first.weekday() == 0 and last.weekday() == 6)
    ticks = full_layout(browser, "compare-trends", "xaxis.ticktext") or []
    assert len(ticks) == len(set(ticks)) > 0
    shot(browser, "compare_analyst")

    browser.find_element(By.ID, "compare-csv-button").click()
    files = wait_until(lambda: list(Path(browser.downloads).glob("*.csv")), 30, "CSV download")
    with files[0].open() as fh:
        exported = {r["store_id"]: int(float(r["unique_visitors"])) for r in csv.DictReader(fh)}
    assert exported == shown
    shutil.copy(files[0], SHOTS / "compare_export.csv")


def _dates_shown(browser, range_id: str) -> tuple[date, date]:
    """The two dates a dcc.DatePickerRange shows (its start input carries the id, the end input id-end-date)."""
    values = browser.execute_script(f"return [document.getElementById('{range_id}').value,"
                                    f" document.getElementById('{range_id}-end-date').value];")
    return date.fromisoformat(values[0]), date.fromisoformat(values[1])


def _set_dates(browser, range_id: str, first: date, last: date) -> None:
    """Type both dates into a dcc.DatePickerRange, as a user would, and leave it."""
    from selenium.webdriver.common.keys import Keys

    for box_id, value in ((range_id, first), (f"{range_id}-end-date", last)):
        box = browser.find_element("id", box_id)
        box.click()
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(value.isoformat())
        box.send_keys(Keys.ENTER)
        time.sleep(0.3)
    browser.find_element("tag name", "body").send_keys(Keys.ESCAPE)
    wait_until(lambda: _dates_shown(browser, range_id) == (first, last), 10, f"#{range_id} shows {first}..{last}")


def _future_days_offered(browser, range_id: str, today: date) -> list[str]:
    """Open the calendar and list the enabled days after `today` in the months it shows."""
    from selenium.webdriver.common.keys import Keys

    browser.find_element("id", range_id).click()
    wait_until(lambda: browser.find_elements("css selector", ".dash-datepicker-content td"), 10, "calendar")
    # The last month shown is today's month (the picker opens on the chosen range, which ends today at most).
    offered = browser.execute_script(
        "const tables = document.querySelectorAll('.dash-datepicker-content table');"
        "const last = tables[tables.length - 1]; if (!last) return null;"
        "return Array.from(last.querySelectorAll('td.dash-datepicker-calendar-date-inside'))"
        " .filter(td => td.getAttribute('aria-disabled') !== 'true').map(td => Number(td.textContent.trim()));")
    browser.find_element("tag name", "body").send_keys(Keys.ESCAPE)
    assert offered, "no calendar month found"
    return [f"day {d}" for d in offered if d > today.day]


def test_compare_one_day_empty_range_and_no_future_dates(site, desktop) -> None:
    engine, url, _tz = site
    browser = desktop
    _login(browser, url, "analyst")
    wait_text(browser, "compare-kpi-table")
    settle(browser)
    with engine.connect() as conn:
        zones = set(conn.scalars(select(Store.__table__.c.timezone)))
    furthest = max(datetime.now(ZoneInfo(tz)).date() for tz in zones)  # the newest "today" among the stores
    _set_dates(browser, "compare-dates", furthest - timedelta(days=3), furthest)
    assert _future_days_offered(browser, "compare-dates", furthest) == []

    with engine.connect() as conn:
        latest = conn.scalar(select(func.max(A.window_start)).where(A.seeded.is_(True)))
    one = (latest if latest.tzinfo else latest.replace(tzinfo=UTC)).date() - timedelta(days=2)
    _set_dates(browser, "compare-dates", one, one)
    wait_until(lambda: len(full_layout(browser, "compare-trends", "xaxis.ticktext") or []) == 1, 30, "one tick")
    assert "Daily visitors" in chart_title(browser, "compare-trends")
    shot(browser, "compare_one_day")

    _set_dates(browser, "compare-dates", date(2025, 1, 6), date(2025, 1, 7))  # long before any data
    wait_text(browser, "compare-message", contains="No visitor data")
    settle(browser)
    assert full_layout(browser, "compare-trends", "xaxis.visible") is False  # no axes drawn from January
    assert full_layout(browser, "compare-ranking", "xaxis.visible") is False
    shot(browser, "compare_empty_range")


# --------------------------------------------------------------------------------------------- devices


def test_technician_sees_numbers_advice_filter_and_detail(site, desktop) -> None:
    from selenium.webdriver.common.by import By

    from dashboard.advice import face_advice

    engine, url, _tz = site
    browser = desktop
    _heartbeat(engine)
    _login(browser, url, "technician")
    assert browser.current_url.endswith("/devices")
    summary = wait_text(browser, "devices-count")
    settle(browser)
    assert summary.startswith("6 cameras on 5 devices")
    problem_rows = browser.find_elements(By.CSS_SELECTOR, "#devices-kpi-table tr.problem")
    text = " ".join(r.text for r in problem_rows)
    assert "backlit faces" in text and "faces too small" in text
    colour = problem_rows[0].find_element(By.TAG_NAME, "td").value_of_css_property("background-color")
    assert colour != "rgba(0, 0, 0, 0)"
    door = browser.find_element(By.ID, "device-row-live-001-edge-door").text
    assert "62 px" in door and "2.1 stops" in door and "9.6" in door and "3 windows" in door
    expected = face_advice({"faces_seen": 120, "median_face_px": 62.0, "backlight_score": 2.1,
                            "small_face_fraction": 0.1})
    assert expected and expected[0].startswith("Faces are 2.1 stops darker")
    assert expected[0] in door  # the very sentence `storelens camera check` prints, from the same code
    demo = browser.find_element(By.ID, "device-row-seed-001-edge-entrance").text
    assert "demo device" in demo and "demo device" not in door
    assert "local time" in wait_text(browser, "devices-tz")
    shot(browser, "devices_technician")

    _pick(browser, "devices-filter", "faces too small")

    def rows() -> list[tuple[str, str]]:  # read in one go: the table re-renders on every refresh
        return browser.execute_script("return Array.from(document.querySelectorAll('#devices-kpi-table tbody tr'))"
                                      ".map(r => [r.id, r.innerText]);")

    wait_until(lambda: rows() and all("faces too small" in text for _id, text in rows()), 30, "filtered rows")
    ids = [row_id for row_id, _text in rows()]
    assert "device-row-live-001-edge-floor" in ids and "device-row-live-001-edge-door" not in ids
    shot(browser, "devices_filtered")

    browser.get(f"{url}/devices?device=live-001-edge")
    assert wait_text(browser, "device-title").startswith("live-001-edge")
    small = face_advice({"faces_seen": 80, "median_face_px": 24.0, "backlight_score": 0.2,
                         "small_face_fraction": 0.8})
    assert small[0] in wait_text(browser, "advice-floor") and "24 px" in small[0]
    assert expected[0] in wait_text(browser, "advice-door")
    shot(browser, "device_detail")
    browser.get(f"{url}/store?store=seed-001")
    assert "no access to store pages" in wait_text(browser, "not-allowed")


# ------------------------------------------------------------------------------------------- Chinese


CHINESE_ON_STORE = ("今日截至目前", "独立访客", "每日访客", "楼层热力图", "门店")


MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December")


def _open_calendar(browser, range_id: str) -> str:
    """Open a date range picker and return its month headers' text."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, range_id).click()  # Dash gives the id to the start date's input
    return wait_until(lambda: " ".join(e.text for e in browser.find_elements(
        By.CSS_SELECTOR, ".dash-datepicker-calendar-month-header") if e.text.strip()), 20, "the calendar")


def test_chinese_user_setting_and_browser_default(site, desktop) -> None:
    from selenium.webdriver.common.by import By

    engine, url, tz = site
    browser = desktop
    login(browser, url, "li", "li-secret-123")  # language saved on the user: zh_Hans
    assert browser.current_url.endswith("/store")
    wait_text(browser, "kpi-visitors")
    settle(browser)
    body = browser.find_element(By.TAG_NAME, "body").text
    for words in CHINESE_ON_STORE:
        assert words in body, words
    for english in ("Today so far", "Unique visitors", "Log out", "Selected dates"):
        assert english not in body, english
    assert browser.execute_script("return document.documentElement.lang") == "zh-Hans"
    assert full_layout(browser, "store-by-day", "title.text") == "每日访客"
    zones = full_data(browser, "store-zones")[0]["y"]
    assert "收银台" in zones  # a Unicode zone name through wire, database and chart
    period = _period(engine, LIVE)
    assert _number(wait_text(browser, "kpi-visitors")) == _sql_sum(engine, "unique_visitors", LIVE, period)
    ticks = full_layout(browser, "store-by-day", "xaxis.ticktext")
    assert ticks and all("日" in t for t in ticks)  # dates localised (6月1日, 1日周一)
    assert "月" in _open_calendar(browser, "store-dates")  # the date picker's month names too (十二月)
    shot(browser, "store_zh_calendar")
    browser.get(f"{url}/store?store={LIVE}")
    wait_text(browser, "kpi-visitors")
    settle(browser)
    shot(browser, "store_zh")
    browser.get(f"{url}/layout?store={LIVE}")
    wait_text(browser, "ba-zones-table")
    settle(browser)
    assert "调整前" in browser.find_element(By.TAG_NAME, "body").text
    shot(browser, "layout_zh")

    _pick(browser, "lang-select", "English")  # the user changes the setting: saved, page reloads
    wait_until(lambda: "Layout before/after" in (browser.execute_script(  # read in one go: the page reloads
        "return document.body ? document.body.innerText : ''") or ""), 30, "English page")
    from dashboard.i18n.settings import user_language

    assert user_language(engine, "li") == "en"

    browser.get(f"{url}/store?store={LIVE}")
    wait_text(browser, "kpi-visitors")
    header = _open_calendar(browser, "store-dates")
    assert "月" not in header and any(m in header for m in MONTHS_EN), header

    _heartbeat(engine)
    accept_language(browser, "zh-CN,zh;q=0.9,en;q=0.5")  # a user without a setting: the browser decides
    _login(browser, url, "technician")
    wait_text(browser, "devices-count", contains="摄像头")
    settle(browser)
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "设备" in page and "处理建议" in page and "人脸比背景暗 2.1 档" in page  # shared advice, translated
    shot(browser, "devices_zh")
    accept_language(browser, None)
    browser.get(f"{url}/devices")
    wait_text(browser, "devices-count", contains="cameras")


# --------------------------------------------------------------------------------------------- phone


PHONE_PAGES = (("manager", "/store?store=live-001", "kpi-visitors", "phone_store"),
               ("manager", "/layout?store=live-001", "ba-zones-table", "phone_layout"),
               ("analyst", "/compare", "compare-kpi-table", "phone_compare"),
               ("technician", "/devices", "devices-count", "phone_devices"),
               ("technician", "/devices?device=live-001-edge", "device-title", "phone_device_detail"))


def test_phone_pages_fit_one_column_without_overflow(site, browser) -> None:
    engine, url, _tz = site
    _heartbeat(engine)
    accept_language(browser, None)
    phone(browser, True)
    try:
        browser.delete_all_cookies()
        browser.get(f"{url}/login")
        assert browser.execute_script("return !!document.querySelector('meta[name=viewport]')")
        scroll, inner = no_horizontal_overflow(browser)
        assert inner == 390 and scroll <= inner
        shot(browser, "phone_login")
        for role, path, ready, name in PHONE_PAGES:
            _login(browser, url, role)
            browser.get(f"{url}{path}")
            wait_text(browser, ready)
            settle(browser)
            assert browser.execute_script("return !!document.querySelector('meta[name=viewport]')")
            scroll, inner = no_horizontal_overflow(browser)
            assert inner == 390 and scroll <= inner, f"{path}: page is {scroll} px wide on a {inner} px phone"
            widths = chart_widths(browser)
            assert all(w >= 300 for w in widths.values()), f"{path}: charts narrower than 300 px: {widths}"
            assert not titles_clear_of_modebar(browser), f"{path}: titles under the toolbar or clipped"
            shot(browser, name)
    finally:
        phone(browser, False)


def test_wrong_password_is_refused(site, desktop) -> None:
    _engine, url, _tz = site
    browser = desktop
    browser.delete_all_cookies()
    browser.get(f"{url}/login")
    browser.find_element("id", "username").send_keys("maria")
    browser.find_element("id", "password").send_keys("not-her-password")
    browser.find_element("id", "login-button").click()
    assert "wrong password" in wait_text(browser, "login-error")
    browser.get(f"{url}/store")
    assert browser.current_url.endswith("/login")

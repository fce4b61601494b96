"""Sales on the dashboard in a real headless Chromium: the POS upload (a bad file refused with its
line, nothing imported; a good one imported), the conversion numbers equal to SQL, the store page's
CSV download equal to the page and the API, Compare's conversion by store, and every page rendering
under the Content-Security-Policy with no violation. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import csv
import time
from datetime import UTC, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import func, select

from cloud_sync.db.models import AggregateRecord, PosHour
from tests.integration.dashboard_helpers import (
    SHOTS,
    figure_sum,
    login,
    settle,
    shot,
    start_chromium,
    wait_text,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

A = AggregateRecord.__table__.c
P = PosHour.__table__.c
USERS = {"manager": ("maria", "maria-secret-1", ["seed-001"]), "analyst": ("anna", "anna-secret-1", []),
         "technician": ("tom", "tom-secret-1", [])}
# Collects CSP violations from the first script of every document, before the page's own scripts.
CSP_PROBE = ("window.__csp = []; document.addEventListener('securitypolicyviolation', e => "
             "window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from cloud_sync.db.engine import init_db, make_engine
    from dashboard.app import create_app
    from dashboard.auth import add_user
    from dashboard.server import DashboardServer
    from devkit.demo.seed import seed_history
    from storelens.config.dashboard import DashboardConfig

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('sales') / 'cloud.db'}")
    init_db(engine)
    seed_history(engine, stores=3, days=14)
    for role, (name, password, stores) in USERS.items():
        add_user(engine, username=name, password=password, role=role, store_ids=stores)
    server = DashboardServer(create_app(engine, DashboardConfig(), development=True), "127.0.0.1", 0).start()
    yield engine, server.url.rstrip("/")
    server.stop()
    engine.dispose()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = start_chromium(tmp_path_factory)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_PROBE})
    yield driver
    driver.quit()


def _login(driver, url: str, role: str) -> None:
    name, password, _stores = USERS[role]
    login(driver, url, name, password)


def _violations(driver) -> list[str]:
    return driver.execute_script("return window.__csp || []")


def _last_days(engine, store_id: str = "seed-001", n: int = 3):
    with engine.connect() as conn:
        latest = conn.scalar(select(func.max(A.window_start)).where(A.store_id == store_id))
    latest = latest if latest.tzinfo else latest.replace(tzinfo=UTC)
    last = latest.astimezone(ZoneInfo("Europe/Berlin")).date()
    return [last - timedelta(days=i) for i in range(n - 1, -1, -1)]


def _upload(driver, path: Path) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.CSS_SELECTOR, "#pos-upload input[type=file]")
    driver.execute_script("arguments[0].style.display = 'block';", field)  # react-dropzone hides it
    field.send_keys(str(path))


def _pos_rows(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(PosHour.__table__))


def _sql_conversion(engine, store_id: str) -> tuple[int, int]:
    """(transactions, entries in the hours with POS data), straight from the tables."""
    with engine.connect() as conn:
        hours = conn.execute(select(P.hour_start, P.transactions).where(P.store_id == store_id)).all()
        entries = 0
        for start, _tx in hours:
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
            entries += conn.scalar(select(func.coalesce(func.sum(A.entries), 0)).where(
                A.store_id == store_id, A.window_start >= start, A.window_start < start + timedelta(hours=1)))
    return sum(tx for _h, tx in hours), int(entries)


def test_manager_uploads_pos_data_and_sees_conversion(site, browser, tmp_path):
    engine, url = site
    _login(browser, url, "manager")
    assert browser.current_url.endswith("/store")
    empty = wait_text(browser, "sales-message")
    assert "No sales (POS) data for this store yet" in empty and "storelens cloud pos import" in empty
    settle(browser)
    shot(browser, "sales_empty_manager")

    days = _last_days(engine)
    header = "store_id,hour_start,transactions,revenue,currency\n"
    bad = tmp_path / "till-bad.csv"
    bad.write_text(header + f"seed-001,{days[0]} 10:00,12,100.50,EUR\nseed-001,{days[0]} 11:00,many,,\n"
                   f"seed-002,{days[0]} 10:00,3,,\n")
    _upload(browser, bad)
    problems = wait_text(browser, "pos-upload-error")
    assert "till-bad.csv: nothing imported" in problems
    assert "line 3: transactions 'many' is not a whole number" in problems
    assert "line 4: store_id 'seed-002' is not a store you may import into" in problems  # not her store
    assert _pos_rows(engine) == 0
    shot(browser, "sales_upload_refused")

    good = tmp_path / "till.csv"
    good.write_text(header + "".join(f"seed-001,{d} {h:02d}:00,{(h * 7 + i) % 23 + 5},{h * 12.5:.2f},EUR\n"
                                     for i, d in enumerate(days) for h in range(10, 19)))
    _upload(browser, good)
    assert "27 hours imported for seed-001" in wait_text(browser, "pos-upload-ok")
    transactions, entries = _sql_conversion(engine, "seed-001")
    assert entries > 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and wait_text(browser, "kpi-transactions").replace(",", "") != str(transactions):
        time.sleep(0.3)
    settle(browser)
    assert int(wait_text(browser, "kpi-transactions").replace(",", "")) == transactions
    assert int(wait_text(browser, "kpi-entries-with-pos").replace(",", "")) == entries
    shown = float(wait_text(browser, "kpi-conversion").rstrip("%"))
    assert abs(shown - 100 * transactions / entries) <= 0.5
    assert figure_sum(browser, "sales-by-day", 1) == transactions  # trace 1: transactions per day
    assert figure_sum(browser, "sales-by-day", 0) == entries
    shot(browser, "sales_conversion_manager")
    assert _violations(browser) == []


def test_store_page_csv_download_equals_the_page_and_the_api(site, browser):
    from selenium.webdriver.common.by import By

    engine, url = site
    _login(browser, url, "manager")
    page_entries = int(wait_text(browser, "kpi-entries").replace(",", ""))
    page_visitors = int(wait_text(browser, "kpi-visitors").replace(",", ""))
    link = browser.find_element(By.ID, "download-counts-day")
    href = link.get_attribute("href")
    assert "/api/v1/stores/seed-001/counts?" in href and "format=csv" in href
    for old in Path(browser.downloads).glob("*.csv"):
        old.unlink()
    link.click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(Path(browser.downloads).glob("*counts-day*.csv")):
        time.sleep(0.3)
    files = list(Path(browser.downloads).glob("*counts-day*.csv"))
    assert files, "CSV download did not arrive"
    with files[0].open() as fh:
        rows = list(csv.DictReader(fh))
    assert sum(int(r["entries"]) for r in rows) == page_entries
    assert sum(int(r["unique_visitors"]) for r in rows) == page_visitors
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    api = requests.get(href.replace("format=csv", "format=json"), cookies=cookies, timeout=30).json()["rows"]
    assert [{k: str(v) for k, v in r.items()} for r in api] == rows
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "store_counts_day.csv").write_bytes(files[0].read_bytes())


def test_analyst_compares_conversion_by_store(site, browser):
    from selenium.webdriver.common.by import By

    engine, url = site
    if _pos_rows(engine) == 0:  # run alone: import the same kind of data through the product's import
        from cloud_sync import pos

        days = _last_days(engine)
        text = "store_id,hour_start,transactions\n" + "".join(f"seed-001,{d} {h:02d}:00,9\n" for d in days
                                                              for h in range(10, 19))
        pos.import_csv(engine, text, allowed_stores=None, source="test")
    _login(browser, url, "analyst")
    wait_text(browser, "compare-conversion-table")
    settle(browser)
    row = browser.find_element(By.ID, "compare-conversion-row-seed-001").find_elements(By.TAG_NAME, "td")
    transactions, entries = _sql_conversion(engine, "seed-001")
    assert int(row[3].text.replace(",", "")) == transactions and int(row[4].text.replace(",", "")) == entries
    assert abs(float(row[2].text.rstrip("%")) - 100 * transactions / entries) <= 0.5
    others = browser.find_element(By.ID, "compare-conversion-row-seed-002").text
    assert "no sales data" in others
    browser.execute_script("document.getElementById('compare-sales').scrollIntoView()")
    shot(browser, "compare_conversion_analyst")
    assert _violations(browser) == []


@pytest.mark.parametrize(("role", "path", "ready"), [
    ("manager", "/store", "kpi-visitors"), ("analyst", "/compare", "compare-kpi-table"),
    ("technician", "/devices", "devices-count"), (None, "/login", "login-button")])
def test_pages_render_under_the_csp_without_violations(site, browser, role, path, ready):
    _engine, url = site
    if role:
        _login(browser, url, role)
    else:
        browser.delete_all_cookies()
    browser.get(f"{url}{path}")
    wait_text(browser, ready) if role else browser.find_element("id", ready)
    settle(browser)
    if path in ("/store", "/compare"):
        plots = browser.execute_script("return document.querySelectorAll('.js-plotly-plot .main-svg').length")
        assert plots > 0  # plotly drew (its injected styles are allowed)
    assert _violations(browser) == [], f"CSP violations on {path}"
    policy = requests.get(f"{url}/login", timeout=10).headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in policy


def test_an_injected_inline_script_is_blocked(site, browser):
    _engine, url = site
    _login(browser, url, "manager")
    wait_text(browser, "kpi-visitors")
    browser.execute_script("const s = document.createElement('script'); s.textContent = 'window.__pwned = 1';"
                           "document.body.appendChild(s);")
    time.sleep(0.5)
    assert browser.execute_script("return window.__pwned === undefined")
    assert any("script-src" in v for v in _violations(browser))

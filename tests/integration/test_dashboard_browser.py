"""The dashboard in a real headless Chromium, over a seeded SQLite database.

Each role logs in through the form, sees numbers equal to a direct SQL query, and cannot reach
another store's data, neither through the URL nor through a forged callback request carrying a valid
session cookie. Screenshots of every page go to artifacts/screenshots/ for a human to look at.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from cloud_sync.db.models import AggregateRecord
from storelens.paths import PROJECT_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
USERS = {"manager": ("maria", "maria-secret-1", ["seed-001"]), "analyst": ("anna", "anna-secret-1", []),
         "technician": ("tom", "tom-secret-1", [])}
A = AggregateRecord.__table__.c


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A seeded database, three users and the dashboard served on a free loopback port."""
    from cloud_sync.db.engine import init_db, make_engine
    from dashboard.app import create_app
    from dashboard.auth import add_user
    from dashboard.server import DashboardServer
    from devkit.demo.seed import seed_history
    from storelens.config.dashboard import DashboardConfig

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'cloud.db'}")
    init_db(engine)
    seed_history(engine, stores=4, days=21)
    for role, (name, password, stores) in USERS.items():
        add_user(engine, username=name, password=password, role=role, store_ids=stores)
    server = DashboardServer(create_app(engine, DashboardConfig(), development=True), "127.0.0.1", 0).start()
    yield engine, server.url.rstrip("/")
    server.stop()
    engine.dispose()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium / chromium-driver not installed: run ./dev setup")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,1800",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.downloads = downloads
    yield driver
    driver.quit()


def _login(driver, url: str, role: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{url}/login")
    name, password, _stores = USERS[role]
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-button").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and driver.current_url.endswith("/login"):
        time.sleep(0.1)  # the form POST and the redirect take a moment


def _wait_text(driver, element_id: str, timeout: float = 60.0) -> str:
    """Text of an element once it is present and non-empty (callbacks have answered)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = driver.find_element(By.ID, element_id).text.strip()
        except (NoSuchElementException, StaleElementReferenceException):
            text = ""
        if text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"#{element_id} did not appear within {timeout} s on {driver.current_url}")


def _settle(driver, timeout: float = 60.0) -> None:
    """Wait until no Dash callback is pending and no loading spinner shows, then a little more for plots."""
    deadline = time.monotonic() + timeout
    script = ("return !!document.querySelector('._dash-loading-callback, .dash-spinner, "
              "[data-dash-is-loading=\"true\"]');")
    while time.monotonic() < deadline and driver.execute_script(script):
        time.sleep(0.2)
    time.sleep(1.0)


def _shot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def _figure_sum(driver, graph_id: str, trace: int) -> float:
    # _fullData holds what plotly.js actually drew (binary-encoded arrays already decoded).
    values = driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        f"return g && g._fullData && g._fullData[{trace}] ? Array.from(g._fullData[{trace}].y) : null;")
    assert values is not None, f"no plotted data in #{graph_id}"
    return float(sum(v for v in values if v is not None))


def _trace_values(driver, graph_id: str, attr: str) -> list[float]:
    """Sum of one attribute (customdata, z) over all traces plotly.js drew, NaN and null skipped."""
    total = driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot'); if (!g || !g._fullData) return null;"
        f"let s = 0; for (const t of g._fullData) {{ const v = t['{attr}']; if (!v) continue;"
        f" for (const row of v) {{ for (const x of (row && row.length !== undefined ? row : [row]))"
        f" {{ if (x !== null && !Number.isNaN(x)) s += Number(x); }} }} }} return s;")
    assert total is not None, f"no plotted data in #{graph_id}"
    return [round(total)]


def _sql_age_histogram(engine, store_id: str, period) -> list[int]:
    with engine.connect() as conn:
        hists = conn.scalars(select(A.age_histogram).where(
            A.store_id == store_id, A.window_start >= period.start, A.window_start < period.end)).all()
    return [sum(col) for col in zip(*hists, strict=True)]


def _sql_heat_total(engine, store_id: str, period) -> int:
    with engine.connect() as conn:
        maps = conn.scalars(select(A.heatmap).where(
            A.store_id == store_id, A.window_start >= period.start, A.window_start < period.end)).all()
    return sum(c[2] for m in maps for c in m.get("cells", []))


def _store_period(engine, store_id: str, days: int = 7):
    """The period the store page opens with: the last `days` local days ending with the newest data."""
    from dashboard.auth import Principal
    from dashboard.data import Period, stores

    tz = stores(engine, Principal("t", "analyst", ()), [store_id]).iloc[0]["timezone"]
    with engine.connect() as conn:
        latest = conn.scalar(select(func.max(A.window_start)).where(A.store_id == store_id))
    from zoneinfo import ZoneInfo

    last = latest.astimezone(ZoneInfo(tz)).date() if latest.tzinfo else latest.date()
    return Period.local_days(last - timedelta(days=days - 1), last, tz)


def _sql_sum(engine, column: str, store_id: str, period) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.sum(A[column])).where(
            A.store_id == store_id, A.window_start >= period.start, A.window_start < period.end)) or 0)


def test_manager_sees_own_store_and_numbers_equal_the_database(site, browser) -> None:
    engine, url = site
    _login(browser, url, "manager")
    assert browser.current_url.endswith("/store")
    visitors = _wait_text(browser, "kpi-visitors")
    _settle(browser)
    period = _store_period(engine, "seed-001")
    expected = _sql_sum(engine, "unique_visitors", "seed-001", period)
    assert expected > 0
    assert int(visitors.replace(",", "")) == expected
    assert int(_wait_text(browser, "kpi-entries").replace(",", "")) == _sql_sum(engine, "entries", "seed-001", period)
    assert _figure_sum(browser, "store-by-day", 1) == expected  # trace 1: unique visitors per day
    assert _figure_sum(browser, "store-by-hour", 0) == _sql_sum(engine, "entries", "seed-001", period)
    assert _trace_values(browser, "store-age", "customdata") == [
        sum(x) for x in [_sql_age_histogram(engine, "seed-001", period)]]
    assert _trace_values(browser, "store-heatmap", "z") == [_sql_heat_total(engine, "seed-001", period)]
    options = browser.execute_script("return document.querySelector('#store-select').innerText")
    assert "seed-001" in options and "seed-002" not in options
    _shot(browser, "store_manager")

    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, "#store-banding input[value='coarse']").click()
    deadline = time.monotonic() + 30
    labels = []
    while time.monotonic() < deadline and labels != ["0-17", "18-34", "35-54", "55+"]:
        time.sleep(0.3)
        labels = browser.execute_script(
            "const g = document.querySelector('#store-age .js-plotly-plot');"
            "return g && g._fullData && g._fullData[0] ? Array.from(g._fullData[0].x) : [];")
    assert labels == ["0-17", "18-34", "35-54", "55+"]


def test_manager_url_for_another_store_shows_nothing(site, browser) -> None:
    engine, url = site
    _login(browser, url, "manager")
    browser.get(f"{url}/store?store=seed-002")
    assert "no access to store seed-002" in _wait_text(browser, "not-allowed")
    _settle(browser)
    page = browser.find_element("tag name", "body").text
    total_002 = _sql_sum(engine, "unique_visitors", "seed-002", _store_period(engine, "seed-002"))
    assert f"{total_002:,}" not in page
    assert "Choose a store you have access to." in page
    _shot(browser, "store_manager_forbidden")
    browser.get(f"{url}/compare")
    assert "no access to the store comparison" in _wait_text(browser, "not-allowed")


def _forge(url: str, cookies: dict, store_id: str, start: str, end: str) -> requests.Response:
    """The store page's overview callback, as the browser would POST it, for any store id."""
    outputs = [("store-message", "children"), ("store-kpis", "children"), ("store-by-hour", "figure"),
               ("store-by-day", "figure"), ("store-dwell", "figure"), ("store-zones", "figure")]
    body = {"output": ".." + "...".join(f"{i}.{p}" for i, p in outputs) + "..",
            "outputs": [{"id": i, "property": p} for i, p in outputs],
            "inputs": [{"id": "store-select", "property": "value", "value": store_id},
                       {"id": "store-dates", "property": "start_date", "value": start},
                       {"id": "store-dates", "property": "end_date", "value": end}],
            "changedPropIds": ["store-select.value"], "state": []}
    return requests.post(f"{url}/_dash-update-component", json=body, cookies=cookies, timeout=60)


def test_forged_callback_for_another_store_returns_nothing(site, browser) -> None:
    engine, url = site
    _login(browser, url, "manager")
    _wait_text(browser, "kpi-visitors")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    period = _store_period(engine, "seed-002", days=21)
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


def test_analyst_compares_all_stores_and_exports_what_is_shown(site, browser) -> None:
    from selenium.webdriver.common.by import By

    engine, url = site
    _login(browser, url, "analyst")
    assert browser.current_url.endswith("/compare")
    _wait_text(browser, "compare-kpi-table")
    _settle(browser)
    rows = browser.find_elements(By.CSS_SELECTOR, "#compare-kpi-table tbody tr")
    assert len(rows) == 4
    shown = {r.find_elements(By.TAG_NAME, "td")[1].text: int(r.find_elements(By.TAG_NAME, "td")[3].text.replace(",", ""))
             for r in rows}
    from dashboard.data import Period

    with engine.connect() as conn:
        latest = conn.scalar(select(func.max(A.window_start)))
    last = latest.astimezone(UTC).date()
    period = Period.local_days(last - timedelta(days=27), last, "UTC")  # the page opens on 28 UTC days
    assert shown == {s: _sql_sum(engine, "unique_visitors", s, period) for s in shown}
    _shot(browser, "compare_analyst")

    browser.find_element(By.ID, "compare-csv-button").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(Path(browser.downloads).glob("*.csv")):
        time.sleep(0.3)
    files = list(Path(browser.downloads).glob("*.csv"))
    assert files, "CSV download did not arrive"
    with files[0].open() as fh:
        exported = {r["store_id"]: int(float(r["unique_visitors"])) for r in csv.DictReader(fh)}
    assert exported == shown
    shutil.copy(files[0], SHOTS / "compare_export.csv")


def test_technician_sees_devices_with_problems_standing_out(site, browser) -> None:
    from selenium.webdriver.common.by import By

    _engine, url = site
    _login(browser, url, "technician")
    assert browser.current_url.endswith("/devices")
    summary = _wait_text(browser, "devices-count")
    _settle(browser)
    assert summary.startswith("4 cameras on 4 devices")
    problem_rows = browser.find_elements(By.CSS_SELECTOR, "#devices-kpi-table tr.problem")
    text = " ".join(r.text for r in problem_rows)
    assert "backlit faces" in text  # seed-004 is seeded as backlit (index 3)
    colour = problem_rows[0].find_element(By.TAG_NAME, "td").value_of_css_property("background-color")
    assert colour != "rgba(0, 0, 0, 0)"
    _shot(browser, "devices_technician")
    browser.get(f"{url}/store?store=seed-001")
    assert "no access to store pages" in _wait_text(browser, "not-allowed")


def test_wrong_password_is_refused(site, browser) -> None:
    _engine, url = site
    browser.delete_all_cookies()
    browser.get(f"{url}/login")
    browser.find_element("id", "username").send_keys("maria")
    browser.find_element("id", "password").send_keys("not-her-password")
    browser.find_element("id", "login-button").click()
    assert "wrong password" in _wait_text(browser, "login-error")
    browser.get(f"{url}/store")
    assert browser.current_url.endswith("/login")

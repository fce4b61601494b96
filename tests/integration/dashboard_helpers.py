"""Shared pieces of the dashboard browser tests: headless Chromium, log-in, waiting, plotted data.

Every helper reads what plotly.js actually drew (`_fullData`, `_fullLayout`) or what the page
shows, never the server's intermediate values.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from storelens.paths import PROJECT_ROOT

SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def start_chromium(tmp_path_factory, window: str = "1400,1800"):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium / chromium-driver not installed: run ./dev setup")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--window-size={window}", "--lang=en-US",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False,
                                           "intl.accept_languages": "en-US,en"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.downloads = downloads
    driver.execute_cdp_cmd("Network.enable", {})
    return driver


def accept_language(driver, value: str | None) -> None:
    """Send this Accept-Language from now on (None: the browser's own, en-US)."""
    headers = {"Accept-Language": value} if value else {}
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})


def phone(driver, on: bool) -> None:
    """Emulate a 390 x 844 phone (viewport meta honoured, touch) or go back to the desktop window."""
    if on:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
        driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
    else:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})


def login(driver, url: str, name: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{url}/login")
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-button").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and driver.current_url.endswith("/login"):
        time.sleep(0.1)  # the form POST and the redirect take a moment


def wait_text(driver, element_id: str, timeout: float = 60.0, contains: str = "") -> str:
    """Text of an element once it is present and non-empty (and holds `contains`)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = driver.find_element(By.ID, element_id).text.strip()
        except (NoSuchElementException, StaleElementReferenceException):
            text = ""
        if text and contains in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"#{element_id} did not show {contains!r} within {timeout} s on {driver.current_url}: "
                         f"{text!r}")


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} not met within {timeout} s (last: {value!r})")


def settle(driver, timeout: float = 60.0) -> None:
    """Wait until no Dash callback is pending and no loading spinner shows, then a little more for plots."""
    deadline = time.monotonic() + timeout
    script = ("return !!document.querySelector('._dash-loading-callback, .dash-spinner, "
              "[data-dash-is-loading=\"true\"]');")
    while time.monotonic() < deadline and driver.execute_script(script):
        time.sleep(0.2)
    time.sleep(1.0)


def shot(driver, name: str, full_page: bool = True) -> Path:
    """A screenshot of the whole page (not just the window), for a human to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    if full_page:
        import base64

        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        data = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "captureBeyondViewport": True, "fromSurface": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 12000), "scale": 1}})
        path.write_bytes(base64.b64decode(data["data"]))
    else:
        driver.save_screenshot(str(path))
    return path


def full_data(driver, graph_id: str) -> list[dict] | None:
    """The traces plotly.js drew in #graph_id (arrays as plain lists)."""
    return driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "if (!g || !g._fullData) return null;"
        "return g._fullData.map(t => ({type: t.type, name: t.name, x: t.x ? Array.from(t.x) : null,"
        " y: t.y ? Array.from(t.y) : null, zmin: t.zmin, zmax: t.zmax, customdata: t.customdata ?"
        " Array.from(t.customdata) : null, pattern: t.marker && t.marker.pattern ? t.marker.pattern.shape : null,"
        " z: t.z ? Array.from(t.z).map(r => r && r.length !== undefined ? Array.from(r) : r) : null}));")


def full_layout(driver, graph_id: str, path: str) -> object:
    """One value of what plotly.js laid out, e.g. 'xaxis.ticktext' or 'title.text'."""
    return driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "if (!g || !g._fullLayout) return null; let v = g._fullLayout;"
        f"for (const k of {path.split('.')!r}) {{ v = v == null ? null : v[k]; }}"
        "return v && v.length !== undefined && typeof v !== 'string' ? Array.from(v) : v;")


def chart_title(driver, graph_id: str) -> str:
    """The title and subtitle plotly.js drew, as one string ("" before the chart is drawn)."""
    parts = (full_layout(driver, graph_id, "title.text"), full_layout(driver, graph_id, "title.subtitle.text"))
    return " · ".join(p for p in parts if p)


def figure_sum(driver, graph_id: str, trace: int) -> float:
    data = full_data(driver, graph_id)
    assert data is not None and len(data) > trace, f"no plotted data in #{graph_id}"
    return float(sum(v for v in data[trace]["y"] if v is not None))


def z_total(driver, graph_id: str) -> float:
    """Sum of every heat cell plotly.js drew (NaN and null skipped)."""
    total = driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot'); if (!g || !g._fullData) return null;"
        "let s = 0; for (const t of g._fullData) { if (!t.z) continue; for (const row of t.z)"
        " for (const x of row) if (x !== null && !Number.isNaN(x)) s += Number(x); } return s;")
    assert total is not None, f"no plotted data in #{graph_id}"
    return float(total)


def customdata_total(driver, graph_id: str) -> float:
    data = full_data(driver, graph_id)
    assert data, f"no plotted data in #{graph_id}"
    return float(sum(v for t in data for v in (t["customdata"] or []) if v is not None))


def no_horizontal_overflow(driver) -> tuple[int, int]:
    return driver.execute_script("return [document.scrollingElement.scrollWidth, window.innerWidth];")


def chart_widths(driver) -> dict[str, float]:
    return driver.execute_script(
        "const out = {}; for (const g of document.querySelectorAll('.js-plotly-plot')) {"
        " const host = g.closest('[id]'); out[host ? host.id : '?'] = g.getBoundingClientRect().width; }"
        " return out;")


def titles_clear_of_modebar(driver) -> list[str]:
    """Ids of charts whose title box overlaps the toolbar box (both laid out even when hidden)."""
    return driver.execute_script(
        "const bad = []; for (const g of document.querySelectorAll('.js-plotly-plot')) {"
        " const t = g.querySelector('.gtitle'); const m = g.querySelector('.modebar');"
        " if (!t || !m) continue; const a = t.getBoundingClientRect(), b = m.getBoundingClientRect();"
        " const overlap = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;"
        " const edge = g.getBoundingClientRect().right + 1;"
        " const sub = g.querySelector('.gtitle-subtitle');"
        " const clipped = a.right > edge || (sub && sub.getBoundingClientRect().right > edge);"
        " if (overlap || clipped) bad.push((g.closest('[id]') || {}).id || '?'); } return bad;")

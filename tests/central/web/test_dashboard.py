"""The dashboard in a real headless Chromium against a real central on the 177 kelurahan of
Semarang and a real Mosquitto with its WebSocket listener: what the page draws, which layer
colours what, what each view shows and asks for, and both window sizes.

Every wait is bounded (dashboard_fixtures.WAIT_S); skips with the reason without the shared area
files, Chromium, chromedriver or Mosquitto.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from selenium.webdriver.common.by import By

from tests.central.web.dashboard_fixtures import (
    KEL_CAM,
    KEL_FEW,
    KEL_SILENT,
    City,
    chromium,
    console_errors,
    kelurahan,
    open_dashboard,
    requested_urls,
    wait_for,
)

# The page's bins (central/web/static/dashboard/colour.js), restated as the test's oracle.
COMPLIANCE = [(0.95, "#1a9850"), (0.85, "#91cf60"), (0.70, "#fee08b"), (0.50, "#fc8d59"),
              (0.0, "#d73027")]  # fmt: skip
CASES = [(150, "#7f0000"), (50, "#d7301f"), (20, "#fc8d59"), (0.0001, "#fdd49e"), (0, "#fff7ec")]
NO_CASE_DATA = "#dcdcdc"
OPERATOR_PATHS = ("/cameras", "/agents", "/alerts", "/live/ops", "/summaries/camera", "/gaps",
                  "/windows", "/metrics", "/quarantine")  # fmt: skip


def binned(value: float, bins: list[tuple[float, str]]) -> str:
    return next(colour for low, colour in bins if value >= low)


def outside(urls: list[str], city: City, broker_ws: str | None = None) -> list[str]:
    """Requests to anywhere but the page's origin and the broker (browser-internal ones aside)."""
    own = urlsplit(city.url).netloc
    ws = urlsplit(broker_ws).netloc if broker_ws else None
    out = []
    for u in urls:
        parts = urlsplit(u)
        if parts.scheme in ("chrome", "data", "blob", "about", "chrome-extension"):
            continue
        if parts.scheme in ("http", "https") and parts.netloc == own:
            continue
        if parts.scheme in ("ws", "wss") and parts.netloc == ws:
            continue
        out.append(u)
    return out


def test_public_view(city: City, browser: Any) -> None:
    open_dashboard(browser, city, "public")
    wait_for(browser, "return document.getElementById('conn').dataset.state === 'http'",
             what="the public view's live stream")  # fmt: skip
    # All 177 kelurahan, each a path tagged with its code.
    codes = browser.execute_script(
        "return [...document.querySelectorAll('path.kel')].map(p => p.dataset.code)"
    )
    assert len(codes) == len(set(codes)) == 177
    assert browser.execute_script("return document.querySelectorAll('.kec-outline').length") > 0
    # The cameras' kelurahan: its colour and figure (45 of 50 masked = 90 %).
    cam = kelurahan(browser, KEL_CAM)
    payload = city.svc.board.get("kelurahan", KEL_CAM).payload
    assert payload["periods"]["recent"]["compliance"] == 0.9
    assert cam["status"] == "ok" and cam["fill"] == binned(0.9, COMPLIANCE)
    assert cam["label"] == "90 %" and cam["row"] == "90 %" and cam["title"] == "Bugangan: 90 %"
    # On the map too: few areas have a figure, so their labels show at city zoom.
    label = browser.execute_script(
        "const l = document.querySelector(`.fig[data-code='${arguments[0]}']`);"
        "return l && getComputedStyle(l).display !== 'none' && l.textContent", KEL_CAM)  # fmt: skip
    assert label == "90 %"
    assert browser.execute_script("return document.querySelectorAll('.fig').length") == 1
    # Too few people, a silent camera, no camera: grey and said so, never 0 %.
    few, silent = kelurahan(browser, KEL_FEW), kelurahan(browser, KEL_SILENT)
    assert few["status"] == "few" and few["label"] == "orang terlalu sedikit"
    assert silent["status"] == "silent" and silent["label"] == "kamera tidak melapor"
    states = browser.execute_script(
        "return [...document.querySelectorAll('path.kel')].map(p => [p.dataset.status, "
        "p.dataset.label, p.getAttribute('fill')])")  # fmt: skip
    assert sum(s == "nocam" for s, _, _ in states) == 174
    for status, label, fill in states:
        if status != "ok":
            assert "%" not in label and fill in ("#8f8f8f", "#b5b5b5", "#dcdcdc"), (status, label)
    # The public view holds no camera, agent or alert detail, and asked for none.
    html = browser.page_source
    for secret in ("box-a", "box-b", "cam1", "decisions", "pt-cameras", city.token):
        assert secret not in html, secret
    urls = requested_urls(browser)
    assert not [u for u in urls if urlsplit(u).path.startswith(OPERATOR_PATHS)]
    assert not outside(urls, city), "requests outside the page's origin"
    assert not any(u.startswith("ws") for u in urls), "the public view uses the HTTP stream"
    assert console_errors(browser) == []


def test_cases_layer_colours_by_weekly_rate(city: City, browser: Any) -> None:
    open_dashboard(browser, city, "public")
    browser.find_element(By.CSS_SELECTOR, "input[name=layer][value=cases]").click()
    fills = dict(browser.execute_script(
        "return [...document.querySelectorAll('path.kel')].map(p => [p.dataset.code, "
        "p.getAttribute('fill')])"))  # fmt: skip
    rated = 0
    for s in city.svc.board.of_level("kelurahan"):
        rate = ((s.payload.get("civic") or {}).get("cases") or {}).get("weekly_rate_per_100k")
        want = NO_CASE_DATA if rate is None else binned(rate, CASES)
        rated += rate is not None
        assert fills[s.key] == want, (s.key, rate)
    assert rated >= 3, "the civic data give several kelurahan a weekly rate"
    cam, few, silent = (kelurahan(browser, k) for k in (KEL_CAM, KEL_FEW, KEL_SILENT))
    assert cam["fill"] == binned(123.46, CASES) and cam["label"].startswith("123,5 / 100.000")
    assert few["fill"] == binned(30, CASES) and few["label"].startswith("30,0 / 100.000")
    assert silent["fill"] == binned(0, CASES) and silent["label"].startswith("0,0 / 100.000")
    assert len({cam["fill"], few["fill"], silent["fill"], NO_CASE_DATA}) == 4
    # Hospitals (bed occupancy) and pharmacies low on masks, as the civic tables have them.
    points = httpx.get(f"{city.url}/dashboard/api/points", timeout=10).json()
    low = [p for p in points["pharmacies"] if p["low_mask_stock"]]
    assert points["hospitals"] and low
    for kind, count in (("hospitals", len(points["hospitals"])), ("pharmacies", len(low))):
        assert browser.execute_script(f"return document.querySelectorAll('.pt-{kind}').length") == 0
        browser.find_element(By.ID, f"ov-{kind}").click()
        shown = browser.execute_script(f"return document.querySelectorAll('path.pt-{kind}').length")
        assert shown == count, kind
    # The legend follows the layer; back to compliance restores the figure.
    assert "≥ 150" in browser.find_element(By.ID, "legend").text
    browser.find_element(By.CSS_SELECTOR, "input[name=layer][value=compliance]").click()
    assert kelurahan(browser, KEL_CAM)["label"] == "90 %"


def test_panel_and_language(city: City, browser: Any) -> None:
    open_dashboard(browser, city, "public")
    browser.execute_script(
        "document.querySelector(`path.kel[data-code='${arguments[0]}']`)"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))", KEL_CAM)  # fmt: skip
    wait_for(browser, "return document.getElementById('panel-title')?.textContent.includes("
             "'Bugangan')", what="the area panel")  # fmt: skip
    panel = browser.find_element(By.ID, "panel-figures").text
    assert "Kelurahan Bugangan" in panel and "90 %" in panel
    assert "Orang terlihat" in panel and "50" in panel  # people seen in 20 minutes
    assert "2 / 2" in panel  # cameras reporting / expected
    assert "Interval 95 %" in panel and "Kasus aktif" in panel and "Level PPKM" in panel
    # The kecamatan from the crumbs, then the switch to English.
    browser.find_element(By.CSS_SELECTOR, ".crumbs a[data-level=kecamatan]").click()
    assert "Kecamatan Semarang Timur" in browser.find_element(By.ID, "panel-title").text
    browser.find_element(By.ID, "lang").click()
    assert kelurahan(browser, KEL_FEW)["label"] == "too few people"
    assert "People seen" in browser.find_element(By.ID, "panel-figures").text
    assert browser.execute_script("return document.documentElement.lang") == "en"
    assert console_errors(browser) == []


def test_operations_view(city: City, browser: Any) -> None:
    open_dashboard(browser, city, "ops")
    wait_for(browser, "return document.getElementById('conn').dataset.state === 'mqtt'",
             what="MQTT over WebSockets")  # fmt: skip
    wait_for(browser, "return document.querySelectorAll('path.pt-cameras').length === 4",
             what="the four cameras")  # fmt: skip
    health = dict(browser.execute_script(
        "return [...document.querySelectorAll('path.pt-cameras')].map(p => [p.dataset.id, "
        "p.getAttribute('fill')])"))  # fmt: skip
    assert health == {"box-a/cam1": "#1a9850", "box-a/cam2": "#1a9850",
                      "box-b/cam1": "#1a9850", "box-c/cam1": "#777777"}  # fmt: skip
    assert browser.find_element(By.ID, "decisions").is_displayed()
    urls = requested_urls(browser)
    assert not outside(urls, city, city.broker.ws_url)
    assert any(u.startswith(str(city.broker.ws_url)) for u in urls)
    assert console_errors(browser) == []


def test_operations_view_refuses_a_bad_token(city: City, browser: Any) -> None:
    open_dashboard(browser, city, "ops", token="not-a-token", ready=False)
    # The page reloads into the form again, saying why; nothing operator-only was drawn.
    wait_for(browser, "return !document.getElementById('token-form').hidden && "
             "document.getElementById('token-msg').textContent.includes('401')",
             what="the refusal")  # fmt: skip
    assert browser.execute_script("return document.querySelectorAll('path.kel').length") == 0


def test_window_sizes(city: City, tmp_path: Any) -> None:
    for width, height in ((1366, 768), (390, 844)):
        drv = chromium(tmp_path / f"w{width}", width=width, height=height)
        try:
            open_dashboard(drv, city, "public")
            box = drv.execute_script(
                "const m = document.getElementById('map').getBoundingClientRect();"
                "const s = document.getElementById('side').getBoundingClientRect();"
                "return {mw: m.width, mh: m.height, st: s.top, sl: s.left, sw: s.width,"
                " iw: innerWidth, ih: innerHeight,"
                " scroll: document.documentElement.scrollWidth}")  # fmt: skip
            assert box["scroll"] <= box["iw"], f"{width}: the page scrolls sideways"
            assert box["mh"] >= 0.45 * box["ih"], box
            if width >= 1000:  # side by side, both on screen
                assert box["mw"] >= 0.6 * box["iw"] and box["sl"] + box["sw"] <= box["iw"] + 1
            else:  # stacked: the map the full width, the panel below it
                assert box["mw"] >= box["iw"] - 2 and box["st"] >= box["mh"]
            assert console_errors(drv) == []
        finally:
            drv.quit()

"""The city page (/kota) in a real headless Chromium, served by central's real API server over
the demo's civic data (the sample files moved to today and the demo's four weeks of synthetic
history): no console error, no request outside the page's origin, every section drawn, nothing
wider than the screen at 1366×768 or on a phone, and the language switch works without script.

Needs Debian's chromium and chromium-driver and selenium (the dev extra); skips otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from central.api.app import ApiContext, create_app
from central.areas import CameraRegistry
from central.civic.common import AreaCodes
from central.civic.samples import load_samples
from central.service import ApiServer
from central.store.engine import make_engine
from central.store.migrations import migrate
from central.summaries import SummaryBoard
from demo.civic_history import CASES_END, MARKETS, load_history
from tests.central.web.dashboard_fixtures import chromium, console_errors, requested_urls

SECTIONS = ("cases", "entries", "staples", "aid", "health")
# The kelurahan the sample files and the demo's history name (a registry of their own: the test
# needs no ../shared).
CODES = AreaCodes(kota="33.74", kelurahan=frozenset(
    {*CASES_END, "33.74.01.1003", *(kel for _, kel in MARKETS.values())}))  # fmt: skip
NETWORK = ("http", "https", "ws", "wss", "ftp")
SIZES = {"ops screen": (1366, 768), "phone": (390, 844)}


@pytest.fixture
def demo_data(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'central.sqlite3'}")
    migrate(engine)
    now = datetime.now(ZoneInfo("Asia/Jakarta"))
    load_samples(engine, CODES, now=now)
    load_history(engine, CODES, now.date())
    yield engine
    engine.dispose()


@pytest.fixture
def site(demo_data: Engine) -> Iterator[str]:
    ctx = ApiContext(engine=demo_data, board=SummaryBoard(), cameras=CameraRegistry())
    server = ApiServer(create_app(ctx), "127.0.0.1", 0)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _layout(drv: Any) -> dict[str, Any]:
    return dict(
        drv.execute_script("""
        const sec = {};
        for (const s of document.querySelectorAll('main > section')) {
          sec[s.id] = {svgs: s.querySelectorAll('svg.chart').length,
                       empty: s.querySelectorAll('.empty').length,
                       height: s.getBoundingClientRect().height};
        }
        return {lang: document.documentElement.lang, sections: sec,
                overflow: document.documentElement.scrollWidth - window.innerWidth,
                scripts: document.scripts.length};
    """)
    )


@pytest.mark.parametrize("size", SIZES)
def test_city_page_in_chromium(site: str, tmp_path: Path, size: str) -> None:
    drv = chromium(tmp_path, width=SIZES[size][0], height=SIZES[size][1])
    try:
        requested_urls(drv), console_errors(drv)  # drop the browser's own start-up entries
        drv.get(f"{site}/kota")
        page = _layout(drv)
        assert page["lang"] == "id" and page["scripts"] == 0
        assert sorted(page["sections"]) == sorted(SECTIONS)
        for name, sec in page["sections"].items():
            assert sec["empty"] == 0, f"{name}: empty with the demo's data"
            assert sec["height"] > 80, name
        charts = {k: v["svgs"] for k, v in page["sections"].items()}
        # cases and recovery rate; per day and per entry point; price and stock for each of the
        # four commodities; one chart per aid item (three)
        assert charts == {"cases": 2, "entries": 2, "staples": 8, "aid": 3, "health": 0}
        assert page["overflow"] <= 0, f"{page['overflow']} px wider than the {size}"
        text = drv.find_element("tag name", "body").text
        assert "Tingkat kesembuhan" in text and "Pemerintah pusat" in text and "Rp " in text

        drv.find_element("id", "lang-switch").click()  # a plain link: no script needed
        english = _layout(drv)
        assert english["lang"] == "en" and english["sections"].keys() == page["sections"].keys()
        assert "Recovery rate" in drv.find_element("tag name", "body").text

        assert console_errors(drv) == []
        origin = urlsplit(site)
        # network requests only: chrome:// pages are the browser's own (its new-tab page)
        foreign = [u for u in requested_urls(drv) if urlsplit(u).scheme in NETWORK
                   and urlsplit(u).netloc != origin.netloc]  # fmt: skip
        assert foreign == []
    finally:
        drv.quit()

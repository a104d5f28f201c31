"""GET /kota: the public city page (cases, people entering, staple goods, aid, beds, pharmacies).

Public like `/summaries/city`, `/reports` and `/opendata`: city-wide aggregates of the civic
modules that the open data publishes anyway, no camera, agent or alert. Server-rendered HTML
(central/web/city_view.py) with a Content-Security-Policy that allows no script and no request
outside the page itself, so the page cannot leak a visitor to a third party even if a stored
name carried markup (names are escaped as well).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from central.api.dashboard import latest_report
from central.api.params import ApiDay
from central.web.city import DEFAULT_DAYS, MAX_DAYS, MIN_DAYS, Window, city_figures
from central.web.city_view import Links, render_city

CITY_PAGE_PATH = "/kota"
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")  # fmt: skip


def local_today(timezone: str = "Asia/Jakarta") -> date:
    """Today in the city (the civic rows are dated in local days)."""
    return datetime.now(ZoneInfo(timezone)).date()


def _report_link(day: str | None) -> str | None:
    return None if day is None else f"/reports/{day}?format=html"


def city_page_router(engine: Engine, *, report_dir: Path | None = None,
                     today: Callable[[], date] = local_today,
                     dashboard: str = "/dashboard") -> APIRouter:  # fmt: skip
    """GET /kota?lang=id|en&days=7..92&end=YYYY-MM-DD."""
    router = APIRouter()

    @router.get(CITY_PAGE_PATH, response_class=HTMLResponse,
                summary="The city page: civic figures over a window, in Bahasa Indonesia "
                "(lang=en for English)")  # fmt: skip
    def city_page(
        lang: Annotated[Literal["id", "en"], Query()] = "id",
        days: Annotated[int, Query(ge=MIN_DAYS, le=MAX_DAYS)] = DEFAULT_DAYS,
        end: Annotated[ApiDay | None, Query(description="last day shown (default: today)")] = None,
    ) -> HTMLResponse:
        last = end or today()
        figures = city_figures(engine, Window.ending(last, days))
        links = Links(dashboard=dashboard, report=_report_link(latest_report(report_dir)),
                      opendata="/opendata/datadictionary.json")  # fmt: skip
        html = render_city(figures, lang, days=days, links=links)
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP,
                                           "X-Content-Type-Options": "nosniff"})  # fmt: skip

    return router

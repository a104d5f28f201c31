"""The dashboard's pages, static files and the two small reads only it needs.

- GET /dashboard: the public view (citizens): the area summaries the open data publishes anyway,
  the civic layers, no cameras, agents or alerts;
- GET /dashboard/ops: the operations view: the same page, which asks for a read token, keeps it
  in the tab's sessionStorage and sends it as `Authorization: Bearer` to the operator endpoints
  (/cameras, /alerts, /live/ops, this router's config with the broker credential). The page holds
  nothing secret: without a valid token the operator endpoints answer 401;
- GET /dashboard/static/{path}: the page's files (central/web/static/), vendored libraries
  included (their manifest: central/web/static/vendor/manifest.json);
- GET /dashboard/api/config?view=public|ops: tiles, the browser-facing broker URL and, for the
  operations view only (read token), the dashboard's MQTT credential; where its live stream is;
- GET /dashboard/api/points: hospitals (isolation beds and occupancy, at their kelurahan's
  centroid: the beds rows carry no coordinates) and pharmacies (mask and sanitizer stock, low or
  not) for the map's point layers: what the city's own COVID-19 site publishes per hospital.

Every page answer carries a Content-Security-Policy naming only this origin, the broker's
WebSocket URL and the tile server: the browser itself refuses anything else.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, Response
from sqlalchemy import Engine, select

from central.api.access import Credentials, ReadAccess
from central.civic import read
from central.config import DashboardSection
from central.rules.model import DEFAULT_RULES
from central.store import schema
from siaga.wire import DEFAULT_PREFIX

STATIC = Path(__file__).resolve().parents[1] / "web" / "static"
PAGE = STATIC / "dashboard" / "index.html"
REPORT_NAME = re.compile(r"^siaga-report-(\d{4}-\d{2}-\d{2})\.html$")
MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".json": "application/json",
         "": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8"}  # fmt: skip


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url if "://" in url else f"https:{url}")
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(section: DashboardSection) -> str:
    """Own origin only, plus the broker's WebSocket and the tile server when configured."""
    connect = " ".join(filter(None, ["'self'", _origin(section.mqtt_ws_url)]))
    img = " ".join(filter(None, ["'self'", "data:", _origin(section.tile_url)]))
    # Leaflet and uPlot position elements through element.style (CSSOM), which style-src
    # governs only for attributes; 'unsafe-inline' there allows no script. mqtt.js runs its
    # keep-alive timer in a worker made from a blob (timers in a background tab are throttled).
    return (f"default-src 'self'; script-src 'self'; connect-src {connect}; img-src {img}; "
            "style-src 'self' 'unsafe-inline'; font-src 'self'; worker-src 'self' blob:; "
            "object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'none'")  # fmt: skip


def latest_report(report_dir: Path | None) -> str | None:
    """Date of the newest HTML daily report written, or None."""
    if report_dir is None or not report_dir.is_dir():
        return None
    days = [m[1] for p in report_dir.iterdir() if (m := REPORT_NAME.match(p.name))]
    return max(days, default=None)


def dashboard_router(engine: Engine, section: DashboardSection, access: ReadAccess, *,
                     report_dir: Path | None = None,
                     low_mask_stock: int | None = None,
                     timezone: str = "Asia/Jakarta") -> APIRouter:  # fmt: skip
    """The dashboard's routes (see the module docstring); nothing when section.enabled is off."""
    router = APIRouter(tags=["dashboard"])
    if not section.enabled:
        return router
    csp = content_security_policy(section)
    low = DEFAULT_RULES.mask_stock.low_stock if low_mask_stock is None else low_mask_stock
    headers = {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}  # fmt: skip

    @router.get("/dashboard", include_in_schema=False)
    @router.get("/dashboard/ops", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(PAGE, media_type=MEDIA[".html"], headers=headers)

    @router.get("/dashboard/static/{path:path}", include_in_schema=False)
    def static(path: str) -> FileResponse:
        target = (STATIC / path).resolve()
        if not target.is_relative_to(STATIC) or not target.is_file():
            raise HTTPException(404, f"no static file {path!r}")
        media = MEDIA.get(target.suffix)
        if media is None:
            raise HTTPException(404, f"no static file {path!r}")
        return FileResponse(target, media_type=media, headers=headers)

    @router.get("/dashboard/api/config", summary="Dashboard settings of one view")
    def config(
        credentials: Credentials,
        response: Response,
        view: Annotated[Literal["public", "ops"], Query()] = "public",
    ) -> dict[str, Any]:
        response.headers["Cache-Control"] = "no-store"  # the ops answer holds a credential
        mqtt: dict[str, Any] | None = None
        if view == "ops":
            access.check(credentials)  # the broker credential goes to operators only
            if section.mqtt_ws_url:
                password = section.mqtt_password
                mqtt = {"url": section.mqtt_ws_url, "username": section.mqtt_username,
                        "password": password.get_secret_value() if password else None}  # fmt: skip
        elif section.mqtt_ws_url and section.public_mqtt:
            mqtt = {
                "url": section.mqtt_ws_url,
                "username": section.public_username,
                "password": section.public_password,
            }  # the public role's, not a secret
        return {
            "view": view, "tile_url": section.tile_url,
            "tile_attribution": section.tile_attribution, "mqtt": mqtt,
            "fallback_after_s": section.fallback_after_s, "live": f"/live/{view}",
            "latest_report": latest_report(report_dir), "low_mask_stock": low,
            "topic_prefix": section.topic_prefix or DEFAULT_PREFIX,
        }  # fmt: skip

    @router.get("/dashboard/api/points", summary="Hospitals and pharmacies for the map")
    def points() -> dict[str, Any]:
        kl = schema.kelurahan.c
        with engine.connect() as conn:
            centroids = {r.code: (r.centroid_lng, r.centroid_lat) for r in conn.execute(
                select(kl.code, kl.centroid_lng, kl.centroid_lat))}  # fmt: skip
            today = datetime.now(ZoneInfo(timezone)).date()
            rooms = read.beds(conn, today, max_age_days=DEFAULT_RULES.bed_occupancy.max_age_days)
            stock = read.stock(conn)
        return {"hospitals": hospitals(rooms, centroids),
                "pharmacies": pharmacies(stock, low)}  # fmt: skip

    return router


def hospitals(rooms: list[read.BedRoom], centroids: dict[str, tuple[Any, Any]]) -> list[Any]:
    """Per hospital: beds, used, free and occupancy summed over its room types."""
    out: dict[str, dict[str, Any]] = {}
    for r in rooms:
        lng, lat = centroids.get(r.kelurahan_code, (None, None))
        h = out.setdefault(r.hospital_id, {
            "id": r.hospital_id, "name": r.hospital_name or r.hospital_id,
            "kelurahan_code": r.kelurahan_code, "lat": lat, "lng": lng, "beds": 0, "used": 0,
            "free": 0, "as_of": r.date.isoformat()})  # fmt: skip
        h["beds"] += r.beds
        h["used"] += r.used
        h["free"] += r.free
        h["as_of"] = min(h["as_of"], r.date.isoformat())
    for h in out.values():
        h["occupancy"] = round(h["used"] / h["beds"], 4) if h["beds"] else None
    return [h for h in out.values() if h["lat"] is not None]


def pharmacies(stock: list[read.Stock], low: int) -> list[Any]:
    """Per pharmacy: where, its mask and sanitizer stock, and whether masks run low."""
    out: dict[str, dict[str, Any]] = {}
    for s in stock:
        p = out.setdefault(s.pharmacy_id, {
            "id": s.pharmacy_id, "name": s.pharmacy_name, "kelurahan_code": s.kelurahan_code,
            "lat": s.lat, "lng": s.lng, "mask": None, "hand_sanitizer": None})  # fmt: skip
        p["mask" if s.item == "mask" else "hand_sanitizer"] = s.quantity
    for p in out.values():
        p["low_mask_stock"] = p["mask"] is not None and p["mask"] < low
    return list(out.values())

"""Central's HTTP API (FastAPI): health, metrics, summaries, areas, cameras, agents, gaps.

Raw windows (central/api/windows.py), alerts, reports and open data (central/api/civic.py)
and the institutions' civic input (central/api/civic_http.py) are routers included here.

Who reads what (public figures, operator data by token) is central/api/access.py; every request
body is limited before it is read (central/api/middleware.py). OpenAPI is served at /docs and
/openapi.json. Validation errors answer 422 with one readable line per problem; well-formed but
unusable ranges answer 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic_core
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine, select, text

from central.api.access import Credentials, ReadAccess
from central.api.city_page import city_page_router
from central.api.civic import decisions_router
from central.api.civic_http import civic_router
from central.api.dashboard import dashboard_router
from central.api.geo import areas_geojson_router
from central.api.live import live_router
from central.api.metrics import metrics_endpoint
from central.api.middleware import BodyLimit, RequestCounter
from central.api.quarantine import quarantine_router
from central.api.series import series_router
from central.api.windows import windows_router
from central.areas import CameraRegistry
from central.civic.common import AreaCodes
from central.config import ApiSection, DashboardSection
from central.contract import AgentState, CameraState, CitySummary, Gaps, Summary
from central.store import schema
from central.summaries import SummaryBoard
from siaga import __version__
from siaga.timeutil import iso
from siaga.wire import ID_PATTERN

MAX_RANGE = timedelta(days=31)
MAX_JSON_ROWS = 10_000
Level = Literal["city", "kecamatan", "kelurahan", "camera"]


@dataclass
class ApiContext:
    """What the API reads: the database, the latest summaries and the service's live figures."""

    engine: Engine
    board: SummaryBoard
    cameras: CameraRegistry
    summary_interval_s: float = 60.0
    gaps: Callable[[str | None], list[Any]] | None = None
    ingest_metrics: Callable[[], Mapping[str, Any]] = dict
    mqtt_connected: Callable[[], Mapping[str, bool]] = dict
    report_dir: Path | None = None  # daily reports served at /reports/{date}
    opendata_dir: Path | None = None  # open data files served at /opendata/{date}.{csv,json}
    revoked: Callable[[], Set[str]] = frozenset  # live list from [fleet] revoked_file
    runs_jobs: Callable[[], bool] | None = None  # holds the jobs lease (None: not a service)
    api: ApiSection = field(default_factory=ApiSection)  # open_reads, max_body_bytes
    dashboard: DashboardSection = field(default_factory=DashboardSection)  # tiles, broker
    requests: dict[tuple[str, str, int], int] = field(default_factory=dict)
    request_seconds: dict[str, float] = field(default_factory=dict)
    # Further prometheus_client collectors for /metrics (central/api/metrics.py): the ingest
    # histograms, sequence gaps, the daily report, certificates (central/ops_metrics.py).
    collectors: Sequence[Any] = ()


def area_codes(engine: Engine) -> AreaCodes:
    """The kota and kelurahan codes in the area registry, for checking civic rows."""
    with engine.connect() as conn:
        kel = frozenset(conn.execute(select(schema.kelurahan.c.code)).scalars())
        kota = conn.execute(select(schema.kecamatan.c.kota_code).limit(1)).scalar()
    return AreaCodes(kota=kota or "33.74", kelurahan=kel)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()))
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def as_built(content: Any) -> Response:
    """JSON of content as it is, unchecked (pydantic-core's serialiser: about twice as fast as
    the standard library's for 16,400 summaries); the route's response model still documents
    it in /openapi.json."""
    return Response(pydantic_core.to_json(content), media_type="application/json")


def create_app(ctx: ApiContext) -> FastAPI:
    """The FastAPI application over ctx."""
    app = FastAPI(
        title="Siaga central",
        version=__version__,
        description="Mask-compliance counts of the City of Semarang's cameras: summaries per "
        "area, camera health, delivery gaps and raw count windows. Counts only, no images.",
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        body = {"error": "invalid request", "detail": _validation_message(exc)}
        return JSONResponse(status_code=422, content=body)

    # Last added is outermost: the counters see every answer, the 413s of BodyLimit included,
    # and BodyLimit runs before routing, authentication or any body is read.
    app.add_middleware(BodyLimit, max_bytes=ctx.api.max_body_bytes)
    app.add_middleware(RequestCounter, requests=ctx.requests, seconds=ctx.request_seconds)

    access = ReadAccess(ctx.engine, open_reads=ctx.api.open_reads)
    guard = Depends(access.dependency())
    _health_routes(app, ctx, access, guard)
    _summary_routes(app, ctx, access)
    _registry_routes(app, ctx, guard)
    # Public aggregates for the dashboard's map and plots (central/api/geo.py, series.py).
    app.include_router(areas_geojson_router(ctx.engine, ctx.board))
    app.include_router(series_router(ctx.engine, ctx.board))
    # Institutions' input (pharmacies, hospitals, markets), each confined to its own records.
    app.include_router(civic_router(ctx.engine, lambda: area_codes(ctx.engine)))

    app.include_router(windows_router(ctx.engine), dependencies=[guard])
    app.include_router(quarantine_router(ctx.engine), dependencies=[guard])
    app.include_router(decisions_router(ctx.engine, ctx.report_dir, ctx.opendata_dir,
                                        alerts_guard=[guard]))  # fmt: skip
    # The public city page (/kota): civic aggregates, server-rendered (central/web/city_view.py).
    app.include_router(city_page_router(ctx.engine, report_dir=ctx.report_dir))
    # The dashboard (central/web/static/) and its live stream when no broker is reachable.
    app.include_router(dashboard_router(ctx.engine, ctx.dashboard, access,
                                        report_dir=ctx.report_dir))  # fmt: skip
    app.include_router(live_router(ctx.engine, ctx.board, access))

    return app


def _health_routes(app: FastAPI, ctx: ApiContext, access: ReadAccess, guard: Any) -> None:
    @app.get("/healthz", summary="Health: status for everyone; details with a read token")
    def healthz(credentials: Credentials) -> JSONResponse:
        try:
            with ctx.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            db_ok = True
        except Exception:  # any database failure means "not healthy"
            db_ok = False
        mqtt = dict(ctx.mqtt_connected())
        age = ctx.board.age_s()
        fresh = age is not None and age <= 3 * ctx.summary_interval_s + 10
        ok = db_ok and all(mqtt.values()) and fresh
        body = {"status": "ok" if ok else "degraded", "database": db_ok, "mqtt": mqtt,
                "last_summary_age_s": None if age is None else round(age, 1),
                "summary_passes": ctx.board.passes}  # fmt: skip
        if ctx.runs_jobs is not None:  # rules, reports and open data run here, or elsewhere
            body["jobs"] = "running here" if ctx.runs_jobs() else "standby"
        if not access.may_read(credentials):  # the public learns up or not, not the topology
            body = {"status": body["status"]}
        return JSONResponse(status_code=200 if ok else 503, content=body)

    # A plain def: FastAPI runs it in its thread pool, so the scrape's database reads (the
    # service's collectors) never block the event loop.
    app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics",
            dependencies=[guard])(metrics_endpoint(ctx))  # fmt: skip


def _summary_routes(app: FastAPI, ctx: ApiContext, access: ReadAccess) -> None:
    def _no_pass() -> None:
        if ctx.board.passes == 0:
            raise HTTPException(503, "no summary computed yet; retry after the first pass")

    def _allowed(level: Level, credentials: Any) -> None:
        if level == "camera":  # per camera: names and agent ids, operator data
            access.check(credentials)

    # Response models (central/contract) describe the payloads in /openapi.json and check them
    # on the way out; a city's 10,000+ camera summaries go out as built (checking 16,400 costs
    # over 10x serialising them: benchmarks/api_contract.py; the tests check them instead).
    @app.get("/summaries/{level}", summary="Latest summaries of one level (city: the one)",
             response_model=CitySummary | list[Summary],
             response_model_exclude_unset=True)  # fmt: skip
    def summaries(level: Level, credentials: Credentials) -> Any:
        _allowed(level, credentials)
        _no_pass()
        if level == "city":
            s = ctx.board.get("city")
            return s.payload if s else None
        payloads = [s.payload for s in ctx.board.of_level(level)]
        return as_built(payloads) if level == "camera" else payloads

    @app.get("/summaries/{level}/{code:path}", summary="Latest summary of one area or camera",
             response_model=Summary, response_model_exclude_unset=True)  # fmt: skip
    def summary(level: Level, code: str, credentials: Credentials) -> Any:
        _allowed(level, credentials)
        _no_pass()
        s = ctx.board.get(level, "" if level == "city" else code)
        if s is None:
            raise HTTPException(404, f"no {level} summary for {code!r}")
        return s.payload


def _registry_routes(app: FastAPI, ctx: ApiContext, guard: Any) -> None:
    @app.get("/areas", summary="Kecamatan with their kelurahan")
    def areas(boundaries: bool = False) -> Any:
        kc, kl = schema.kecamatan.c, schema.kelurahan.c
        with ctx.engine.connect() as conn:
            kec = conn.execute(select(kc.code, kc.name, kc.kota_code).order_by(kc.code)).all()
            kel = conn.execute(select(schema.kelurahan).order_by(kl.code)).mappings().all()
        by_kec: dict[str, list[dict[str, Any]]] = {}
        for r in kel:
            lng, lat, geo = r["centroid_lng"], r["centroid_lat"], r["boundary_geojson"]
            centroid = [lng, lat] if lng is not None else None
            item: dict[str, Any] = {"code": r["code"], "name": r["name"], "centroid": centroid}
            if boundaries:
                item["boundary"] = None if geo is None else json.loads(geo)
            by_kec.setdefault(r["kecamatan_code"], []).append(item)
        return [{"code": c, "name": n, "kota_code": k, "kelurahan": by_kec.get(c, [])}
                for c, n, k in kec]  # fmt: skip

    @app.get("/agents", summary="Known agents: availability, last status, revoked or not",
             dependencies=[guard], response_model=list[AgentState],
             response_model_exclude_unset=True)  # fmt: skip
    def agents() -> Any:
        revoked = ctx.revoked()
        return [_agent_json(row, revoked) for row in _agent_rows(ctx.engine).values()]

    @app.get("/cameras", summary="Camera registry with health and last window",
             dependencies=[guard], response_model=list[CameraState])  # fmt: skip
    def cameras() -> Any:
        return as_built(camera_list(ctx))  # 10,000+ cameras (see summaries)

    @app.get("/gaps", summary="Missing seq ranges per agent", dependencies=[guard],
             response_model=Gaps)  # fmt: skip
    def gaps(agent_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None) -> Any:
        if ctx.gaps is None:
            raise HTTPException(503, "gap tracking is not available")
        found = ctx.gaps(agent_id)
        by_agent: dict[str, list[dict[str, Any]]] = {}
        for g in found:
            # epoch: the box's outbox incarnation ('' for agents without); seqs run per epoch.
            by_agent.setdefault(g.agent_id, []).append(
                {"epoch": g.epoch, "first": g.first_missing, "last": g.last_missing,
                 "size": g.size}
            )  # fmt: skip
        return {"agents": [{"agent_id": a, "missing": sum(r["size"] for r in runs), "gaps": runs}
                           for a, runs in sorted(by_agent.items())]}  # fmt: skip


def _agent_rows(engine: Engine) -> dict[str, Any]:
    a = schema.agents.c
    with engine.connect() as conn:
        rows = conn.execute(select(schema.agents).order_by(a.agent_id)).mappings().all()
    return {r["agent_id"]: r for r in rows}


def _agent_json(row: Any, revoked: Set[str]) -> dict[str, Any]:
    status = json.loads(row["status_json"]) if row["status_json"] else None
    return {
        "agent_id": row["agent_id"], "availability": row["availability"],
        "availability_at": iso(row["availability_at"]), "status": status,
        "status_at": iso(row["status_at"]), "first_seen": iso(row["first_seen"]),
        "revoked": bool(row["revoked"]) or row["agent_id"] in revoked,
    }  # fmt: skip


def camera_list(ctx: ApiContext) -> list[dict[str, Any]]:
    """Registered cameras (and unregistered ones seen in summaries) with their health."""
    c = schema.counts.c
    agents = _agent_rows(ctx.engine)
    out = []
    with ctx.engine.connect() as conn:
        for key, entry in sorted(ctx.cameras.cameras.items()):
            # The newest window over the (agent_id, camera_id, window_end) index: one probe.
            q = (select(c.window_end, c.suitable)
                 .where(c.agent_id == key[0], c.camera_id == key[1])
                 .order_by(c.window_end.desc()).limit(1))  # fmt: skip
            last, suitable = conn.execute(q).one_or_none() or (None, None)
            out.append({**entry.model_dump(), "registered": True, "last_window_end": iso(last),
                        "suitable": suitable,
                        **_camera_health(agents.get(key[0]), key[1])})  # fmt: skip
    for s in ctx.board.of_level("camera"):
        p = s.payload
        if not p["registered"]:
            out.append({"agent_id": p["agent_id"], "camera_id": p["camera_id"],
                        "kelurahan_code": p["kelurahan_code"], "registered": False,
                        "expected": False,
                        "last_window_end": p["freshness"]["newest_window_end"],
                        "suitable": p.get("suitable"),
                        **_camera_health(agents.get(p["agent_id"]), p["camera_id"])})  # fmt: skip
    return out


def _camera_health(agent: Any, camera_id: str) -> dict[str, Any]:
    """Availability and the camera's health from its agent's latest status; `judgement`: can
    the view judge masks (wire.Judgement: suitable, reason, faces, judgeable), null when the
    agent sent none. `suitable` beside it is the newest window's flag."""
    if agent is None:
        return {"availability": None, "status_at": None, "health": None, "judgement": None}
    status = json.loads(agent["status_json"]) if agent["status_json"] else {}
    health = (status.get("cameras") or {}).get(camera_id)
    judgement = health.get("judgement") if isinstance(health, dict) else None
    return {"availability": agent["availability"], "status_at": iso(agent["status_at"]),
            "health": health, "judgement": judgement}  # fmt: skip

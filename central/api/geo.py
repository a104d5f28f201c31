"""GET /areas.geojson: the kelurahan polygons with their latest figures, for the dashboard map.

Public (the figures are the aggregates the open data publishes). Cheap by construction: the
polygons are read from the area registry and serialised once (they change only when central
restarts with new area files); the figures change once per summary pass, so the whole answer
is rebuilt at most once per pass and served as bytes in between. The shape is
central/contract/geo.py's AreaCollection (docs/schema/areas.geojson.schema.json).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import Engine, select

from central.contract.geo import AreaCollection, DataState
from central.store import schema
from central.summaries import SummaryBoard

MEDIA_TYPE = "application/geo+json"


@dataclass(frozen=True, slots=True)
class AreaShape:
    """One kelurahan of the registry: its names and its geometry, already serialised."""

    code: str
    name: str
    kecamatan_code: str
    kecamatan_name: str | None
    geometry_json: str  # GeoJSON geometry or "null"


def _dumps(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def load_shapes(engine: Engine) -> list[AreaShape]:
    """Every kelurahan of the registry, by code, with its boundary as a GeoJSON geometry."""
    kl, kc = schema.kelurahan.c, schema.kecamatan.c
    with engine.connect() as conn:
        kec = {code: name for code, name in conn.execute(select(kc.code, kc.name))}
        rows = conn.execute(select(kl.code, kl.name, kl.kecamatan_code, kl.boundary_geojson)
                            .order_by(kl.code)).all()  # fmt: skip
    # boundary_geojson is stored as JSON text (central.areas): re-encoded compactly, once.
    return [AreaShape(code, name, kec_code, kec.get(kec_code),
                      "null" if geo is None else _dumps(json.loads(geo)))
            for code, name, kec_code, geo in rows]  # fmt: skip


def data_state(payload: Mapping[str, Any] | None) -> DataState:
    """Why a kelurahan has (no) compliance: a map greys and labels all but "ok"."""
    if payload is None:
        return "no_summary"
    if payload["periods"]["recent"]["compliance"] is not None:
        return "ok"
    cams = payload["cameras"]
    if cams["reporting"] == 0:
        return "no_camera" if cams["expected"] == 0 else "no_data"
    return "too_few_people"


def area_properties(shape: AreaShape, payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """The flat properties of one feature from its kelurahan summary (None: no pass yet)."""
    p = payload or {}
    recent = p.get("periods", {}).get("recent", {})
    today = p.get("periods", {}).get("today", {})
    interval = recent.get("interval") or {}
    cams, fresh = p.get("cameras", {}), p.get("freshness", {})
    civic = p.get("civic") or {}
    cases = civic.get("cases") or {}
    return {
        "code": shape.code, "name": shape.name, "kecamatan_code": shape.kecamatan_code,
        "kecamatan_name": shape.kecamatan_name, "data_state": data_state(payload),
        "compliance_recent": recent.get("compliance"),
        "compliance_recent_low": interval.get("low"),
        "compliance_recent_high": interval.get("high"),
        "people_seen_recent": recent.get("people_seen"), "judged_recent": recent.get("judged"),
        "compliance_today": today.get("compliance"), "people_seen_today": today.get("people_seen"),
        "judged_today": today.get("judged"),
        "cameras_expected": cams.get("expected"), "cameras_reporting": cams.get("reporting"),
        "newest_window_end": fresh.get("newest_window_end"), "age_s": fresh.get("age_s"),
        "cases_active": cases.get("active"), "cases_new_7d": cases.get("new_7d"),
        "weekly_rate_per_100k": cases.get("weekly_rate_per_100k"),
        "ppkm_level": civic.get("ppkm_level"),
    }  # fmt: skip


def render(shapes: list[AreaShape], board: SummaryBoard) -> bytes:
    """The FeatureCollection as bytes (geometry strings spliced in, not re-encoded)."""
    city = board.get("city")
    c = city.payload if city else {}
    head = {"type": "FeatureCollection", "computed_at": c.get("computed_at"),
            "min_people_for_ratio": c.get("min_people_for_ratio")}  # fmt: skip
    kelurahan = {k.key: k for k in board.of_level("kelurahan")}
    features = []
    for s in shapes:
        summary = kelurahan.get(s.code)
        props = area_properties(s, summary.payload if summary else None)
        features.append(f'{{"type":"Feature","id":{_dumps(s.code)},"geometry":{s.geometry_json},'
                        f'"properties":{_dumps(props)}}}')  # fmt: skip
    return (_dumps(head)[:-1] + ',"features":[' + ",".join(features) + "]}").encode()


class AreaMap:
    """The shapes (loaded once, when the registry has any) and the answer of the latest pass."""

    def __init__(self, engine: Engine, board: SummaryBoard) -> None:
        self.engine, self.board = engine, board
        self._lock = threading.Lock()
        self._shapes: list[AreaShape] | None = None
        self._built: tuple[int, bytes] | None = None  # (board.passes, body)

    def body(self) -> bytes:
        """The current answer: rebuilt when a pass happened since the last one."""
        with self._lock:
            if self._shapes is None:
                shapes = load_shapes(self.engine)
                if not shapes:  # the registry is synced at start-up: not yet, read again
                    return render([], self.board)
                self._shapes = shapes
            passes = self.board.passes
            if self._built is None or self._built[0] != passes:
                self._built = (passes, render(self._shapes, self.board))
            return self._built[1]


def areas_geojson_router(engine: Engine, board: SummaryBoard) -> APIRouter:
    """GET /areas.geojson (public)."""
    router = APIRouter()
    area_map = AreaMap(engine, board)

    @router.get("/areas.geojson", response_model=AreaCollection,
                summary="Kelurahan polygons with their latest figures (GeoJSON, public)",
                responses={200: {"content": {MEDIA_TYPE: {}}}})  # fmt: skip
    def areas_geojson() -> Response:
        return Response(area_map.body(), media_type=MEDIA_TYPE,
                        headers={"Cache-Control": "no-cache"})  # fmt: skip

    return router

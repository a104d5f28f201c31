"""deploy/grafana/siaga-fleet.json: valid dashboard JSON for the structure Grafana relies on
(checked by the pydantic model below: panels, targets, data source, schemaVersion, grid), and
every query reads metrics (that they exist in live output: tests/deploy/test_live_names.py)."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tests.deploy.promql import DASHBOARD, SYNTHETIC, dashboard_exprs, metric_names


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")  # Grafana keeps many optional keys


class DataSourceRef(_Model):
    type: Literal["prometheus"]
    uid: Literal["${datasource}"]  # the dashboard's data source variable, not a fixed uid


class Target(_Model):
    refId: str = Field(pattern=r"^[A-Z]$")
    expr: str = Field(min_length=1)
    datasource: DataSourceRef


class GridPos(_Model):
    x: int = Field(ge=0, lt=24)
    y: int = Field(ge=0)
    w: int = Field(ge=1, le=24)
    h: int = Field(ge=1)

    @model_validator(mode="after")
    def _fits(self) -> GridPos:
        if self.x + self.w > 24:
            raise ValueError("panel wider than the 24-column grid")
        return self


class Panel(_Model):
    id: int = Field(ge=1)
    type: Literal["stat", "timeseries", "table", "bargauge", "gauge", "row"]
    title: str = Field(min_length=1)
    gridPos: GridPos
    datasource: DataSourceRef
    targets: list[Target] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_refs(self) -> Panel:
        refs = [t.refId for t in self.targets]
        if len(set(refs)) != len(refs):
            raise ValueError(f"{self.title}: duplicate refId")
        return self


class Variable(_Model):
    name: str
    type: str
    query: str = ""


class Templating(_Model):
    list: list[Variable]


class Dashboard(_Model):
    uid: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,40}$")
    title: str
    schemaVersion: int = Field(ge=36)  # Grafana 9+ (data source references as objects)
    panels: list[Panel] = Field(min_length=1)
    templating: Templating
    time: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> Dashboard:
        ids = [p.id for p in self.panels]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate panel ids")
        if not any(v.name == "datasource" and v.type == "datasource" and v.query == "prometheus"
                   for v in self.templating.list):  # fmt: skip
            raise ValueError("no Prometheus data source variable named datasource")
        cells: set[tuple[int, int]] = set()
        for p in self.panels:
            g = p.gridPos
            mine = {(x, y) for x in range(g.x, g.x + g.w) for y in range(g.y, g.y + g.h)}
            if cells & mine:
                raise ValueError(f"panel {p.title!r} overlaps another")
            cells |= mine
        return self


def load() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_dashboard_matches_the_model():
    board = Dashboard.model_validate(load())
    assert board.uid == "siaga-fleet"


def test_the_model_refuses_what_grafana_would_not_load():
    good = load()
    bad_grid = json.loads(json.dumps(good))
    bad_grid["panels"][0]["gridPos"]["x"] = 22  # w = 4: off the grid
    no_var = {**good, "templating": {"list": []}}
    fixed_uid = json.loads(json.dumps(good))
    fixed_uid["panels"][1]["targets"][0]["datasource"]["uid"] = "P1809F7CD0C75ACF3"
    for bad in (bad_grid, no_var, fixed_uid, {**good, "schemaVersion": 16}):
        with pytest.raises(ValidationError):
            Dashboard.model_validate(bad)


def test_the_board_covers_the_fleet():
    """Boxes, cameras, inference time, outbox, ingest rate and lag, as the issue asks."""
    names = set().union(*(metric_names(e) for e in dashboard_exprs(load())))
    for needed in ("up", "siaga_agent_camera_up", "siaga_central_cameras_silent",
                   "siaga_agent_inference_seconds_bucket", "siaga_agent_outbox_depth",
                   "siaga_central_ingest_accepted_total",
                   "siaga_central_ingest_latency_seconds_bucket"):  # fmt: skip
        assert needed in names, needed
    assert all(n.startswith(("siaga_", "process_")) or n in SYNTHETIC for n in names), names

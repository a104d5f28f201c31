"""The API answers what central/contract declares: /openapi.json names the models, and real
answers of /summaries, /cameras, /agents, /gaps and /alerts pass docs/schema (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from central.api.app import ApiContext, create_app
from central.rules import AlertStore, Bed, Figures, evaluate
from central.rules.model import DEFAULT_RULES
from tests.central.api.test_api import populated
from tests.central.api_fixtures import reader_headers
from tests.central.summary_fixtures import K1, A, migrated_engine
from tests.contract_site.contract_check import problems


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ctx(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ApiContext]:  # fmt: skip
    with migrated_engine(request, request.param, tmp_path_factory.mktemp("api")) as engine:
        t = datetime(2021, 7, 10, 5, tzinfo=UTC)
        beds = Figures(beds=(Bed("rs-1", "RS 1", 10, 9),))
        AlertStore(engine).apply(evaluate(beds, DEFAULT_RULES, t), t)
        yield populated(engine)


@pytest.fixture(scope="module")
def client(ctx: ApiContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), headers=reader_headers(ctx.engine)) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "stem", "items"),
    [
        ("/summaries/city", "summary", None),
        ("/summaries/kecamatan", "summary", "list"),
        ("/summaries/kelurahan", "summary", "list"),
        ("/summaries/camera", "summary", "list"),
        (f"/summaries/kelurahan/{A}", "summary", None),
        (f"/summaries/kecamatan/{K1}", "summary", None),
        ("/summaries/camera/box1/cam1", "summary", None),
        ("/cameras", "cameras", None),
        ("/agents", "agents", None),
        ("/gaps", "gaps", None),
        ("/alerts?state=all", "alerts", None),
    ],
)
def test_answers_follow_the_schema(client: TestClient, path: str, stem: str,
                                   items: str | None) -> None:  # fmt: skip
    r = client.get(path)
    assert r.status_code == 200, r.text
    body = r.json()
    for doc in body if items else [body]:
        assert problems(stem, doc) == [], doc
    if stem != "summary":
        assert body, "an empty answer would prove nothing"


def test_the_api_returns_the_published_payload(client: TestClient, ctx: ApiContext) -> None:
    """Validating on the way out changes nothing: the answer is the summary as published."""
    for level, key in (("city", ""), ("kelurahan", A), ("camera", "box1/cam1")):
        s = ctx.board.get(level, key)
        assert s is not None
        assert client.get(f"/summaries/{level}" + (f"/{key}" if key else "")).json() == s.payload
    assert client.get("/summaries/kecamatan").json() == [
        s.payload for s in ctx.board.of_level("kecamatan")]  # fmt: skip


def test_openapi_names_the_models(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    models = set(doc["components"]["schemas"])
    assert {"CitySummary", "KelurahanSummary", "CameraSummary", "Period", "Civic", "CameraState",
            "AgentState", "Gaps", "LowComplianceRecord"} <= models  # fmt: skip

    def ok(path: str) -> str:
        return str(doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"])

    assert "CitySummary" in ok("/summaries/{level}") and "CameraSummary" in ok("/summaries/{level}")
    assert "CameraState" in ok("/cameras") and "AgentState" in ok("/agents")
    assert "Gaps" in ok("/gaps") and "BedOccupancyRecord" in ok("/alerts")

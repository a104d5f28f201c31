"""Read access: each endpoint × (no token, a wrong one, a civic writer's, an operator's).

Against the real server (uvicorn through central's ApiServer) on SQLite and PostgreSQL, with the
same populated database as test_api.py. The table is the policy of central/api/access.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from central.api.app import ApiContext, create_app
from central.civic.institutions import add_institution, revoke_institution
from central.config import ApiSection
from tests.central.api.test_api import populated
from tests.central.api_fixtures import bearer, reader_token, serving
from tests.central.summary_fixtures import A, migrated_engine

DAY = "2021-07-10"
PUBLIC = [
    "/healthz", "/summaries/city", "/summaries/kelurahan", f"/summaries/kelurahan/{A}",
    "/summaries/kecamatan", "/areas", f"/reports/{DAY}", f"/opendata/{DAY}.csv",
    "/opendata/datadictionary.json", "/docs", "/openapi.json",
]  # fmt: skip
OPERATOR = [
    "/agents", "/cameras", "/windows", "/windows?format=csv", "/gaps", "/alerts", "/metrics",
    "/summaries/camera", "/summaries/camera/box1/cam1",
]  # fmt: skip
WHO = ["none", "wrong", "institution", "revoked", "operator"]
# Operator data: 401 without a valid token, 403 for a token without the read scope.
EXPECTED = {"none": 401, "wrong": 401, "institution": 403, "revoked": 401, "operator": 200}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ctx(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ApiContext]:  # fmt: skip
    folder = tmp_path_factory.mktemp("access")
    with migrated_engine(request, request.param, folder) as engine:
        reports, opendata = folder / "reports", folder / "opendata"
        for d, name in ((reports, f"siaga-report-{DAY}.json"),
                        (opendata, f"kelurahan-daily-{DAY}.csv"),
                        (opendata, "datadictionary.json")):  # fmt: skip
            d.mkdir(exist_ok=True)
            (d / name).write_text("{}")
        yield replace(populated(engine), report_dir=reports, opendata_dir=opendata)


@pytest.fixture(scope="module")
def tokens(ctx: ApiContext) -> dict[str, dict[str, str]]:
    e = ctx.engine
    writer = add_institution(e, "rs-1", "RS 1", modules=["beds"], owner_ids=["rs-1"])
    gone = add_institution(e, "gone", "Revoked", modules=(), reader=True)
    revoke_institution(e, "gone")
    return {"none": {}, "wrong": bearer("not-a-token"), "institution": bearer(writer),
            "revoked": bearer(gone), "operator": bearer(reader_token(e)),
            "basic": {"Authorization": "Basic b3BzOnNlY3JldA=="}}  # fmt: skip


@pytest.fixture(scope="module")
def url(ctx: ApiContext) -> Iterator[str]:
    with serving(create_app(ctx)) as base:
        yield base


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("path", PUBLIC + OPERATOR)
def test_read_access(url: str, tokens: dict[str, dict[str, str]], path: str, who: str) -> None:
    r = httpx.get(url + path, headers=tokens[who], timeout=10)
    expected = 200 if path in PUBLIC else EXPECTED[who]
    assert r.status_code == expected, r.text
    if expected == 401:
        assert r.headers["www-authenticate"] == "Bearer"
        assert "read scope" in r.json()["detail"]
    if expected == 403:
        assert r.json()["detail"] == "rs-1 may not read operator data (its token has no read scope)"


@pytest.mark.parametrize("who", [*WHO, "basic"])
def test_healthz_details_only_for_operators(url: str, tokens: dict[str, dict[str, str]],
                                            who: str) -> None:  # fmt: skip
    body = httpx.get(f"{url}/healthz", headers=tokens[who], timeout=10).json()
    if who == "operator":
        assert body["status"] == "ok" and body["database"] is True and "mqtt" in body
    else:
        assert body == {"status": "ok"}  # up or not: nothing about the database or brokers


@pytest.mark.parametrize(
    ("who", "status"),
    [("none", 401), ("wrong", 401), ("revoked", 401), ("operator", 403), ("institution", 200)],
)
def test_civic_post_needs_a_writer(url: str, tokens: dict[str, dict[str, str]], who: str,
                                   status: int) -> None:  # fmt: skip
    row = {"hospital_id": "rs-1", "date": DAY, "room_type": "isolasi", "hospital_name": "RS 1",
           "kelurahan_code": A, "beds": 10, "used": 6, "used_suspect": 2, "used_confirmed": 4,
           "queue": 1, "prepare": 1, "free": 3}  # fmt: skip
    r = httpx.post(f"{url}/civic/beds", json=[row], headers=tokens[who], timeout=10)
    assert r.status_code == status, r.text


def test_open_reads_serves_every_get_without_a_token(ctx: ApiContext) -> None:
    open_ctx = replace(ctx, api=ApiSection(open_reads=True))
    with serving(create_app(open_ctx)) as base:
        for path in PUBLIC + OPERATOR:
            assert httpx.get(base + path, timeout=10).status_code == 200, path
        assert "database" in httpx.get(f"{base}/healthz", timeout=10).json()
        assert httpx.post(f"{base}/civic/beds", json=[], timeout=10).status_code == 401


def test_operator_routes_declare_the_bearer_scheme(url: str) -> None:
    spec = httpx.get(f"{url}/openapi.json", timeout=10).json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path in ("/agents", "/cameras", "/windows", "/gaps", "/alerts", "/metrics"):
        assert spec["paths"][path]["get"].get("security") == [{"HTTPBearer": []}], path
    assert "security" not in spec["paths"]["/areas"]["get"]


def test_config_defaults_to_closed(tmp_path: Path) -> None:
    from central.config import load_config

    path = tmp_path / "central.toml"
    path.write_text("[api]\nport = 0\n")
    api = load_config(path).api
    assert api.open_reads is False and api.max_body_bytes == 8 * 1024 * 1024
    path.write_text("[api]\nopen_reads = true\nmax_body_bytes = 65536\n")
    api = load_config(path).api
    assert api.open_reads is True and api.max_body_bytes == 65536


def test_the_cli_issues_read_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from central.civic.institutions import authenticate
    from central.store.engine import make_engine
    from siaga.cli import main

    db = str(tmp_path / "c.sqlite3")
    assert main(["central", "institution", "add", "dash", "--name", "Dasbor", "--read",
                 "--db", db]) == 0  # fmt: skip
    who = authenticate(make_engine(f"sqlite:///{db}"), capsys.readouterr().out.strip())
    assert who is not None and who.reader and who.modules == frozenset()
    assert main(["central", "institution", "add", "none", "--name", "N", "--db", db]) == 2
    assert "give --module (civic input) and/or --read" in capsys.readouterr().err

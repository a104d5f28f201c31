"""POST /civic/{module}: per-institution tokens, own records only, audited, idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from central.api.civic_http import civic_router
from central.civic.institutions import add_institution, revoke_institution, token_hash
from central.store import schema
from tests.central.civic_fixtures import AREAS, BED, CASE, STOCK


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(civic_router(engine, lambda: AREAS))
    with TestClient(app) as c:
        yield c


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _audit(engine: Engine) -> list[dict[str, Any]]:
    a = schema.civic_audit
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(a).order_by(a.c.id)).mappings()]


def test_hospital_writes_its_own_beds_idempotently(engine: Engine, client: TestClient) -> None:
    token = add_institution(engine, "rs-1", "RS Satu", modules=["beds"], owner_ids=["rs-1"])
    rows = [BED, {**BED, "room_type": "icu"}]
    r = client.post("/civic/beds", json=rows, headers=_auth(token))
    assert r.status_code == 200, r.text
    assert r.json() == {"module": "beds", "schema_version": 1, "rows": 2, "inserted": 2,
                        "updated": 0, "unchanged": 0, "stale": 0}  # fmt: skip
    assert client.post("/civic/beds", json=rows, headers=_auth(token)).json()["unchanged"] == 2
    r = client.post("/civic/beds", json=[{**BED, "used": "7", "free": "2"}], headers=_auth(token))
    assert r.json()["updated"] == 1
    audit = _audit(engine)
    assert [(a["action"], a["who"]) for a in audit] == [
        ("insert", "api:rs-1"), ("insert", "api:rs-1"), ("update", "api:rs-1")]  # fmt: skip
    assert json.loads(audit[-1]["old_json"]) == {"free": 3, "used": 6}
    with engine.connect() as conn:
        stored = conn.execute(select(schema.civic_institutions.c.token_sha256)).scalar_one()
    assert stored == token_hash(token) and token not in stored  # only the hash is kept


def test_another_hospitals_rows_are_refused_and_audited(engine: Engine, client: TestClient) -> None:
    token = add_institution(engine, "rs-2", "RS Dua", modules=["beds"], owner_ids=["rs-2"])
    mine = {**BED, "hospital_id": "rs-2"}
    r = client.post("/civic/beds", json=[mine, BED], headers=_auth(token))
    assert r.status_code == 403 and "may not write hospital_id rs-1" in r.json()["detail"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.civic_beds)).scalar() == 0
    (denied,) = _audit(engine)
    assert (denied["action"], denied["who"], denied["module"]) == ("denied", "api:rs-2", "beds")
    assert json.loads(denied["new_json"])["keys"] == [
        {"hospital_id": "rs-1", "date": "2021-07-01", "room_type": "isolasi"}
    ]
    r = client.post("/civic/cases", json=[CASE], headers=_auth(token))
    assert r.status_code == 403 and r.json()["detail"] == "rs-2 may not write cases"


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_without_a_valid_token_401(engine: Engine, client: TestClient, header: str | None) -> None:
    add_institution(engine, "apotek-1", "Apotek 1", modules=["pharmacy"], owner_ids=["apotek-1"])
    headers = {"Authorization": header} if header else {}
    r = client.post("/civic/pharmacy", json=[STOCK], headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert _audit(engine) == []


def test_revoked_token_401_and_bad_rows_422(engine: Engine, client: TestClient) -> None:
    token = add_institution(engine, "apotek-1", "Apotek 1", modules=["pharmacy"],
                            owner_ids=["apotek-1"])  # fmt: skip
    r = client.post("/civic/pharmacy", json=[STOCK, {**STOCK, "item": "vitamin", "lat": 99}],
                    headers=_auth(token))  # fmt: skip
    assert r.status_code == 422
    assert r.json()["detail"]["detail"] == [
        "rows[1]: item: Input should be 'mask' or 'hand_sanitizer'",
        "rows[1]: lat: Input should be less than or equal to 90",
    ]
    assert client.post("/civic/pharmacy", json={"a": 1}, headers=_auth(token)).status_code == 422
    assert client.post("/civic/weather", json=[], headers=_auth(token)).status_code == 404
    assert revoke_institution(engine, "apotek-1") and not revoke_institution(engine, "nobody")
    assert client.post("/civic/pharmacy", json=[STOCK], headers=_auth(token)).status_code == 401
    assert _audit(engine) == []

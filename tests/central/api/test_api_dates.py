"""Every time and date the API takes, at the ends of the calendar: 422 (or 400), never 500.

Near year 1 or 9999 an offset moves a time out of what Python can represent, and converting it
to UTC raised OverflowError (500). Against the real server, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from central.api.app import ApiContext, create_app
from central.civic.institutions import add_institution
from tests.central.api.test_api import populated
from tests.central.api_fixtures import bearer, reader_headers, serving
from tests.central.summary_fixtures import A, migrated_engine

TIMES = [
    "0001-01-01T00:00:00+14:00", "0001-01-01T00:30:00Z", "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59+14:00",
    "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z",
]  # fmt: skip
DAYS = ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01"]
RANGE = "between the years 2000 and 2099"
# (path, query) of every time parameter; {v} is the value.
TIME_PARAMS = [("/alerts", "since"), ("/windows", "from"), ("/windows", "to")]
DAY_PATHS = ["/reports/{v}", "/reports/{v}?format=csv", "/opendata/{v}.csv", "/opendata/{v}.json"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ctx(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ApiContext]:  # fmt: skip
    folder = tmp_path_factory.mktemp("dates")
    with migrated_engine(request, request.param, folder) as engine:
        yield replace(populated(engine), report_dir=folder, opendata_dir=folder)


@pytest.fixture(scope="module")
def client(ctx: ApiContext) -> Iterator[httpx.Client]:
    with (
        serving(create_app(ctx)) as url,
        httpx.Client(base_url=url, headers=reader_headers(ctx.engine), timeout=10) as c,
    ):
        yield c


@pytest.mark.parametrize("value", TIMES)
@pytest.mark.parametrize(("path", "param"), TIME_PARAMS)
def test_times_out_of_range_are_422(client: httpx.Client, path: str, param: str,
                                    value: str) -> None:  # fmt: skip
    r = client.get(path, params={param: value})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == f"query.{param}: Value error, must be a time {RANGE}"


@pytest.mark.parametrize("value", DAYS)
@pytest.mark.parametrize("path", DAY_PATHS)
def test_days_out_of_range_are_422(client: httpx.Client, path: str, value: str) -> None:
    r = client.get(path.format(v=value))
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == f"path.day: Value error, must be a date {RANGE}"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                   "1999-12-31T23:59:59+00:00"])  # fmt: skip
def test_a_cursor_out_of_range_is_400(client: httpx.Client, value: str) -> None:
    raw = f"{value}|box1|3|".encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    r = client.get("/windows", params={"cursor": cursor})
    assert r.status_code == 400 and r.json()["detail"].startswith("invalid cursor")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/alerts", {"since": "2000-01-01T00:00:00+14:00", "state": "all"}),
        ("/alerts", {"since": "2099-12-31T23:59:59-14:00"}),
        ("/windows", {"from": "2000-01-01T00:00:00+14:00", "to": "2000-01-01T01:00:00+14:00"}),
        ("/windows", {"from": "2099-12-31T22:00:00-14:00", "to": "2099-12-31T23:59:59-14:00"}),
    ],
)
def test_the_ends_of_the_window_are_served(client: httpx.Client, path: str,
                                           params: dict[str, str]) -> None:  # fmt: skip
    assert client.get(path, params=params).status_code == 200


@pytest.mark.parametrize("day", ["2000-01-01", "2099-12-31"])
def test_days_at_the_ends_are_looked_up(client: httpx.Client, day: str) -> None:
    assert client.get(f"/reports/{day}").status_code == 404  # in range, just not written


@pytest.mark.parametrize("as_of", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_civic_times_out_of_range_are_422(ctx: ApiContext, client: httpx.Client,
                                          as_of: str) -> None:  # fmt: skip
    token = add_institution(ctx.engine, f"apotek-{as_of[:4]}", "Apotek", modules=["pharmacy"],
                            owner_ids=["apotek-1"])  # fmt: skip
    row = {"pharmacy_id": "apotek-1", "item": "mask", "pharmacy_name": "Apotek 1",
           "kelurahan_code": A, "lat": -6.98, "lng": 110.41, "quantity": 100, "unit": "box",
           "as_of": as_of}  # fmt: skip
    r = client.post("/civic/pharmacy", json=[row], headers=bearer(token))
    assert r.status_code == 422, r.text
    (line,) = r.json()["detail"]["detail"]
    assert line == f"rows[0]: as_of: Value error, must be a time {RANGE}"
    ok = {**row, "as_of": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}
    assert client.post("/civic/pharmacy", json=[ok], headers=bearer(token)).status_code == 200

"""GET /series: today in 10-minute bins and 14 days daily, hand-computed, on both databases;
the same counting as the summaries (their `today` equals the sum of the bins); bounded queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from central.api.app import ApiContext, create_app
from central.api.series import BIN_REFRESH_S, OPEN_TTL_S, SeriesCache, series_router, today_bins
from central.areas import sync_areas
from central.config import SummariesSection
from central.summaries import Summarizer, SummaryBoard
from tests.central.summary_fixtures import (
    K1,
    WIB,
    A,
    B,
    C,
    count_row,
    insert_rows,
    registry,
    small_areas,
    wib,
)
from tests.contract_site.contract_check import problems

NOW = wib(10, 12, 5)  # 12:05 in Semarang: today has 73 bins, the last one open


def row(agent: str, camera: str, kel: str, end: datetime, seq: int, people: int, masked: int,
        unmasked: int, suitable: bool | None = None) -> dict[str, object]:  # fmt: skip
    return count_row(agent, camera, kel, end, seq, people, masked, unmasked) | {
        "suitable": suitable
    }


ROWS = [
    row("box1", "cam1", A, wib(10, 11, 50), 1, 30, 20, 5),  # bin (11:40, 11:50]
    row("box3", "camX", A, wib(10, 11, 45), 1, 40, 10, 30, suitable=False),  # people only
    row("box1", "cam2", A, wib(10, 12, 0), 1, 10, 6, 4),  # ends on a bin edge: (11:50, 12:00]
    row("box2", "cam1", B, wib(10, 12, 3), 1, 25, 15, 10),  # the open bin (12:00, 12:10]
    row("box1", "cam1", A, wib(10, 0, 0), 2, 7, 7, 0),  # at midnight: yesterday's
    row("box9", "cam1", C, wib(10, 9, 15), 1, 5, 5, 0),  # unregistered camera, in C
    row("box1", "cam1", A, wib(9, 15, 0), 3, 100, 60, 20),  # yesterday
    row("box1", "cam1", A, datetime(2025, 5, 28, 8, 0, tzinfo=WIB), 4, 50, 30, 10),  # 13 days ago
    row("box1", "cam1", A, datetime(2025, 5, 27, 23, 0, tzinfo=WIB), 5, 99, 99, 0),  # 14: out
]  # fmt: skip


def board_at(engine: Engine, **cfg: Any) -> SummaryBoard:
    areas = small_areas()
    board = SummaryBoard()
    summarizer = Summarizer(engine, SummariesSection(**cfg), areas, registry(areas))
    board.update(summarizer.compute(NOW), computed_at=NOW, pass_s=0.01)
    return board


@pytest.fixture
def data(engine: Engine) -> Engine:
    sync_areas(engine, small_areas())
    insert_rows(engine, [r | {"seq": i} for i, r in enumerate(ROWS)])  # seqs unique per box
    return engine


@pytest.fixture
def client(data: Engine) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(series_router(data, board_at(data), now=lambda: NOW))
    with TestClient(app) as c:
        yield c


def nonzero(body: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Bin end HH:MM (or the day) → (people_seen, masked, unmasked, judged, compliance)."""
    out = {}
    for p in body["points"]:
        if p["people_seen"]:
            key = p["to"][11:16] if body["span"] == "today" else p["from"][:10]
            out[key] = (p["people_seen"], p["masked"], p["unmasked"], p["judged"], p["compliance"])
    return out


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/series/kelurahan/{A}", {"11:50": (70, 20, 5, 25, 0.8),  # 40 unsuitable: seen only
                                    "12:00": (10, 6, 4, 10, None)}),  # 10 judged < 20
        (f"/series/kecamatan/{K1}", {"09:20": (5, 5, 0, 5, None), "11:50": (70, 20, 5, 25, 0.8),
                                     "12:00": (10, 6, 4, 10, None)}),
        ("/series/city", {"09:20": (5, 5, 0, 5, None), "11:50": (70, 20, 5, 25, 0.8),
                          "12:00": (10, 6, 4, 10, None), "12:10": (25, 15, 10, 25, 0.6)}),
        (f"/series/kelurahan/{B}", {"12:10": (25, 15, 10, 25, 0.6)}),
        (f"/series/kelurahan/{A}?span=14d", {
            "2025-05-28": (50, 30, 10, 40, 0.75),
            "2025-06-09": (107, 67, 20, 87, 0.7701),  # with the window ending at midnight
            "2025-06-10": (80, 26, 9, 35, 0.7429)}),
    ],
)  # fmt: skip
def test_hand_computed(client: TestClient, path: str, expected: dict[str, tuple[Any, ...]]) -> None:
    r = client.get(path)
    assert r.status_code == 200, r.text
    body = r.json()
    assert problems("series", body) == []
    assert nonzero(body) == expected
    pts = body["points"]
    if body["span"] == "today":
        assert (len(pts), body["bin_s"]) == (73, 600)
        assert (pts[0]["from"], pts[-1]["to"]) == (wib(10, 0, 0).isoformat(),
                                                   wib(10, 12, 10).isoformat())  # fmt: skip
    else:
        assert (len(pts), body["bin_s"]) == (14, 86_400)
        assert (pts[0]["from"], pts[-1]["to"]) == (
            datetime(2025, 5, 28, tzinfo=WIB).isoformat(), wib(11, 0, 0).isoformat())  # fmt: skip
    assert all(p["compliance"] is None for p in pts if p["judged"] < 20)


def test_names_and_errors(client: TestClient) -> None:
    assert client.get(f"/series/kelurahan/{A}").json()["name"] == "Miroto"
    city = client.get("/series/city").json()
    assert (city["level"], city["code"], city["name"]) == ("city", "33.74", "Kota Semarang")
    assert client.get("/series/kelurahan/33.74.99.9999").status_code == 404
    assert client.get("/series/kecamatan/33.74.99").status_code == 404
    assert client.get(f"/series/camera/{A}").status_code == 422
    assert client.get("/series/city?span=week").status_code == 422


def test_bins_add_up_to_the_summary(data: Engine) -> None:
    """Same windows, same definitions: today's bins sum to the summaries' `today` period."""
    for cfg in ({}, {"include_unsuitable_cameras": True}):
        board = board_at(data, **cfg)
        app = FastAPI()
        app.include_router(series_router(data, board, now=lambda: NOW))
        with TestClient(app) as c:
            for level, code in (("kelurahan", A), ("kecamatan", K1), ("city", "")):
                path = f"/series/{level}" + (f"/{code}" if code else "")
                pts = c.get(path).json()["points"]
                today = board.get(level, code).payload["periods"]["today"]  # type: ignore[union-attr]
                for k in ("people_seen", "masked", "unmasked", "judged"):
                    assert sum(p[k] for p in pts) == today[k], (cfg, level, k)
    # With unsuitable cameras included, box3/camX's 10 masked, 30 unmasked count.
    assert today["masked"] == 20 + 6 + 5 + 15 + 10


def test_503_before_the_first_pass(data: Engine) -> None:
    app = FastAPI()
    app.include_router(series_router(data, SummaryBoard(), now=lambda: NOW))
    assert TestClient(app).get("/series/city").status_code == 503


def test_bounded_queries_and_late_data(data: Engine) -> None:
    """Closed bins are computed once and refreshed a few per call; the open bin at most every
    OPEN_TTL_S; late data in a closed bin shows once it is refreshed."""
    queries: list[str] = []

    def count(*args: Any) -> None:
        if args[2].lstrip().upper().startswith("SELECT"):
            queries.append(args[2])

    t = [0.0]
    cache = SeriesCache(data, clock=lambda: t[0])
    bins = today_bins(NOW, WIB)
    event.listen(data, "before_cursor_execute", count)
    try:

        def a_at(end: datetime) -> int:
            by = cache.sums("bins", bins, NOW, include_unsuitable=False, ttl_s=BIN_REFRESH_S)
            return sum(b[A].people_seen for b, (_, e) in zip(by, bins, strict=True)
                       if e == end and A in b)  # fmt: skip

        assert a_at(wib(10, 11, 50)) == 70 and len(queries) == 73  # first call: every bin
        queries.clear()
        insert_rows(data, [row("box1", "cam2", A, wib(10, 11, 48), 100, 4, 2, 2)])  # late
        assert a_at(wib(10, 11, 50)) == 70 and queries == []  # cached, nothing asked
        t[0] += OPEN_TTL_S
        assert a_at(wib(10, 11, 50)) == 70 and len(queries) == 1  # only the open bin
        queries.clear()
        t[0] += BIN_REFRESH_S
        a_at(wib(10, 11, 50))
        assert len(queries) == 3 + 1  # REFRESH_PER_CALL closed bins and the open one
        for _ in range(30):  # the stale bins come round a few per call
            if a_at(wib(10, 11, 50)) == 74:
                break
        assert a_at(wib(10, 11, 50)) == 74
    finally:
        event.remove(data, "before_cursor_execute", count)


def test_served_by_central(data: Engine) -> None:
    """Wired into central's app, public (no token), on the real clock (the data is from 2025:
    every bin of the last 14 days is empty, none is left out)."""
    ctx = ApiContext(engine=data, board=board_at(data), cameras=registry(small_areas()))
    with TestClient(create_app(ctx)) as c:
        r = c.get(f"/series/kelurahan/{A}?span=14d")
        assert r.status_code == 200, r.text
        pts = r.json()["points"]
        assert len(pts) == 14 and all(p["people_seen"] == 0 for p in pts)
        assert (
            pts[-1]["to"][:10]
            == (datetime.now(UTC) + timedelta(hours=7, days=1)).date().isoformat()
        )
        assert "/series/{level}/{code}" in c.get("/openapi.json").json()["paths"]

"""The CKAN adapter against a small fake CKAN (Action API over real HTTP on 127.0.0.1).

The fake keeps packages and DataStore tables in memory, checks the Authorization header,
enforces the primary key (datastore_insert of a duplicate fails, datastore_upsert updates)
and can be told to answer 500 a few times.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from central.config import CentralConfig, CkanSection, OpendataSection
from central.opendata.build import KELURAHAN_FIELDS
from central.opendata.ckan import (
    CkanClient,
    CkanError,
    CkanUnavailable,
    load_token,
    publish,
)
from central.opendata.run import ckan_due, publish_day, publish_due
from central.report.run import ReportScheduler
from siaga.cli import main

TOKEN = "tok-0123456789abcdef"


class FakeCkan:
    """In-memory CKAN: packages, resources and DataStore tables with primary keys."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.fail_next = 0  # answer 500 to this many requests
        self.lose_answer: set[str] = set()  # do these actions once, then answer 500 (lost reply)
        self.calls: list[str] = []
        self.packages: dict[str, dict[str, Any]] = {}
        self.tables: dict[str, dict[str, Any]] = {}  # resource id -> fields, key, records
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                name = self.path.removeprefix("/api/3/action/")
                with fake.lock:
                    status, doc = fake.handle(name, body, self.headers.get("Authorization"))
                raw = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, name: str, body: dict[str, Any], auth: str | None) -> tuple[int, Any]:
        self.calls.append(name)
        if self.fail_next > 0:
            self.fail_next -= 1
            return 500, {"success": False, "error": {"__type": "Internal Server Error"}}
        if auth != self.token:
            return 403, {"success": False, "error": {"__type": "Authorization Error",
                                                     "message": "Access denied"}}  # fmt: skip
        try:
            result = getattr(self, name)(body)
            if name in self.lose_answer:
                self.lose_answer.discard(name)
                return 500, {"success": False, "error": {"__type": "Gateway Timeout"}}
            return 200, {"success": True, "result": result}
        except KeyError as exc:
            return 404, {"success": False, "error": {"__type": "Not Found Error",
                                                     "message": f"Not found: {exc}"}}  # fmt: skip
        except ValueError as exc:
            return 409, {"success": False, "error": {"__type": "Validation Error",
                                                     "message": str(exc)}}  # fmt: skip

    def package_show(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.packages[body["id"]]

    def package_create(self, body: dict[str, Any]) -> dict[str, Any]:
        if body["name"] in self.packages:
            raise ValueError("That URL is already in use.")
        if not body.get("owner_org"):
            raise ValueError("owner_org: missing")
        pkg = {**body, "id": str(uuid.uuid4()), "resources": []}
        self.packages[body["name"]] = pkg
        return pkg

    def datastore_create(self, body: dict[str, Any]) -> dict[str, Any]:
        if "resource_id" in body:
            rid = body["resource_id"]
            if list(self.tables[rid]["key"]) != body["primary_key"]:
                raise ValueError("primary key cannot change")
            self.tables[rid]["fields"] = body["fields"]
        else:
            res = {**body["resource"], "id": str(uuid.uuid4())}
            pkg = next(p for p in self.packages.values() if p["id"] == res["package_id"])
            pkg["resources"].append(res)
            rid = res["id"]
            self.tables[rid] = {"fields": body["fields"], "key": tuple(body["primary_key"]),
                                "records": {}}  # fmt: skip
        return {"resource_id": rid, "fields": body["fields"]}

    def datastore_upsert(self, body: dict[str, Any]) -> dict[str, Any]:
        t = self.tables[body["resource_id"]]
        known = {f["id"] for f in t["fields"]}
        for rec in body["records"]:
            if set(rec) - known:
                raise ValueError(f"unknown fields {sorted(set(rec) - known)}")
            key = tuple(rec[k] for k in t["key"])
            if body["method"] == "insert" and key in t["records"]:
                raise ValueError(f"duplicate key {key}")
            if body["method"] == "update" and key not in t["records"]:
                raise ValueError(f"no row {key}")
            t["records"][key] = {**t["records"].get(key, {}), **rec}
        return {"records": body["records"]}

    def rows(self) -> dict[tuple[Any, ...], dict[str, Any]]:
        (table,) = self.tables.values()
        return dict(table["records"])


@pytest.fixture
def ckan() -> Iterator[FakeCkan]:
    fake = FakeCkan()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _section(fake: FakeCkan, tmp_path: Path, token: str = TOKEN, **over: Any) -> CkanSection:
    tf = tmp_path / "ckan-token"
    tf.write_text(token + "\n")
    return CkanSection(enabled=True, url=fake.url, token_file=tf, backoff_s=0.0, timeout_s=5,
                       **over)  # fmt: skip


def _row(kel: str, day: str, confirmed: int | None) -> dict[str, Any]:
    r: dict[str, Any] = {f.name: None for f in KELURAHAN_FIELDS}
    return r | {"date": day, "kelurahan_code": kel, "kelurahan_name": "Kel", "people_seen": 40,
                "cases_confirmed": confirmed}  # fmt: skip


def _client(cfg: CkanSection, sleeps: list[float] | None = None) -> CkanClient:
    sink = sleeps if sleeps is not None else []
    return CkanClient(cfg.url, load_token(cfg), timeout_s=5, retries=cfg.retries,
                      backoff_s=0.5, sleep=sink.append)  # fmt: skip


def test_publish_creates_dataset_then_upserts(ckan: FakeCkan, tmp_path: Path) -> None:
    cfg = _section(ckan, tmp_path)
    rows = [_row("33.74.01.1001", "2021-07-10", 10), _row("33.74.01.1002", "2021-07-10", 5)]
    assert publish(_client(cfg), cfg, rows) == 2
    assert ckan.calls == ["package_show", "package_create", "datastore_create",
                          "datastore_upsert"]  # fmt: skip
    pkg = ckan.packages[cfg.dataset]
    assert (pkg["owner_org"], pkg["license_id"]) == (cfg.organization, cfg.license_id)
    assert [t["name"] for t in pkg["tags"]] == list(cfg.tags) and pkg["notes"]
    (table,) = ckan.tables.values()
    assert table["key"] == ("kelurahan_code", "date")
    assert [f["id"] for f in table["fields"]] == [f.name for f in KELURAHAN_FIELDS]
    assert {f["id"]: f["type"] for f in table["fields"]}["mask_compliance"] == "numeric"
    # The same day again, one figure changed: updated in place, nothing duplicated.
    ckan.calls.clear()
    rows[1] = _row("33.74.01.1002", "2021-07-10", 7)
    assert publish(_client(cfg), cfg, rows) == 2
    assert ckan.calls == ["package_show", "datastore_create", "datastore_upsert"]
    got = ckan.rows()
    assert len(got) == 2 and len(ckan.packages) == 1 and len(pkg["resources"]) == 1
    assert got[("33.74.01.1002", "2021-07-10")]["cases_confirmed"] == 7
    assert got[("33.74.01.1001", "2021-07-10")]["cases_confirmed"] == 10
    publish(_client(cfg), cfg, [_row("33.74.01.1001", "2021-07-11", 12)])
    assert sorted(ckan.rows()) == [("33.74.01.1001", "2021-07-10"), ("33.74.01.1001", "2021-07-11"),
                                   ("33.74.01.1002", "2021-07-10")]  # fmt: skip


def test_wrong_token_is_a_clear_error_without_the_token(
    ckan: FakeCkan, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _section(ckan, tmp_path, token="wrong-token-value")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CkanError) as err:
        publish(_client(cfg), cfg, [_row("33.74.01.1001", "2021-07-10", 1)])
    assert not isinstance(err.value, CkanUnavailable)
    assert str(err.value) == "CKAN package_show: HTTP 403 Authorization Error: Access denied"
    assert ckan.calls == ["package_show"]  # a 4xx is not retried
    assert "wrong-token-value" not in caplog.text + repr(_client(cfg))


def test_transient_500s_are_retried_with_backoff(ckan: FakeCkan, tmp_path: Path) -> None:
    cfg = _section(ckan, tmp_path, retries=3)
    sleeps: list[float] = []
    ckan.fail_next = 3
    assert publish(_client(cfg, sleeps), cfg, [_row("33.74.01.1001", "2021-07-10", 1)]) == 1
    assert sleeps == [0.5, 1.0, 2.0]
    assert ckan.calls[:4] == ["package_show"] * 4 and len(ckan.rows()) == 1
    ckan.fail_next = 10
    with pytest.raises(CkanUnavailable, match=r"HTTP 500 .* \(after 4 tries\)"):
        publish(_client(cfg), cfg, [_row("33.74.01.1001", "2021-07-10", 1)])


def test_a_create_whose_answer_is_lost_is_not_repeated(ckan: FakeCkan, tmp_path: Path) -> None:
    # CKAN made the dataset and the table, but both answers were lost (a timeout, a 5xx from a
    # proxy): the client looks before sending again, so there is one of each.
    cfg = _section(ckan, tmp_path, retries=3)
    ckan.lose_answer = {"package_create", "datastore_create"}
    sleeps: list[float] = []
    assert publish(_client(cfg, sleeps), cfg, [_row("33.74.01.1001", "2021-07-10", 1)]) == 1
    (pkg,) = ckan.packages.values()
    assert len(pkg["resources"]) == 1 and len(ckan.tables) == 1 and len(ckan.rows()) == 1
    assert ckan.calls.count("package_create") == ckan.calls.count("datastore_create") == 1
    assert len(sleeps) == 2  # one wait before each look


def test_unreachable_portal_is_retried_then_reported(tmp_path: Path) -> None:
    tf = tmp_path / "t"
    tf.write_text(TOKEN)
    client = CkanClient("http://127.0.0.1:9", SecretStr(TOKEN), retries=2, backoff_s=0.1,
                        sleep=lambda _s: None)  # fmt: skip
    with pytest.raises(CkanUnavailable, match=r"cannot reach http://127\.0\.0\.1:9"):
        client.action("package_show", {"id": "x"})
    assert client.calls == 3


def test_token_never_follows_a_redirect_nor_leaves_in_clear_text(tmp_path: Path) -> None:
    seen: list[str | None] = []
    steal = "http://127.0.0.1:9/steal"  # where a followed redirect would carry the token

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(302)
            self.send_header("Location", steal)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = CkanClient(f"http://127.0.0.1:{server.server_port}", SecretStr(TOKEN),
                            retries=0, backoff_s=0.0, sleep=lambda _s: None)  # fmt: skip
        with pytest.raises(CkanError, match=r"HTTP 302"):
            client.action("package_show", {"id": "x"})
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [TOKEN]  # the first request only: the redirect was not followed
    with pytest.raises(ValueError, match="use https"):
        CkanSection(url="http://data.semarangkota.go.id")
    assert CkanSection(url="http://127.0.0.1:5000").url.startswith("http://127.0.0.1")


def test_token_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.delenv("SIAGA_CKAN_TOKEN", raising=False)
    with pytest.raises(CkanError, match="no CKAN API token"):
        load_token(CkanSection())
    with pytest.raises(CkanError, match="cannot read"):
        load_token(CkanSection(token_file=tmp_path / "missing"))
    monkeypatch.setenv("SIAGA_CKAN_TOKEN", "from-env")
    assert load_token(CkanSection()).get_secret_value() == "from-env"
    (tmp_path / "ckan-token").write_text("from-credential\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert load_token(CkanSection()).get_secret_value() == "from-credential"
    with pytest.raises(ValueError, match="extra"):
        CkanSection(token="inline")  # type: ignore[call-arg]


def _write_day(out: Path, day: str, confirmed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    doc = {"schema": "siaga.opendata/1", "records": [_row("33.74.01.1001", day, confirmed)]}
    (out / f"kelurahan-daily-{day}.json").write_text(json.dumps(doc))


def test_publish_due_catches_up_and_marks(ckan: FakeCkan, tmp_path: Path) -> None:
    out = tmp_path / "od"
    section = _section(ckan, tmp_path, retries=0)
    cfg = CentralConfig(opendata=OpendataSection(output_dir=out, ckan=section))
    now = datetime(2021, 7, 10, 6, tzinfo=UTC)
    for d in ("2021-07-08", "2021-07-09"):
        _write_day(out, d, 1)
    ckan.fail_next = 1  # the portal is down for this pass
    assert publish_due(cfg, now) is None
    assert ckan_due(out, now) == [date(2021, 7, 8), date(2021, 7, 9)]
    assert publish_due(cfg, now) == [date(2021, 7, 8), date(2021, 7, 9)]
    assert ckan_due(out, now) == [] and publish_due(cfg, now) == []
    assert len(ckan.rows()) == 2
    _write_day(out, "2021-07-09", 5)  # rebuilt by hand, then published again on request
    assert publish_day(cfg, date(2021, 7, 9)) == 1
    assert ckan.rows()[("33.74.01.1001", "2021-07-09")]["cases_confirmed"] == 5
    assert len(ckan.rows()) == 2


def test_service_scheduler_publishes(ckan: FakeCkan, tmp_path: Path, db_url: str) -> None:
    from central.store.engine import make_engine
    from central.store.migrations import migrate

    engine = make_engine(db_url)
    migrate(engine)
    out = tmp_path / "od"
    cfg = CentralConfig(opendata=OpendataSection(output_dir=out, ckan=_section(ckan, tmp_path)))
    s = ReportScheduler(engine, cfg)
    assert s.run_once(datetime(2021, 7, 10, 6, tzinfo=UTC)) is True
    assert s.opendata_written == [date(2021, 7, 10)] and s.published == [date(2021, 7, 10)]
    assert (out / ".ckan-2021-07-10").is_file()
    engine.dispose()


def test_cli_publish(ckan: FakeCkan, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tf = tmp_path / "tok"
    tf.write_text(TOKEN)
    conf = tmp_path / "c.toml"
    conf.write_text(f'[opendata]\noutput_dir = "{tmp_path / "od"}"\n[opendata.ckan]\n'
                    f'enabled = true\nurl = "{ckan.url}"\ntoken_file = "{tf}"\n')  # fmt: skip
    db = str(tmp_path / "db.sqlite3")
    assert main(["central", "opendata", "--config", str(conf), "--db", db,
                 "--date", "2021-07-10", "--publish"]) == 0  # fmt: skip
    assert "CKAN: 0 rows upserted" in capsys.readouterr().err  # no areas in this database
    tf.write_text("bad")
    assert main(["central", "opendata", "--config", str(conf), "--db", db,
                 "--date", "2021-07-10", "--publish"]) == 1  # fmt: skip
    assert "Authorization Error" in capsys.readouterr().err

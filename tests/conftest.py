"""Shared fixtures: where ../shared is, and skips with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    """SIAGA_SHARED, else ../shared beside the checkout."""
    return Path(os.environ.get("SIAGA_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    root = shared_root()
    if not (root / "models").is_dir():
        pytest.skip(f"shared data folder not found at {root} (set SIAGA_SHARED)")
    return root


@pytest.fixture(scope="session")
def andrewmvd(shared: Path) -> Path:
    d = shared / "data" / "andrewmvd"
    if not (d / "annotations").is_dir():
        pytest.skip(f"andrewmvd data set not found under {d}")
    return d


# ../shared/models is the model search path in every test (as the Makefile sets it); set at
# import so that module- and session-scoped fixtures see it too.
os.environ.setdefault("SIAGA_MODEL_PATH", str(shared_root() / "models"))


# ---- a real Mosquitto (tests/mqtt_broker.py) ----

from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

from tests.mqtt_broker import MosquittoBroker, mosquitto_binary  # noqa: E402


def _require_mosquitto() -> None:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto binary not found: apt-get install -y mosquitto")


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoBroker]]:
    """Make brokers with custom config (MosquittoBroker's keyword arguments); all killed after."""
    _require_mosquitto()
    brokers: list[MosquittoBroker] = []

    def make(**kwargs: Any) -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path / f"mosquitto{len(brokers)}", **kwargs)
        brokers.append(broker)
        return broker.start()

    yield make
    for b in brokers:
        b.kill()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """A running anonymous broker on a free loopback port, with persistence (for restarts)."""
    return mosquitto_factory()


# ---- PostgreSQL (tests/pg.py), a database URL on both backends, central's collector ----

from tests.pg import PgServer, PgUnavailable  # noqa: E402

# A stopped collector's persistent session must keep everything published meanwhile (the
# default is 1000 queued messages per client, and drops beyond).
CENTRAL_BROKER_CONFIG = ("max_queued_messages 10000000", "max_queued_bytes 0")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL role with CREATEDB on the local cluster (started if down), dropped after."""
    try:
        server = PgServer.ensure()
    except PgUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.close()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    with pg_server.database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, then a PostgreSQL database (same tests on both)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/siaga.sqlite3"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    with server.database() as url:
        yield url


@pytest.fixture
def central_mosquitto(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """A broker configured as central's should be: queues for a stopped collector are kept."""
    return mosquitto_factory(extra_config=CENTRAL_BROKER_CONFIG)


@pytest.fixture
def collector_factory() -> Iterator[Callable[..., Any]]:
    """Start collectors (central.ingest.collector.Collector arguments); each is stopped after."""
    from central.ingest.collector import Collector

    made: list[Collector] = []

    def make(*args: Any, **kwargs: Any) -> Collector:
        c = Collector(*args, **kwargs)
        made.append(c)
        c.start()
        return c

    yield make
    for c in made:
        c.stop(timeout_s=2.0)


# ---- every summary and alert central publishes follows docs/schema (tests/contract_site) ----

from tests.contract_site import contract_check  # noqa: E402

contract_check.install()
CONTRACT_SITE = Path(contract_check.__file__).resolve().parent


@pytest.fixture(autouse=True)
def published_payloads_follow_the_contract(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Fails the test when central published a summary or alert that breaks docs/schema, in
    this process or in a Python subprocess (sitecustomize.py there); yields the record file."""
    path = tmp_path_factory.mktemp("contract") / "violations.jsonl"
    monkeypatch.setenv(contract_check.VIOLATIONS_ENV, str(path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(CONTRACT_SITE), os.environ.get("PYTHONPATH")) if p))  # fmt: skip
    yield path
    found = contract_check.read_violations(path)
    if found:
        lines = [f"{v['what']}: {'; '.join(v['problems'])}" for v in found[:20]]
        pytest.fail(f"{len(found)} published payload(s) break docs/schema:\n" + "\n".join(lines),
                    pytrace=False)  # fmt: skip


# ---- a test that runs `siaga …` in this process leaves no handler on the root logger ----


@pytest.fixture(autouse=True)
def root_logging_restored() -> Iterator[None]:
    """`siaga.cli.main` installs its stderr handler on the root logger; run in-process by a test,
    that handler held pytest's captured stderr after the test, and every later thread's log line
    ended in "--- Logging error --- I/O operation on closed file" in the CI output. Handlers of
    ours added during the test are removed and the root level put back."""
    import logging

    from siaga.logs import _SiagaHandler

    root = logging.getLogger()
    before, level = set(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if isinstance(h, _SiagaHandler)]:
        if handler not in before:
            root.removeHandler(handler)
    root.setLevel(level)

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

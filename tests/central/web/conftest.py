"""Fixtures of the dashboard tests: a broker with its WebSocket listener, a running central on the
Semarang areas (tests/central/web/dashboard_fixtures.py) and headless Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.central.web.dashboard_fixtures import City, chromium, running_city, shared_geo
from tests.mqtt_broker import MosquittoBroker


@pytest.fixture
def ws_broker(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """An anonymous broker with a plain listener (central, agents) and a WebSocket one."""
    return mosquitto_factory(websockets=True)


@pytest.fixture
def city(ws_broker: MosquittoBroker, tmp_path: Path) -> Iterator[City]:
    """Central on the 177 kelurahan with the dashboard pointed at the WebSocket listener."""
    shared_geo()
    with running_city(ws_broker, tmp_path / "central") as c:
        yield c


@pytest.fixture
def city_without_ws(mosquitto_factory: Callable[..., MosquittoBroker],
                    tmp_path: Path) -> Iterator[City]:  # fmt: skip
    """The same, but [dashboard] names a WebSocket URL where nothing listens."""
    shared_geo()
    with running_city(mosquitto_factory(), tmp_path / "central", ws=False) as c:
        yield c


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium at 1366x768, quit after the test."""
    drv = chromium(tmp_path)
    try:
        yield drv
    finally:
        drv.quit()

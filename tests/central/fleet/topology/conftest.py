"""Fixtures of the topology scenarios: PostgreSQL (tests/conftest.py's pg_url) and the harness."""

from __future__ import annotations

import pytest

from tests.mqtt_broker import mosquitto_binary


@pytest.fixture(autouse=True)
def _needs_mosquitto() -> None:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")

"""Fixtures of the fleet tests: a fresh fleet directory; the module-wide broker world."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.fleet.provision import Fleet
from tests.central.fleet.broker_world import World, running_world


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    """An initialised fleet (CA, broker certificate for a DNS name and an IP), nothing else."""
    f = Fleet(tmp_path / "fleet")
    f.init(hostnames=["broker.semarang.test"], ips=["10.1.2.3"])
    return f


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One provisioned fleet and its running broker for a whole test module."""
    with running_world(tmp_path_factory.mktemp("fleet")) as w:
        yield w

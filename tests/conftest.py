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


@pytest.fixture(autouse=True)
def _model_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ../shared/models the model search path in every test (as the Makefile does)."""
    monkeypatch.setenv("SIAGA_MODEL_PATH", str(shared_root() / "models"))

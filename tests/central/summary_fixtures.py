"""Shared test data for central: a tiny area tree, a camera registry and count rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert

from central.areas import Areas, CameraRegistry, Kecamatan, Kelurahan, parse_cameras
from central.store import schema
from siaga.wire import CountsMessage, ModelInfo

WIB = ZoneInfo("Asia/Jakarta")
K1, K2 = "33.74.01", "33.74.02"
A, B, C = "33.74.01.1001", "33.74.02.1001", "33.74.01.1002"
SQUARE = (((110.0, -7.0), (110.1, -7.0), (110.1, -6.9), (110.0, -6.9), (110.0, -7.0)),)


def small_areas() -> Areas:
    """Two kecamatan, three kelurahan (A and C in K1, B in K2); A has a square boundary."""
    return Areas(
        "33.74",
        "Kota Semarang",
        {K1: Kecamatan(K1, "Semarang Tengah"), K2: Kecamatan(K2, "Semarang Utara")},
        {
            A: Kelurahan(A, "Miroto", K1, (110.05, -6.95), (SQUARE,)),
            B: Kelurahan(B, "Bandarharjo", K2),
            C: Kelurahan(C, "Brumbungan", K1),
        },
    )


def registry(areas: Areas) -> CameraRegistry:
    """box1/cam1, box1/cam2, box3/camX in A; box2/cam1 and box2/cam9 (not expected) in B."""
    return parse_cameras(
        [
            {"agent_id": "box1", "camera_id": "cam1", "kelurahan_code": A, "name": "Pasar"},
            {"agent_id": "box1", "camera_id": "cam2", "kelurahan_code": A},
            {"agent_id": "box3", "camera_id": "camX", "kelurahan_code": A},
            {"agent_id": "box2", "camera_id": "cam1", "kelurahan_code": B},
            {"agent_id": "box2", "camera_id": "cam9", "kelurahan_code": B, "expected": False},
        ],
        areas,
        where="test",
    )


def wib(day: int, hh: int, mm: int) -> datetime:
    """A June 2025 local time in Asia/Jakarta."""
    return datetime(2025, 6, day, hh, mm, tzinfo=WIB)


def count_row(
    agent: str, camera: str, kel: str, end: datetime, seq: int, people: int, masked: int,
    unmasked: int, *, window_s: int = 60,
) -> dict[str, object]:  # fmt: skip
    """A counts table row (times stored as UTC)."""
    return {
        "agent_id": agent, "seq": seq, "camera_id": camera, "site": "test", "kelurahan_code": kel,
        "window_start": (end - timedelta(seconds=window_s)).astimezone(UTC),
        "window_end": end.astimezone(UTC), "people_seen": people, "masked": masked,
        "unmasked": unmasked, "occupancy_mean": 0.5, "occupancy_max": 2,
        "frames_processed": 600, "frames_inferred": 300, "model_name": "m", "model_version": "1",
        "model_sha256": "0" * 64, "calibration_version": None, "kelurahan_mismatch": False,
        "received_at": end.astimezone(UTC),
    }  # fmt: skip


def insert_rows(engine: Engine, rows: Iterable[dict[str, object]]) -> None:
    """Insert count rows directly."""
    with engine.begin() as conn:
        conn.execute(insert(schema.counts), list(rows))


def write_area_files(folder: Path) -> tuple[Path, Path]:
    """small_areas() as a wilayah CSV, and a camera registry TOML for box1/cam1 in A."""
    areas = small_areas()
    lines = ["code,name,level,parent_code", f"{areas.kota_code},{areas.kota_name},kota,"]
    lines += [f"{k.code},{k.name},kecamatan,{areas.kota_code}" for k in areas.kecamatan.values()]
    lines += [f"{k.code},{k.name},kelurahan,{k.kecamatan_code}" for k in areas.kelurahan.values()]
    csv_path, cams = folder / "wilayah.csv", folder / "cameras.toml"
    csv_path.write_text("\n".join(lines) + "\n")
    cams.write_text(f'[[cameras]]\nagent_id = "box1"\ncamera_id = "cam1"\nkelurahan_code = "{A}"\n')
    return csv_path, cams


def counts_message(agent: str, camera: str, kel: str, end: datetime, seq: int, people: int,
                   masked: int, unmasked: int) -> CountsMessage:  # fmt: skip
    """A valid counts message as an agent publishes it."""
    return CountsMessage(
        agent_id=agent, seq=seq, camera_id=camera, site="test", kelurahan_code=kel,
        window_start=end - timedelta(seconds=60), window_end=end, people_seen=people,
        masked=masked, unmasked=unmasked, occupancy_mean=1.0, occupancy_max=2,
        frames_processed=100, frames_inferred=50,
        model=ModelInfo(name="m", version="1", sha256="0" * 64),
    )  # fmt: skip


@contextlib.contextmanager
def migrated_engine(request: Any, backend: str, folder: Path) -> Iterator[Engine]:
    """A migrated, empty database on backend ("sqlite" file in folder, or "postgresql")."""
    from central.store.engine import make_engine
    from central.store.migrations import migrate

    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{folder / 'central.sqlite3'}"
        else:
            url = stack.enter_context(request.getfixturevalue("pg_server").database())
        engine = make_engine(url)
        stack.callback(engine.dispose)
        migrate(engine)
        yield engine

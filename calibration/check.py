"""`siaga calibrate check`: validate a calibration file the way the agent will load it."""

from __future__ import annotations

from pathlib import Path

from agent.calibration_file import CalibrationFile, load_calibration
from siaga.settings import ConfigError


def check_file(path: Path, *, camera_id: str | None = None) -> CalibrationFile:
    """The parsed file, or ConfigError naming the file, the key and the reason."""
    # The agent's own loader is the single source of truth: what passes here loads there.
    return load_calibration(path, camera_id=camera_id)


def describe(cal: CalibrationFile) -> list[str]:
    """Human-readable lines summarising a valid calibration file."""
    thresholds = ", ".join(f"{k} {v:.2f}" for k, v in sorted(cal.thresholds.items())) or "model's"
    zones_in = "config's" if cal.include_zones is None else str(len(cal.include_zones))
    zones_out = "config's" if cal.exclude_zones is None else str(len(cal.exclude_zones))
    return [
        f"camera {cal.camera_id}, calibration version {cal.version}",
        f"thresholds: {thresholds}",
        f"face size: {cal.min_face_px or 'config'} .. {cal.max_face_px or 'config'} px",
        f"zones: include {zones_in}, exclude {zones_out}",
    ]


def run_check(path: Path, camera_id: str | None) -> tuple[int, list[str]]:
    """Exit status (0 ok, 2 invalid) and the lines to print."""
    try:
        cal = check_file(path, camera_id=camera_id)
    except ConfigError as exc:
        return 2, [f"siaga calibrate: invalid: {exc}"]
    return 0, [*describe(cal), f"{path}: OK"]

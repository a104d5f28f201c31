"""Technician labels on disk (JSON lines) and the calibration file a fit produces."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from agent.calibration_file import CALIBRATION_SCHEMA, load_calibration
from calibration.fit import ClassFit, Label, confusion_at


def read_labels(path: Path) -> list[Label]:
    """One `{"score", "predicted", "truth"}` object a line; errors name the file and line."""
    labels = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            labels.append(Label(float(obj["score"]), str(obj["predicted"]), str(obj["truth"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: bad label: {exc}") from None
    return labels


def calibration_data(
    camera_id: str,
    version: str,
    fits: Mapping[str, ClassFit],
    *,
    labels: Sequence[Label] = (),
    notes: str = "",
    now: datetime | None = None,
) -> dict[str, object]:
    """The calibration file's content for fitted thresholds (zones and sizes left to config);
    with the labels, the detector's confusion at those thresholds (central corrects with it)."""
    summary = ", ".join(
        f"{c} p={f.precision:.2f} r={f.recall:.2f} on {f.labels_used} labels"
        + ("" if f.target_met else " (target precision not reachable)")
        for c, f in fits.items()
    )
    thresholds = {c: round(f.threshold, 4) for c, f in fits.items()}
    data: dict[str, object] = {
        "schema": CALIBRATION_SCHEMA,
        "version": version,
        "camera_id": camera_id,
        "thresholds": thresholds,
        "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "notes": (notes + "; " if notes else "") + f"fitted: {summary}",
    }
    confusion = confusion_at(labels, thresholds)
    if confusion is not None:
        data["confusion"] = confusion
    return data


def write_calibration(path: Path, data: Mapping[str, object]) -> None:
    """Write a calibration file as JSON, then load it back the agent's way to prove it valid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    load_calibration(path, camera_id=str(data["camera_id"]))

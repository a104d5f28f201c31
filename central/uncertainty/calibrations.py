"""Each camera's detector confusion, read from its agent's newest status (the `agents` table).

The agent reports per camera the calibration it runs with (siaga.wire.CameraCalibration:
version and the confusion counts at its thresholds); central keeps each agent's newest status,
so a recalibrated camera's figures are corrected with its newest matrix. Known limit: windows
counted before a recalibration (within the 7-day period) are corrected with the newer matrix
too; the counts' own calibration_version says which windows those are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import Connection, select

from central.store import schema
from central.uncertainty.correction import Confusion
from siaga.wire import DetectorConfusion, StatusMessage

log = logging.getLogger(__name__)
CamKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class CameraCalibration:
    """A camera's calibration version and its confusion (None: the file carries none)."""

    version: str
    confusion: Confusion | None


def confusion_of(c: DetectorConfusion) -> Confusion:
    """The wire's counts as the correction's."""
    return Confusion(
        mask=(c.mask.masked, c.mask.unmasked, c.mask.missed),
        no_mask=(c.no_mask.masked, c.no_mask.unmasked, c.no_mask.missed),
        not_a_face=(c.not_a_face.masked, c.not_a_face.unmasked),
    )


def read_calibrations(conn: Connection) -> dict[CamKey, CameraCalibration]:
    """(agent, camera) → calibration, for every camera whose agent's newest status names one."""
    a = schema.agents.c
    out: dict[CamKey, CameraCalibration] = {}
    for agent_id, text in conn.execute(select(a.agent_id, a.status_json)):
        if not text:
            continue
        try:
            status = StatusMessage.model_validate_json(text)
        except ValidationError:  # stored by an older central: no calibration in it
            log.debug("status of %s does not parse; its cameras count as uncalibrated", agent_id)
            continue
        for camera_id, health in status.cameras.items():
            cal = health.calibration
            if cal is not None:
                conf = None if cal.confusion is None else confusion_of(cal.confusion)
                out[(agent_id, camera_id)] = CameraCalibration(cal.version, conf)
    return out

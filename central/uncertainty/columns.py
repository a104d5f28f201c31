"""Compliance uncertainty as flat columns, for tables that hold one number a cell (the daily
report's figures, the open data's CSV): the same figures as the summaries' `interval` and
`corrected` objects, under the names every table shares."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Final

from central.uncertainty.calibrations import CameraCalibration, CamKey
from central.uncertainty.correction import CameraCalls, Corrected, Correction
from central.uncertainty.interval import wilson

COLUMNS: Final = (
    "compliance_low",
    "compliance_high",
    "compliance_corrected",
    "compliance_corrected_low",
    "compliance_corrected_high",
    "corrected_share",
)


# (agent_id, camera_id, kelurahan the counts reported): a camera that reported two kelurahan
# counts towards each with the calls it made there (each part draws its matrix on its own: in
# the rare area holding both parts, a slight understatement of the calibration's uncertainty).
Part = tuple[str, str, str]


class CameraTally:
    """Judged calls per camera and kelurahan, and which of them make up each area."""

    def __init__(self) -> None:
        self.calls: dict[Part, list[int]] = defaultdict(lambda: [0, 0])
        self.members: dict[str, set[Part]] = defaultdict(set)

    def add(self, areas: Iterable[str], part: Part, masked: int, unmasked: int) -> None:
        """One (agent, camera, kelurahan) sum, counted towards each of `areas`."""
        c = self.calls[part]
        c[0] += masked
        c[1] += unmasked
        for area in areas:
            self.members[area].add(part)

    def correction(self, calibration: Mapping[CamKey, CameraCalibration]) -> Correction:
        """The correction over every part counted (calibrated cameras with their confusion)."""
        return Correction({
            k: CameraCalls(m, u, cal.confusion if (cal := calibration.get(k[:2])) else None)
            for k, (m, u) in sorted(self.calls.items())
        })  # fmt: skip


def flat(masked: int, unmasked: int, corrected: Corrected | None, *,
         min_people: int) -> dict[str, float | None]:  # fmt: skip
    """The six columns: the Wilson interval (empty when nobody was judged) and the corrected
    compliance with its interval and share (empty without calibrated cameras; the corrected
    value itself empty below min_people judged, like the ratio)."""
    ends = wilson(masked, masked + unmasked)
    out: dict[str, float | None] = dict.fromkeys(COLUMNS)
    if ends is not None:
        out["compliance_low"], out["compliance_high"] = round(ends[0], 4), round(ends[1], 4)
    if corrected is not None:
        c = corrected.payload(min_people=min_people, judged=masked + unmasked)
        out["compliance_corrected"] = c["compliance"]
        out["compliance_corrected_low"] = c["low"]
        out["compliance_corrected_high"] = c["high"]
        out["corrected_share"] = c["share"]
    return out

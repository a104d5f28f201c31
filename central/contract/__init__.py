"""Central's published contract: pydantic models of what goes out on MQTT and over the API.

One set of models for both: the retained summaries (`siaga.summary/1`, summary.py), the alerts
(`siaga.alert/1`, alert.py), the operator views of cameras, agents and gaps (registry.py), the
public kelurahan map (geo.py) and area time series (series.py). The API routes use them as
response models (so /openapi.json describes them); `python -m central.contract.schemas --out
docs/schema` writes them as JSON Schema files a city's dashboard team can build on, and the
tests check every summary and alert the end-to-end tests publish against those files. Adding a
payload field means adding it here and regenerating docs/schema (a test fails otherwise).
"""

from central.contract.alert import Alert, AlertRecord
from central.contract.base import Corrected, Interval
from central.contract.geo import AreaCollection, AreaFeature, AreaProperties
from central.contract.registry import AgentState, CameraState, Gaps
from central.contract.series import Series, SeriesPoint
from central.contract.summary import (
    CameraSummary,
    CitySummary,
    Civic,
    KecamatanSummary,
    KelurahanSummary,
    Period,
    Summary,
)

__all__ = [
    "AgentState",
    "Alert",
    "AlertRecord",
    "AreaCollection",
    "AreaFeature",
    "AreaProperties",
    "CameraState",
    "CameraSummary",
    "CitySummary",
    "Civic",
    "Corrected",
    "Gaps",
    "Interval",
    "KecamatanSummary",
    "KelurahanSummary",
    "Period",
    "Series",
    "SeriesPoint",
    "Summary",
]

"""Operator views of the fleet: GET /cameras, /agents and /gaps (behind the read access policy).

Built in central/api/app.py from the camera registry, the agents table (availability and the
agent's retained status, as the agent sent it: siaga.wire.StatusMessage) and the gap tracker.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from central.contract.base import Contract, Count, Timestamp
from siaga.wire import CameraHealth, Ident, Judgement, KelurahanCode, StatusMessage

Availability = Literal["online", "offline"]


class CameraState(Contract):
    """One camera: its registry entry (absent keys: not registered) and its health."""

    agent_id: Ident
    camera_id: Ident
    kelurahan_code: KelurahanCode
    name: Annotated[str, Field(max_length=128)] | None = None
    """Registry name (absent for a camera not in the registry)."""
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lng: Annotated[float, Field(ge=-180, le=180)] | None = None
    expected: bool
    """Whether it should be reporting (unregistered cameras: false)."""
    registered: bool
    last_window_end: Timestamp | None
    """End of its newest count window (UTC)."""
    suitable: bool | None
    """The newest window's verdict on the view (null: not assessed or no window)."""
    availability: Availability | None
    """Its agent's availability (null: agent never seen)."""
    status_at: Timestamp | None
    """When its agent's latest status arrived."""
    health: CameraHealth | None
    """The camera's figures in its agent's latest status."""
    judgement: Judgement | None
    """Can the view judge masks, by the agent's recent faces (null: none sent)."""


class AgentState(Contract):
    """One agent: availability, latest status, revoked or not."""

    agent_id: Ident
    availability: Availability | None
    availability_at: Timestamp | None
    status: StatusMessage | None
    """The agent's latest retained status (siaga.status/1), as it sent it."""
    status_at: Timestamp | None
    first_seen: Timestamp | None
    revoked: bool


class GapRun(Contract):
    """A run of missing sequence numbers."""

    epoch: str
    """The agent's outbox incarnation ('' for agents without one): seqs run per epoch."""
    first: Annotated[int, Field(ge=0)]
    last: Annotated[int, Field(ge=0)]
    size: Annotated[int, Field(ge=1)]


class AgentGaps(Contract):
    """One agent's missing windows."""

    agent_id: Ident
    missing: Count
    """Sequence numbers missing in all."""
    gaps: list[GapRun]


class Gaps(Contract):
    """GET /gaps: missing seq ranges per agent."""

    agents: list[AgentGaps]

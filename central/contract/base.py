"""What every contract model shares: strict, closed, described; timestamps kept as sent.

Strict (no "5" for 5), closed (extra="forbid": a key central did not declare fails) and frozen.
Field descriptions come from the attribute docstrings, so the JSON Schema in docs/schema/ and the
OpenAPI document explain each field to a city's dashboard team without a separate manual.

Timestamps are ISO 8601 strings *as central wrote them* (summaries in the city's zone, alerts in
UTC with `Z`), not datetimes: validating a payload must not re-format it, so the API can return
what the model validated byte for byte, and the schema's pattern is checked by any JSON Schema
validator (format checks are optional in JSON Schema).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

ISO_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
ISO_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


def _aware_time(v: str) -> str:
    t = datetime.fromisoformat(v)  # ValueError (a validation error) when not a real time
    if t.tzinfo is None:
        raise ValueError("timestamp must carry its UTC offset")
    return v


def _real_date(v: str) -> str:
    date.fromisoformat(v)
    return v


Timestamp = Annotated[
    str,
    StringConstraints(pattern=ISO_TIME_PATTERN),
    AfterValidator(_aware_time),
    Field(json_schema_extra={"format": "date-time"}),
]
Day = Annotated[
    str,
    StringConstraints(pattern=ISO_DATE_PATTERN),
    AfterValidator(_real_date),
    Field(json_schema_extra={"format": "date"}),
]
Count = Annotated[int, Field(ge=0)]
Ratio = Annotated[float, Field(ge=0, le=1)]
AreaCode = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Contract(BaseModel):
    """Base of central's published payloads: strict, closed to unknown keys, frozen."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        use_attribute_docstrings=True,
        serialize_by_alias=True,  # "from", "7d", "schema" as on the wire
    )


class Interval(Contract):
    """A confidence interval for compliance over the people judged (null when none judged)."""

    method: Literal["wilson"]
    """How it is computed: the Wilson score interval of masked / judged."""
    level: Ratio
    """Confidence level, e.g. 0.95."""
    low: Ratio
    """Lower bound of compliance."""
    high: Ratio
    """Upper bound of compliance."""
    n: Count
    """People judged behind the interval."""


class Corrected(Contract):
    """Compliance corrected for the calibrated cameras' known detector errors."""

    method: str
    """How the correction is made."""
    compliance: Ratio | None
    """Corrected compliance, null below the minimum of people judged."""
    low: Ratio | None
    """Lower bound of the corrected compliance."""
    high: Ratio | None
    """Upper bound of the corrected compliance."""
    share: Ratio
    """Fraction of the people judged that calibrated cameras saw."""

"""Pharmacy stock of masks and hand sanitizer: the latest count per pharmacy and item.

Stock changes through the day, so a row carries its `as_of` time and an older row than the one
stored (a late or replayed report) is skipped rather than applied. Hence `as_of` may not lie in
the future (beyond FUTURE_SKEW_S of clock difference): a row dated 2099 would win over every
real report until then. Both the file import and `POST /civic/pharmacy` validate through here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from central.civic.common import CivicModule, CivicRow, Count, Ident, KelurahanCode, Name
from central.store import schema
from siaga.wire import Timestamp

FUTURE_SKEW_S = 600  # a pharmacy's clock (or its spreadsheet) may run ahead this much


def _not_in_future(t: datetime) -> datetime:
    now = datetime.now(UTC)
    if t > now + timedelta(seconds=FUTURE_SKEW_S):
        raise ValueError(
            f"is in the future ({t.isoformat()}; central's clock says "
            f"{now.replace(microsecond=0).isoformat()}): a future as_of would make every later "
            f"real update look stale; at most {FUTURE_SKEW_S // 60} minutes ahead are accepted"
        )
    return t


# Years 2000-2099 first (near year 1 or 9999 the time cannot be compared or stored), then "now".
AsOf = Annotated[Timestamp, AfterValidator(_not_in_future)]


class PharmacyStockRow(CivicRow):
    """One pharmacy's stock of one item at one time."""

    pharmacy_id: Ident
    item: Literal["mask", "hand_sanitizer"]
    pharmacy_name: Name
    kelurahan_code: KelurahanCode
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)
    quantity: Count
    unit: Name
    as_of: AsOf


MODULE = CivicModule(
    name="pharmacy",
    model=PharmacyStockRow,
    table=schema.civic_pharmacy_stock,
    key=("pharmacy_id", "item"),
    help="pharmacy stock of masks and hand sanitizer (newest as_of wins)",
    newer="as_of",
    owner="pharmacy_id",
)

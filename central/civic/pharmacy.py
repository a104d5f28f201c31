"""Pharmacy stock of masks and hand sanitizer: the latest count per pharmacy and item.

Stock changes through the day, so a row carries its `as_of` time and an older row than the one
stored (a late or replayed report) is skipped rather than applied.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from central import schema
from central.civic.common import CivicModule, CivicRow, Count, Ident, KelurahanCode, Name


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
    as_of: AwareDatetime


MODULE = CivicModule(
    name="pharmacy",
    model=PharmacyStockRow,
    table=schema.civic_pharmacy_stock,
    key=("pharmacy_id", "item"),
    help="pharmacy stock of masks and hand sanitizer (newest as_of wins)",
    newer="as_of",
    owner="pharmacy_id",
)

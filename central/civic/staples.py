"""Staple goods at the city's markets and distributors: price and stock per commodity per day."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from central.civic.common import CivicModule, CivicRow, Ident, KelurahanCode, Name, Slug
from central.store import schema


class StapleRow(CivicRow):
    """One commodity at one reporting point (market or distributor) on one day."""

    market_id: Ident
    date: dt.date
    commodity: Slug
    market_name: Name
    kind: Literal["market", "distributor"] = "market"
    kelurahan_code: KelurahanCode
    unit: Name
    price_idr: int = Field(ge=0, le=100_000_000)
    stock: float = Field(ge=0, le=1e9, allow_inf_nan=False)


MODULE = CivicModule(
    name="staples",
    model=StapleRow,
    table=schema.civic_staples,
    key=("market_id", "date", "commodity"),
    help="staple goods: price and stock per market/distributor, commodity and day",
    owner="market_id",
)

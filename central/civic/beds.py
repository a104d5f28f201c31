"""Hospital isolation beds per hospital per day and room type (the SIRS "RS Online" fields).

SIRS names are accepted as column names too: jumlah, terpakai, terpakai_suspek,
terpakai_konfirmasi, antrian, prepare, kosong.
"""

from __future__ import annotations

import datetime as dt

from pydantic import AliasChoices, Field

from central.civic.common import (
    AreaCodes,
    CivicModule,
    CivicRow,
    Count,
    Ident,
    KelurahanCode,
    Name,
    Problems,
    Slug,
)
from central.store import schema


class BedRow(CivicRow):
    """One hospital, one day, one room type."""

    hospital_id: Ident
    date: dt.date
    room_type: Slug
    hospital_name: Name | None = None
    kelurahan_code: KelurahanCode
    beds: Count = Field(validation_alias=AliasChoices("beds", "jumlah"), le=100_000)
    used: Count = Field(validation_alias=AliasChoices("used", "terpakai"), le=100_000)
    used_suspect: Count = Field(
        default=0, validation_alias=AliasChoices("used_suspect", "terpakai_suspek"), le=100_000
    )
    used_confirmed: Count = Field(
        default=0, validation_alias=AliasChoices("used_confirmed", "terpakai_konfirmasi"),
        le=100_000,
    )  # fmt: skip
    queue: Count = Field(default=0, validation_alias=AliasChoices("queue", "antrian"))
    prepare: Count = Field(default=0, le=100_000)
    free: Count = Field(validation_alias=AliasChoices("free", "kosong"), le=100_000)

    def problems(self, areas: AreaCodes) -> Problems:
        """Used within beds, suspect + confirmed within used, used + prepare + free within beds."""
        out = super().problems(areas)
        if self.used > self.beds:
            out.append(("used", f"used ({self.used}) exceeds beds ({self.beds})"))
        elif self.used + self.prepare + self.free > self.beds:
            out.append(("free", f"used + prepare + free ({self.used} + {self.prepare} + "
                        f"{self.free}) exceeds beds ({self.beds})"))  # fmt: skip
        if self.used_suspect + self.used_confirmed > self.used:
            out.append(("used_suspect", f"used_suspect + used_confirmed ({self.used_suspect} + "
                        f"{self.used_confirmed}) exceeds used ({self.used})"))  # fmt: skip
        return out


MODULE = CivicModule(
    name="beds",
    model=BedRow,
    table=schema.civic_beds,
    key=("hospital_id", "date", "room_type"),
    help="hospital isolation beds per hospital, day and room type (SIRS fields)",
    owner="hospital_id",
)

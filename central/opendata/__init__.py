"""Open data for Semarang Satu Data: per-kelurahan daily aggregates as files and through CKAN.

`build_opendata` queries one day (no personal data), `write_opendata` writes CSV/JSON per day,
cumulative files and a data dictionary atomically, `central.opendata.ckan` publishes to a CKAN
portal and `central.opendata.run` does it all from the configuration, with catch-up.
"""

from __future__ import annotations

from central.opendata.build import (
    AID_FIELDS,
    KELURAHAN_FIELDS,
    PRIMARY_KEY,
    Field,
    OpenData,
    build_opendata,
)
from central.opendata.files import data_dictionary, day_paths, write_opendata

__all__ = [
    "AID_FIELDS", "KELURAHAN_FIELDS", "PRIMARY_KEY", "Field", "OpenData", "build_opendata",
    "data_dictionary", "day_paths", "write_opendata",
]  # fmt: skip

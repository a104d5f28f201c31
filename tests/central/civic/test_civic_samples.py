"""The demo's synthetic civic samples: every module loads, moved so that the newest day is today."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import cast

import pytest
from sqlalchemy import func, select

from central.civic import MODULES
from central.civic.importer import ImportRowsError
from central.civic.samples import FILES, WHO, load_local, load_samples, local_rows, shifted
from central.store import schema
from central.store.engine import make_engine
from central.store.migrations import migrate
from tests.central.civic_fixtures import AREAS


def test_samples_load_every_module_dated_today(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/c.sqlite3")
    migrate(engine)
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    written = load_samples(engine, AREAS, now=now)
    assert set(written) == set(FILES) == set(MODULES)
    assert all(n > 0 for n in written.values())
    dated = [t for t in schema.metadata.tables.values()
             if t.name.startswith("civic_") and "date" in t.c]  # fmt: skip
    with engine.connect() as conn:
        newest = max(str(conn.execute(select(func.max(t.c.date))).scalar()) for t in dated)
        audited = conn.execute(select(func.count()).select_from(schema.civic_audit)
                               .where(schema.civic_audit.c.who == WHO)).scalar()  # fmt: skip
    assert len(dated) >= 4 and newest == "2026-11-27"
    assert audited == sum(written.values())
    # Loading again changes nothing (the import is idempotent).
    assert load_samples(engine, AREAS, now=now) == written


def test_shift_moves_dates_and_caps_times_at_now() -> None:
    from central.civic.pharmacy import PharmacyStockRow

    now = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    row = PharmacyStockRow.model_validate({
        "pharmacy_id": "apotek-1", "item": "mask", "pharmacy_name": "Apotek",
        "kelurahan_code": "33.74.01.1001", "quantity": 3, "unit": "box",
        "lat": -6.98, "lng": 110.41,
        "as_of": "2021-07-01T09:30:00+00:00",
    })  # fmt: skip
    days = (date(2026, 11, 27) - date(2021, 7, 1)).days
    moved, earlier = shifted(row, days, now), shifted(row, days - 1, now)
    assert isinstance(moved, PharmacyStockRow) and isinstance(earlier, PharmacyStockRow)
    assert moved.as_of == now  # 09:30 today would be in the future: capped
    assert earlier.as_of == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    assert moved.quantity == 3 and row.as_of.year == 2021


def test_local_rows_rise_and_load_like_an_import(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/c.sqlite3")
    migrate(engine)
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    rows = local_rows("33.74.01.1002", lat=-6.98, lng=110.42, today=now.date(), now=now)
    confirmed = {str(r["date"]): cast(int, r["confirmed"]) for r in rows["cases"]}
    assert min(confirmed) == "2026-11-13" and max(confirmed) == "2026-11-27"
    this_week = confirmed["2026-11-27"] - confirmed["2026-11-20"]
    week_before = confirmed["2026-11-20"] - confirmed["2026-11-13"]
    assert (this_week, week_before) == (10, 7)  # rising: the rule's "weekly cases rise"
    assert load_local(engine, AREAS, rows, now=now) == {"population": 1, "cases": 15, "pharmacy": 1}
    # Validated like an import: a kelurahan outside the registry is refused, nothing written.
    bad = local_rows("33.74.99.9999", lat=-6.98, lng=110.42, today=now.date(), now=now)
    with pytest.raises(ImportRowsError, match="unknown kelurahan"):
        load_local(engine, AREAS, bad, now=now)

"""Validate a whole civic file, then write it in one transaction with an audit row per change.

Every row is checked before anything is written; one bad row and nothing is. A row whose key is
stored already with the same values is a no-op (re-sending is idempotent); changed values update
the row. Each insert or update leaves an audit row: who, when, module, key, old → new as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, and_, insert, select, update

from central.civic.common import AreaCodes, CivicModule, CivicRow, FileError, RawRow, read_rows
from central.store import schema

MAX_ERRORS = 100
BOOKKEEPING = ("updated_at", "updated_by")


class ImportRowsError(Exception):
    """Rows of a file failed validation; `errors` holds one `FILE:LINE: field: reason` each."""

    def __init__(self, errors: Sequence[str], total: int) -> None:
        self.errors = list(errors)
        self.total = total
        more = total - len(self.errors)
        super().__init__("\n".join(self.errors + ([f"... and {more} more"] if more else [])))


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What one import did."""

    rows: int
    inserted: int
    updated: int
    unchanged: int
    stale: int  # older than the stored row (modules with an as_of): skipped


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(row)"


def _row_errors(
    raw: RawRow, module: CivicModule, areas: AreaCodes
) -> tuple[CivicRow | None, list[tuple[str, str]]]:
    if not isinstance(raw.data, dict):
        return None, [("(row)", f"expected an object, got {type(raw.data).__name__}")]
    # Cells the file format refused (raw.problems) are reported once, as the format's problem.
    bad = {col for col, _ in raw.problems}
    try:
        row = module.model.model_validate(raw.data)
    except ValidationError as exc:
        found = [(_field(e["loc"]), e["msg"]) for e in exc.errors()]
        return None, [*raw.problems, *((f, m) for f, m in found if f not in bad)]
    if raw.problems:
        return None, list(raw.problems)
    return row, row.problems(areas)


def validate_rows(
    module: CivicModule,
    raws: Sequence[RawRow],
    areas: AreaCodes,
    *,
    where: str,
    max_errors: int = MAX_ERRORS,
    label: Callable[[int], str] | None = None,
) -> list[CivicRow]:
    """Every row validated; raises ImportRowsError listing all problems (up to max_errors).

    A problem reads `where:LINE: field: reason`, or `label(LINE): field: reason` when given.
    """
    label = label or (lambda line: f"{where}:{line}")
    errors: list[str] = []
    total = 0
    rows: list[CivicRow] = []
    seen: dict[tuple[Any, ...], int] = {}
    for raw in raws:
        row, problems = _row_errors(raw, module, areas)
        if row is not None and not problems:
            values = row.values()
            key = tuple(values[k] for k in module.key)
            if key in seen:
                problems = [(", ".join(module.key), f"duplicate key: also on line {seen[key]}")]
            else:
                seen[key] = raw.line
        for fld, reason in problems:
            total += 1
            if len(errors) < max_errors:
                errors.append(f"{label(raw.line)}: {fld}: {reason}")
        if row is not None and not problems:
            rows.append(row)
    if total:
        raise ImportRowsError(errors, total)
    return rows


def load_file(module: CivicModule, path: Path, areas: AreaCodes) -> list[CivicRow]:
    """A file's rows, all valid (FileError or ImportRowsError otherwise)."""
    return validate_rows(module, read_rows(path, module.model), areas, where=str(path))


def _json(values: Mapping[str, Any]) -> str:
    def plain(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.astimezone(UTC).isoformat()
        if isinstance(v, date):
            return v.isoformat()
        return v

    def deep(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {k: deep(x) for k, x in v.items()}
        if isinstance(v, list):
            return [deep(x) for x in v]
        return plain(v)

    return json.dumps(deep(values), sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)  # fmt: skip


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, float) or isinstance(new, float):
        return old is not None and new is not None and float(old) == float(new)
    return bool(old == new)


def write_rows(
    engine: Engine,
    module: CivicModule,
    rows: Sequence[CivicRow],
    *,
    who: str,
    now: datetime | None = None,
) -> ImportResult:
    """Upsert rows in one transaction, one audit row per insert or update."""
    now = now or datetime.now(UTC)
    counts = {"inserted": 0, "updated": 0, "unchanged": 0, "stale": 0}
    with engine.begin() as conn:
        for row in rows:
            counts[_write_one(conn, module, row.values(), who=who, now=now)] += 1
    return ImportResult(rows=len(rows), **counts)


def _write_one(conn: Connection, module: CivicModule, values: dict[str, Any], *, who: str,
               now: datetime) -> str:  # fmt: skip
    t = module.table
    key = {k: values[k] for k in module.key}
    where = and_(*(t.c[k] == v for k, v in key.items()))
    old = conn.execute(select(t).where(where)).mappings().first()
    stamp = {"updated_at": now, "updated_by": who}
    if old is None:
        conn.execute(insert(t).values(**values, **stamp))
        _audit(conn, module, "insert", key, None, values, who=who, now=now)
        return "inserted"
    changed = [c for c, v in values.items() if not _same(old[c], v)]
    if not changed:
        return "unchanged"
    if module.newer and old[module.newer] > values[module.newer]:
        return "stale"
    conn.execute(update(t).where(where).values(**{c: values[c] for c in changed}, **stamp))
    _audit(conn, module, "update", key, {c: old[c] for c in changed},
           {c: values[c] for c in changed}, who=who, now=now)  # fmt: skip
    return "updated"


def _audit(conn: Connection, module: CivicModule, action: str, key: Mapping[str, Any],
           old: Mapping[str, Any] | None, new: Mapping[str, Any], *, who: str,
           now: datetime) -> None:  # fmt: skip
    conn.execute(insert(schema.civic_audit).values(
        at=now, who=who, module=module.name, action=action, record_key=_json(key),
        old_json=_json(old) if old is not None else None, new_json=_json(new),
    ))  # fmt: skip


def audit_denied(engine: Engine, module: CivicModule, *, who: str, reason: str,
                 keys: Sequence[Mapping[str, Any]]) -> None:  # fmt: skip
    """Record a refused write (nothing written): who tried, which records, why."""
    with engine.begin() as conn:
        _audit(conn, module, "denied", {"records": len(keys)}, None,
               {"reason": reason, "keys": list(keys)}, who=who, now=datetime.now(UTC))  # fmt: skip


def import_file(engine: Engine, module: CivicModule, path: Path, areas: AreaCodes, *,
                who: str) -> ImportResult:  # fmt: skip
    """Validate the whole file, then write it (nothing is written when any row is bad)."""
    return write_rows(engine, module, load_file(module, path, areas), who=who)


__all__ = [
    "FileError",
    "ImportResult",
    "ImportRowsError",
    "audit_denied",
    "import_file",
    "load_file",
    "validate_rows",
    "write_rows",
]

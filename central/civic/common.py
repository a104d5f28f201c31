"""What every civic data module shares: the row base model, the module description, file reading.

A module is a versioned pydantic row model (extra keys rejected, limits on every field), a table
keyed for idempotency and the key's column names. Files are CSV (a header row) or JSON (a list of
objects); every row keeps the line it started on so that errors read `FILE:LINE: field: reason`.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Table

from central.civic import csv_locale
from siaga.wire import ID_PATTERN, KELURAHAN_PATTERN

Ident = Annotated[str, StringConstraints(strip_whitespace=True, pattern=ID_PATTERN)]
KelurahanCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=KELURAHAN_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Slug = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9_]{1,64}$")]
Count = Annotated[int, Field(ge=0, le=10_000_000)]

# (field, reason) pairs found by a row's own cross-field and registry checks.
Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class AreaCodes:
    """The codes rows are checked against: the city (kota) and its kelurahan."""

    kota: str
    kelurahan: Collection[str]


class CivicRow(BaseModel):
    """One input row of a civic module; subclasses add fields and `problems`."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    SCHEMA_VERSION: ClassVar[int] = 1

    # Optional in files; when given it must be the version this code reads.
    schema_version: int = Field(default=1, ge=1, le=1)

    def problems(self, areas: AreaCodes) -> Problems:
        """Cross-field and registry checks; the default checks a `kelurahan_code` field."""
        code = getattr(self, "kelurahan_code", None)
        if code is not None and code not in areas.kelurahan:
            return [("kelurahan_code", f"unknown kelurahan {code} (not in the area registry)")]
        return []

    def values(self) -> dict[str, Any]:
        """The table row (without the bookkeeping columns)."""
        return {
            **self.model_dump(exclude={"schema_version"}),
            "schema_version": self.SCHEMA_VERSION,
        }


@dataclass(frozen=True)
class CivicModule:
    """A civic data module: its name, row model, table and idempotency key."""

    name: str
    model: type[CivicRow]
    table: Table
    key: tuple[str, ...]
    help: str
    # A column (as_of): an incoming row older than the stored one is skipped, never applied.
    newer: str | None = None
    # The column naming who the record belongs to (a hospital, pharmacy, market): over HTTP an
    # institution writes only rows whose owner is one of its own ids.
    owner: str | None = None

    @property
    def schema_version(self) -> int:
        """The version of the row schema this code reads and writes."""
        return self.model.SCHEMA_VERSION


class FileError(Exception):
    """The file as a whole cannot be read (message: `FILE: reason`)."""


@dataclass(frozen=True, slots=True)
class RawRow:
    """One object or CSV record of an input file, with the line it starts on.

    `problems` are (column, reason) for cells that could not be read (a CSV number or date in
    a format not accepted); such a cell keeps its text in `data`.
    """

    line: int
    data: Any
    problems: tuple[tuple[str, str], ...] = ()


def read_rows(path: Path, model: type[BaseModel] | None = None) -> list[RawRow]:
    """The rows of a CSV (header row) or JSON (list of objects) file, by its suffix.

    CSV files are read as spreadsheets save them (see `central.civic.csv_locale`): UTF-8 with
    or without a BOM, else Windows-1252; `,` `;` or TAB by the header row; any line ends. Given
    the row `model`, date cells may be day first (DD/MM/YYYY) and, in a `;` file, numbers are
    Indonesian (1.234,5); each cell is handed on as ISO date / dot-decimal text.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise FileError(f"{path}: unknown file type {suffix or '(none)'!r}: use .csv or .json")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileError(f"{path}: file not found") from None
    except OSError as exc:
        raise FileError(f"{path}: cannot read: {exc}") from None
    if suffix == ".json":
        try:
            return _json_rows(path, data.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise FileError(f"{path}: cannot read: {exc}") from None
    try:
        text, _ = csv_locale.decode(data)
    except csv_locale.LocaleError as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise FileError(f"{where}: cannot read: {exc.reason}") from None
    return _csv_rows(path, text, model)


def _csv_rows(path: Path, text: str, model: type[BaseModel] | None = None) -> list[RawRow]:
    delimiter, body = csv_locale.split_sep_hint(text)
    skipped = 1 if delimiter is not None else 0  # the sep= line
    try:
        delimiter = delimiter or csv_locale.header_delimiter(body)
    except csv_locale.LocaleError as exc:
        raise FileError(f"{path}:{skipped + (exc.line or 1)}: {exc.reason}") from None
    kinds = csv_locale.column_kinds(model) if model is not None else {}
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    try:
        first: list[str] | None = []
        while first == []:  # blank lines before the header
            first = next(reader, None)
        header = [h.strip() for h in first or []]
    except csv.Error as exc:
        raise FileError(f"{path}:{skipped + reader.line_num}: {exc}") from None
    if not any(header):
        raise FileError(f"{path}: empty file (expected a header row)")
    named = [h for h in header if h]  # a spreadsheet may add unnamed, empty columns
    # Counted once (a Counter): `named.count(h)` per column made a 100,000-column header quadratic.
    dupes = sorted(h for h, n in Counter(named).items() if n > 1)
    if dupes:
        raise FileError(f"{path}:{skipped + 1}: duplicate column(s) {', '.join(dupes)}")
    columns = [h or f"(column {i + 1})" for i, h in enumerate(header)]
    rows: list[RawRow] = []
    start = skipped + reader.line_num + 1
    try:
        for rec in reader:
            data: dict[str, Any] = {}
            for col, v in zip(columns, rec, strict=False):
                if v.strip() != "":  # empty cell: not given
                    data[col] = v
            extra = [v for v in rec[len(columns) :] if v.strip() != ""]
            if extra:  # more cells than header columns
                data["(extra cells)"] = extra
            if data:  # a record of empty cells only (a spreadsheet's blank row) is no row
                data, problems = csv_locale.convert_cells(
                    data, kinds, decimal_comma=delimiter == ";"
                )
                rows.append(RawRow(start, data, tuple(problems)))
            start = skipped + reader.line_num + 1
    except csv.Error as exc:
        raise FileError(f"{path}:{skipped + reader.line_num}: {exc}") from None
    return rows


def _json_rows(path: Path, text: str) -> list[RawRow]:
    # Decoded element by element so that each object keeps the line it starts on.
    decoder = json.JSONDecoder()

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    pos = skip(0)
    if pos >= len(text) or text[pos] != "[":
        raise FileError(f"{path}:{line_of(pos)}: expected a JSON list of objects")
    rows: list[RawRow] = []
    pos = skip(pos + 1)
    if pos < len(text) and text[pos] == "]":
        pos += 1
    else:
        while True:
            try:
                obj, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise FileError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
            rows.append(RawRow(line_of(pos), obj))
            pos = skip(end)
            if pos < len(text) and text[pos] == ",":
                pos = skip(pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                pos += 1
                break
            raise FileError(f"{path}:{line_of(pos)}: invalid JSON: expected ',' or ']'")
    if skip(pos) != len(text):
        raise FileError(f"{path}:{line_of(skip(pos))}: invalid JSON: text after the list")
    return rows

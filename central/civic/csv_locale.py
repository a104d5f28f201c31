"""CSV files as spreadsheets save them: encoding, separator, Indonesian numbers and day-first dates.

An office spreadsheet under the Indonesian locale (id-ID) saves "CSV" with `;` between cells,
a decimal comma and dots grouping thousands ("1.234,5"), dates as dd/mm/yyyy, and either UTF-8
with a BOM ("CSV UTF-8") or the Windows ANSI code page, Windows-1252 ("CSV"). This module turns
such a file into the text and cells the row models read: ISO dates and dot-decimal numbers.

It is hand-written on purpose. `csv.Sniffer` guesses from data rows, where decimal commas,
quoted names and dotted kelurahan codes (33.74.01.1001) mislead it; `locale.atof` parses per
process (setlocale changes the whole server, is not thread-safe and needs the locale installed)
and cannot parse only the numeric columns of a row. Here the rules are fixed and per column:

* Separator: the one of `,` `;` TAB found outside quotes in the header row (column names hold
  none of them; see `header_delimiter`). A first line `sep=X` (Excel's hint) names it instead.
* Numbers, only in the int/float columns of the row model and only in `;` files (in `,` and TAB
  files they are left to the model, dot decimal): `1234`, `1.234`, `1.234.567` (dots group
  thousands, in threes), `12,5` and `1.234,5` (decimal comma). Anything else, `12.5` included,
  is refused with the format expected, never guessed. Whole-number columns also take a zero
  fraction (`10.500,00`).
* Dates, in the date columns of every CSV file: `YYYY-MM-DD`, or day first `DD/MM/YYYY`,
  `D/M/YYYY`, `DD-MM-YYYY`; never month first.
* Text columns (names, ids, kelurahan codes) are never touched.
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel

Kind = Literal["int", "float", "date"]
DELIMITERS = (",", ";", "\t")
DATE_FORMAT = "DD/MM/YYYY or YYYY-MM-DD"
INT_FORMAT = "a whole number like 1234 or 1.234 (dots group thousands)"
FLOAT_FORMAT = "a number like 1234, 1.234 or 1.234,5 (decimal comma, dots group thousands)"

_UTF8_BOM = b"\xef\xbb\xbf"
# A multi-byte UTF-8 character: a file holding one is UTF-8 (damaged), not Windows-1252.
_UTF8_CHAR = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_SEP_HINT = re.compile(r"sep=(.)(\r\n|\r|\n)")
# Dot groups start with 1-9 ("0.123" is a dot decimal, not 123) and hold exactly three digits.
_ID_NUMBER = re.compile(r"(-?)(\d+|[1-9]\d{0,2}(?:\.\d{3})+)(?:,(\d+))?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DAY_FIRST = re.compile(r"(\d{1,2})([/-])(\d{1,2})\2(\d{4})")


class LocaleError(ValueError):
    """The file as a whole cannot be read; `line` is where (None: the file)."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


class CellError(ValueError):
    """One cell cannot be read; `reason` names the value and the format expected."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and the encoding read: UTF-8 (BOM or not), else Windows-1252.

    Windows-1252 is what a spreadsheet's plain "CSV" is under the Indonesian locale. It is
    taken only for a file without a UTF-8 BOM and without any UTF-8 multi-byte character, so
    a damaged UTF-8 file is refused rather than read as mojibake. UTF-16 (Excel's "Unicode
    Text") is refused: the message says to save as CSV UTF-8.
    """
    save_as = "save the file as CSV UTF-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LocaleError(f"UTF-16 text, not CSV: {save_as}")
    try:
        # Decoded with the BOM (U+FEFF, then dropped) so that error offsets are the file's.
        return data.decode("utf-8").removeprefix("\ufeff"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8 = exc
    if data.startswith(_UTF8_BOM) or _UTF8_CHAR.search(data):
        line = data.count(b"\n", 0, utf8.start) + 1
        raise LocaleError(f"not UTF-8 text: byte 0x{data[utf8.start]:02x}: {save_as}", line)
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise LocaleError(f"neither UTF-8 nor Windows-1252 text: byte 0x{data[exc.start]:02x}: "
                          f"{save_as}", line) from None  # fmt: skip


def split_sep_hint(text: str) -> tuple[str | None, str]:
    """Excel's optional first line `sep=X`: (X, the text after it), else (None, text)."""
    m = _SEP_HINT.match(text)
    return (m[1], text[m.end() :]) if m else (None, text)


def header_delimiter(text: str) -> str:
    """The separator of a CSV file, read off its header row (the first record of `text`).

    Column names are identifiers (kelurahan_code, jumlah), so the header holds exactly one kind
    of separator outside quotes, `n - 1` times; data rows do not settle it (a `;` file has
    commas in its numbers, a `,` file may quote cells holding `;`), which is where
    `csv.Sniffer` goes wrong. A header without any is one column (read as `,`); a header with
    two kinds is refused rather than guessed.
    """
    found: set[str] = set()
    quoted = False
    for ch in text.lstrip("\r\n"):
        if ch == '"':
            quoted = not quoted  # an escaped "" toggles twice
        elif not quoted:
            if ch in "\r\n":
                break
            if ch in DELIMITERS:
                found.add(ch)
    if len(found) > 1:
        names = " and ".join(repr(d) for d in DELIMITERS if d in found)
        raise LocaleError(f"the header row has both {names} outside quotes: cannot tell the "
                          "separator (use one of ',' ';' TAB)", 1)  # fmt: skip
    return found.pop() if found else ","


def _kind(annotation: Any) -> Kind | None:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _kind(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        kinds = {_kind(a) for a in typing.get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation is dt.date:  # not datetime (a subclass): times stay ISO 8601
        return "date"
    return None


def column_kinds(model: type[BaseModel]) -> dict[str, Kind]:
    """The numeric and date columns of a row model: each field's name and its aliases."""
    out: dict[str, Kind] = {}
    for name, field in model.model_fields.items():
        kind = _kind(field.annotation)
        if kind is None:
            continue
        names = [name] + ([field.alias] if field.alias else [])
        alias = field.validation_alias
        if isinstance(alias, str):
            names.append(alias)
        elif isinstance(alias, AliasChoices):
            names += [c for c in alias.choices if isinstance(c, str)]
        out.update(dict.fromkeys(names, kind))
    return out


def id_number(text: str, kind: Literal["int", "float"]) -> str:
    """An id-ID number ("1.234,5") as the model reads it ("1234.5"); CellError otherwise."""
    s = text.strip()
    m = _ID_NUMBER.fullmatch(s)
    fraction = (m[3] or "") if m else ""
    if m is None or (kind == "int" and fraction.strip("0")):
        noun = "integer" if kind == "int" else "number"
        fmt = INT_FORMAT if kind == "int" else FLOAT_FORMAT
        raise CellError(f"Input should be a valid {noun}: value {s!r}: expected {fmt}")
    whole = m[1] + m[2].replace(".", "")
    return whole if kind == "int" or not fraction else f"{whole}.{fraction}"


def day_first_date(text: str) -> str:
    """A `YYYY-MM-DD` or day-first `DD/MM/YYYY` date as ISO 8601; CellError otherwise."""
    s = text.strip()
    if m := _ISO_DATE.fullmatch(s):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif m := _DAY_FIRST.fullmatch(s):
        day, month, year = int(m[1]), int(m[3]), int(m[4])
    else:
        raise CellError(f"Input should be a valid date: value {s!r}: expected {DATE_FORMAT}")
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        hint = " (day first, never MM/DD)" if m.re is _DAY_FIRST and month > 12 >= day else ""
        raise CellError(f"Input should be a valid date: value {s!r} is no such day{hint}: "
                        f"expected {DATE_FORMAT}") from None  # fmt: skip


def convert_cells(
    data: Mapping[str, str], kinds: Mapping[str, Kind], *, decimal_comma: bool
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """One record's cells, dates as ISO and (decimal_comma) numbers dot-decimal.

    Returns the cells (a cell that cannot be read keeps its text) and (column, reason) for each
    cell that cannot be read.
    """
    out = dict(data)
    problems: list[tuple[str, str]] = []
    for col, value in data.items():
        kind = kinds.get(col)
        if kind is None or (kind != "date" and not decimal_comma):
            continue
        try:
            out[col] = day_first_date(value) if kind == "date" else id_number(value, kind)
        except CellError as exc:
            problems.append((col, exc.reason))
    return out, problems

"""Config error text that points at the cause, for agent and central alike.

A technician on site sees one line per problem. Two things make that line useful: an unknown key
suggests the nearest valid one (a typo is the usual cause), and a value that came from an
environment override (SIAGA_AGENT__SECTION__KEY) is blamed on that variable, not on the file
the technician would otherwise search in vain.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource

Loc = tuple[str | int, ...]
_SECRET_WORDS = ("password", "secret", "token", "credential")
_SHOWN_CHARS = 60


def _members(tp: Any) -> list[Any]:
    """The types of a union (X | None → [X, None]), or [tp]."""
    if get_origin(tp) in (Union, types.UnionType):
        return list(get_args(tp))
    return [tp]


def _model_in(tp: Any) -> type[BaseModel] | None:
    """The pydantic model a field's type holds directly (through an Optional), if any."""
    for member in _members(tp):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _item_type(tp: Any) -> Any:
    """The element type of a list / tuple / dict field (through an Optional), else None."""
    for member in _members(tp):
        args = get_args(member)
        if get_origin(member) in (list, tuple, set, frozenset) and args:
            return args[0]
        if get_origin(member) is dict and len(args) == 2:
            return args[1]
    return None


def type_at(model: type[BaseModel], path: Sequence[str | int]) -> Any:
    """The declared type at a key path of model (an error's loc), or None when it leaves it."""
    tp: Any = model
    for part in path:
        sub = _model_in(tp)
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()) or sub is None:
            tp = _item_type(tp)
        elif part in sub.model_fields:
            tp = sub.model_fields[part].annotation
        else:
            return None
        if tp is None:
            return None
    return tp


def unknown_key_hint(model: type[BaseModel], loc: Loc) -> str:
    """'did you mean …?' for an unknown key at loc, or the keys valid there when none is near."""
    parent = _model_in(type_at(model, loc[:-1]))
    if parent is None or not loc:
        return ""
    names = list(parent.model_fields)
    near = difflib.get_close_matches(str(loc[-1]).lower(), names, n=1, cutoff=0.6)
    if near:
        return f"; did you mean {near[0]!r}?"
    return f"; valid keys here: {', '.join(names)}"


def _is_secret(model: type[BaseModel], path: Sequence[str]) -> bool:
    """True unless the value at path is a plain setting: a secret, or a whole section or list
    (JSON that may hold a password or a camera URL with one), is never echoed."""
    tp = type_at(model, path)
    if tp is None or _model_in(tp) is not None or _item_type(tp) is not None:
        return True
    secret = any(isinstance(m, type) and issubclass(m, SecretStr) for m in _members(tp))
    return secret or any(w in part for part in path for w in _SECRET_WORDS)


class EnvOverrides:
    """The environment variables that override a settings class's file, and what they supply."""

    def __init__(self, cls: type[BaseSettings]) -> None:
        self.cls = cls
        conf = cls.model_config
        self.prefix = str(conf.get("env_prefix") or "")
        self.delimiter = conf.get("env_nested_delimiter") or None
        sensitive = bool(conf.get("case_sensitive"))
        # variable path (field names, as pydantic-settings lowercases them) -> (name, raw value)
        self.variables: dict[tuple[str, ...], tuple[str, str]] = {}
        for name, value in os.environ.items():
            key = name if sensitive else name.lower()
            prefix = self.prefix if sensitive else self.prefix.lower()
            if not self.prefix or not key.startswith(prefix) or len(key) == len(prefix):
                continue
            rest = key[len(prefix) :]
            parts = tuple(rest.split(self.delimiter)) if self.delimiter else (rest,)
            self.variables[parts] = (name, value)
        self._data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The nested values pydantic-settings builds from the environment ({} if unparsable)."""
        if self._data is None:
            try:
                self._data = dict(EnvSettingsSource(self.cls)())
            except Exception:  # its parse error is reported by load_settings itself
                self._data = {}
        return self._data

    def shown(self, parts: tuple[str, ...]) -> str:
        """`NAME='value'` for a message; secrets hidden, long values cut."""
        name, value = self.variables[parts]
        if _is_secret(self.cls, parts):
            return f"{name} (value not shown)"
        if len(value) > _SHOWN_CHARS:
            value = value[:_SHOWN_CHARS] + "…"
        return f"{name}={value!r}"

    def unknown(self) -> list[str]:
        """Overrides pydantic-settings would silently ignore: their section is no setting."""
        fields = list(self.cls.model_fields)
        lines = []
        for parts in sorted(self.variables):
            if parts[0] not in fields:
                lines.append(f"environment {self.shown(parts)}: {'.'.join(parts)}: unknown key"
                             f"{unknown_key_hint(self.cls, (parts[0],))}")  # fmt: skip
        return lines

    def _supplied(self, loc: Loc, value: Any) -> bool:
        """True when the environment alone supplied the value at loc."""
        node: Any = self.data
        for part in loc:
            if not isinstance(node, dict):
                return True  # a list (or value) set whole by one variable holds loc
            if str(part) not in node:
                return False
            node = node[str(part)]
        return not isinstance(node, dict) or node == value

    def where(self, loc: Loc, value: Any, file: str) -> str:
        """Whom to blame for an error at loc: the variable(s) that supplied it, else the file
        (naming the overrides inside a section whose check failed as a whole)."""
        path = tuple(str(p).lower() for p in loc)
        above = [p for p in self.variables if path[: len(p)] == p]
        below = [p for p in self.variables if len(p) > len(path) and p[: len(path)] == path]
        if (above or below) and self._supplied(loc, value):
            blamed = [max(above, key=len)] if above else sorted(below)
            return "environment " + ", ".join(self.shown(p) for p in blamed)
        if below and path:
            names = ", ".join(self.variables[p][0] for p in sorted(below))
            return f"{file} (with environment overrides {names})"
        return file

    def parse_error(self, text: str) -> str:
        """A value pydantic-settings could not parse (JSON for a list or a table)."""
        m = re.search(r'field "([^"]+)"', text)
        field = m.group(1) if m else ""
        names = [self.shown(p) for p in sorted(self.variables) if p[0] == field] or [self.prefix]
        return (f"environment {', '.join(names)}: {field}: not valid JSON; a list or a table is "
                f"set whole, as JSON ({text})")  # fmt: skip


def error_lines(
    where: str, errors: list[ErrorDetails], *, model: type[BaseModel] | None = None,
    env: EnvOverrides | None = None,
) -> list[str]:  # fmt: skip
    """One line per error: `who: key.path: reason`, with the hints above when it can."""
    lines = []
    for e in errors:
        loc = tuple(e["loc"])
        msg = e["msg"]
        if e["type"] == "extra_forbidden" and model is not None:
            msg += unknown_key_hint(model, loc)
        who = env.where(loc, e.get("input"), where) if env is not None else where
        if e["type"] == "list_type" and who.startswith("environment"):
            msg += "; a list is set whole, as JSON in one variable"
        lines.append(f"{who}: {'.'.join(str(p) for p in loc) or '(top level)'}: {msg}")
    return lines

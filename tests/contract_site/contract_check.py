"""Checks every summary and alert central publishes against the committed JSON Schemas.

Why a hook and not a test per payload: the acceptance is that *every* payload the end-to-end
tests publish follows docs/schema, so the check sits where central serialises them for the
broker (central.service._dump for summaries, central.rules.alerts.AlertEvent.to_bytes for
alerts) and sees whatever those tests make it publish. It is a pass-through spy: the payload
goes out unchanged; a violation is appended to the file named by $SIAGA_CONTRACT_VIOLATIONS,
which tests/conftest.py reads after each test and fails it on. Subprocesses (`siaga demo`,
`siaga central run`) load it through sitecustomize.py beside this file (on PYTHONPATH), so the
same check runs there.

Validated with `jsonschema` against the files (not the pydantic models): the files are what a
dashboard team reads, and they are checked to equal the models by tests/central/contract.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

VIOLATIONS_ENV = "SIAGA_CONTRACT_VIOLATIONS"
SCHEMAS_ENV = "SIAGA_CONTRACT_SCHEMAS"
DEFAULT_SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schema"
_lock = threading.Lock()


@functools.cache
def validator(stem: str) -> Any:
    """A Draft 2020-12 validator (with format checks) of docs/schema/{stem}.schema.json."""
    from jsonschema import Draft202012Validator, FormatChecker

    folder = Path(os.environ.get(SCHEMAS_ENV) or DEFAULT_SCHEMAS)
    schema = json.loads((folder / f"{stem}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def problems(stem: str, payload: Any) -> list[str]:
    """Every way payload breaks the schema, one readable line each (empty: valid)."""
    found: list[str] = []
    for e in validator(stem).iter_errors(payload):
        for leaf in _branch_errors(e):
            where = "/".join(str(p) for p in leaf.absolute_path) or "(root)"
            found.append(f"{where}: {leaf.message}")
    return sorted(found)


def _branch_errors(e: Any) -> list[Any]:
    """The errors of the branch a payload meant, for a oneOf/anyOf: over tagged shapes (summary
    `level`, alert `rule`) the shape its tag names; over "X or null" the X. JSON Schema tries
    every branch, and the other branches' complaints would hide the real one."""
    if e.validator not in ("oneOf", "anyOf") or not e.context:
        return [e]
    tag = (e.schema.get("discriminator") or {}).get("propertyName")
    branches: dict[Any, list[Any]] = {}
    for c in e.context:
        branches.setdefault(c.relative_schema_path[0], []).append(c)

    def other_shape(errs: list[Any]) -> bool:
        if tag is not None:
            return any(c.validator == "const" and list(c.relative_path) == [tag] for c in errs)
        return any(c.validator == "type" and not c.relative_path for c in errs)

    meant = [errs for errs in branches.values() if not other_shape(errs)]
    if len(meant) == 1:
        return [leaf for c in meant[0] for leaf in _branch_errors(c)]
    return [e]


def record(what: str, payload: Any, found: Sequence[str]) -> None:
    """Append one violation (JSON line) to $SIAGA_CONTRACT_VIOLATIONS, if set."""
    path = os.environ.get(VIOLATIONS_ENV)
    if not path or not found:
        return
    line = json.dumps({"what": what, "problems": list(found), "payload": payload}, default=str)
    with _lock, open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def check(stem: str, what: str, payload: Any) -> None:
    """Validate and record; never raises into central (the test fails afterwards)."""
    try:
        found = problems(stem, payload)
    except Exception as exc:  # a broken schema file or checker must fail the test too
        found = [f"could not validate: {exc!r}"]
    record(what, payload, found)


def read_violations(path: Path) -> list[dict[str, Any]]:
    """The violations recorded in path (none when it does not exist)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# ---- the wrappers ----


def _patch_service(mod: ModuleType) -> None:
    dump: Callable[[Any], bytes] = getattr(mod, "_dump")  # noqa: B009
    if getattr(dump, "__contract_checked__", False):
        return

    @functools.wraps(dump)
    def checked_dump(s: Any) -> bytes:
        check("summary", f"summary {s.level} {s.key!r}", s.payload)
        return dump(s)

    checked_dump.__contract_checked__ = True  # type: ignore[attr-defined]
    setattr(mod, "_dump", checked_dump)  # noqa: B010 (a module attribute, patched)


def _patch_alerts(mod: ModuleType) -> None:
    cls = mod.AlertEvent
    to_bytes: Callable[[Any], bytes] = cls.to_bytes
    if getattr(to_bytes, "__contract_checked__", False):
        return

    @functools.wraps(to_bytes)
    def checked_to_bytes(self: Any) -> bytes:
        check("alert", f"alert {self.event} {self.rule} {self.area_code}", self.payload())
        return to_bytes(self)

    checked_to_bytes.__contract_checked__ = True  # type: ignore[attr-defined]
    cls.to_bytes = checked_to_bytes


PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "central.service": _patch_service,
    "central.rules.alerts": _patch_alerts,
}


class _Finder(importlib.abc.MetaPathFinder):
    """Patches the publishing modules right after they are first imported."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module: ModuleType) -> None:
            exec_module(module)
            PATCHES[name](module)

        spec.loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Patch the publishing modules now (if imported) and whenever they get imported."""
    for name, patch in PATCHES.items():
        if name in sys.modules:
            patch(sys.modules[name])
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())

"""Model families: each file under models/adapters/ registers the ones it implements.

A family is what a manifest entry's `adapter = "…"` names: the key, the options table it reads
(`[models.NAME.<section>]`, a pydantic model) and what the entry must carry, and how to build it.
The manifest validation (models/spec.py) and the loader (models/detector.py) read everything
from here, so adding a family is one file under models/adapters/ that calls `register`.

This module imports nothing of the project: the adapters import it (and models.spec), and it
finds them by listing the models.adapters package the first time a key is asked for.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

ADAPTERS_PACKAGE = "models.adapters"


class Options(BaseModel):
    """Base of a family's options table: unknown keys are errors, values are fixed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Family:
    """One model family as a manifest names it.

    `build(resolved, registry, runtime)` returns the adapter (models.adapters.base.Adapter) for a
    verified entry; None marks a component that only another family builds (a face detector, a
    classifier). `parts(options)` names the other manifest entries the family is built from.
    """

    key: str
    build: Callable[[Any, Any, Any], Any] | None = None
    options: type[Options] | None = None
    section: str = ""  # the options table's name; default: the key
    options_required: bool = False  # without the table: an error (else the options' defaults)
    one_file: bool = True  # one verified file (file and sha256 required)
    fixed_input: bool = True  # input_width and input_height required
    needs_labels: bool = True  # labels (the output classes, in order) required
    parts: Callable[[Any], tuple[str, ...]] | None = None

    @property
    def detector(self) -> bool:
        """True when an entry of this family alone yields mask / no_mask detections."""
        return self.build is not None

    @property
    def table(self) -> str:
        """The manifest table of the options."""
        return self.section or self.key


_FAMILIES: dict[str, Family] = {}
_discovered = False


def register(family: Family) -> Family:
    """Add a family (an adapter file calls this at import); the key must be new."""
    known = _FAMILIES.get(family.key)
    if known is not None and known != family:
        raise ValueError(f"model family {family.key!r} is registered twice")
    _FAMILIES[family.key] = family
    return family


def unregister(key: str) -> None:
    """Remove a family (tests that add one)."""
    _FAMILIES.pop(key, None)


def discover() -> None:
    """Import every module of models/adapters/ once, so that each registers its families."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module(ADAPTERS_PACKAGE)
    for info in pkgutil.iter_modules(package.__path__, f"{ADAPTERS_PACKAGE}."):
        importlib.import_module(info.name)


def find(key: str) -> Family | None:
    """The family of a manifest key, None when no adapter file registers it."""
    if key not in _FAMILIES:
        discover()
    return _FAMILIES.get(key)


def get(key: str) -> Family:
    """The family of a manifest key (KeyError naming the known ones)."""
    family = find(key)
    if family is None:
        raise KeyError(f"unknown adapter {key!r}; known: {', '.join(known())}")
    return family


def known() -> list[str]:
    """Every registered family key, sorted."""
    discover()
    return sorted(_FAMILIES)

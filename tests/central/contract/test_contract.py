"""The summary contract: committed JSON Schemas equal the models; real payloads pass both the
models and the files; a payload that drifts from the contract fails both."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import create_engine

from central.contract import Alert, Summary
from central.contract.schemas import SCHEMAS, main, stale
from central.rules import AlertStore, Bed, Figures, KelurahanFigures, Pharmacy, evaluate
from central.rules.model import DEFAULT_RULES
from central.store import schema
from central.summaries import Summarizer
from tests.central.summary_fixtures import count_row, insert_rows, registry, small_areas
from tests.central.test_summaries import CFG, NOW, WINDOWS
from tests.conftest import REPO
from tests.contract_site.contract_check import problems

SCHEMA_DIR = REPO / "docs" / "schema"
SUMMARY = TypeAdapter(Summary)
ALERT = TypeAdapter(Alert)


def test_committed_schemas_equal_the_models(tmp_path: Path) -> None:
    assert stale(SCHEMA_DIR) == [], "run: python -m central.contract.schemas --out docs/schema"
    assert main(["--out", str(SCHEMA_DIR), "--check"]) == 0
    # The check can fail: a copy with one field's description edited is out of date.
    assert main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{s}.schema.json"
                                                                for s in SCHEMAS)  # fmt: skip
    p = tmp_path / "summary.schema.json"
    p.write_text(p.read_text().replace("People judged wearing a mask", "People wearing"))
    assert stale(tmp_path) == ["summary.schema.json"]
    assert main(["--out", str(tmp_path), "--check"]) == 1


@pytest.fixture(scope="module")
def summaries() -> list[dict[str, Any]]:
    """Every level's payload from the summaries' test data (a real pass on SQLite)."""
    engine = create_engine("sqlite://")
    schema.metadata.create_all(engine)
    insert_rows(engine, [count_row(a, c, k, end, i, p, m, u)
                         for i, (a, c, k, end, p, m, u) in enumerate(WINDOWS)])  # fmt: skip
    areas = small_areas()
    return [s.payload for s in Summarizer(engine, CFG, areas, registry(areas)).compute(NOW)]


def test_real_summaries_follow_the_contract(summaries: list[dict[str, Any]]) -> None:
    assert {p["level"] for p in summaries} == {"city", "kecamatan", "kelurahan", "camera"}
    assert any(p.get("civic") is None and p["level"] != "camera" for p in summaries) is False
    for p in summaries:
        assert problems("summary", p) == []
        model = SUMMARY.validate_python(p)
        # The models describe the payload exactly: validating changes nothing (the API returns
        # what it validated), including the aliased keys "from", "7d" and "schema".
        assert SUMMARY.dump_python(model, mode="json", exclude_unset=True) == p


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split("/")

    def edit(p: dict[str, Any]) -> None:
        for k in parents:
            p = p[k]
        if value is KeyError:
            del p[last]
        else:
            p[last] = value

    return edit


@pytest.mark.parametrize(
    ("level", "edit", "where"),
    [
        ("city", _set("surprise", 1), "(root)"),  # a key the contract does not declare
        ("city", _set("periods/recent/masked", "3"), "periods/recent/masked"),  # a string
        ("city", _set("periods/recent/masked", -1), "periods/recent/masked"),
        ("city", _set("periods/today/compliance", 1.5), "periods/today/compliance"),
        ("city", _set("periods/7d/people_seen", KeyError), "periods/7d"),  # missing
        ("city", _set("periods/recent/interval", {"method": "wilson"}), "periods/recent/interval"),
        ("city", _set("computed_at", "yesterday"), "computed_at"),
        ("city", _set("computed_at", "2025-06-10T10:00:00"), "computed_at"),  # no offset
        ("city", _set("schema", "siaga.summary/2"), "schema"),
        ("kelurahan", _set("civic/cases/weekly_rate", 3.0), "civic/cases"),
        ("kelurahan", _set("kecamatan_code", KeyError), "(root)"),
        ("camera", _set("suitable", "yes"), "suitable"),
        ("camera", _set("agent_id", "bad id/"), "agent_id"),
        ("camera", _set("level", "town"), "(root)"),
    ],
)
def test_a_drifting_summary_fails(
    summaries: list[dict[str, Any]], level: str, edit: Callable[[dict[str, Any]], None], where: str
) -> None:
    payload = copy.deepcopy(next(p for p in summaries if p["level"] == level))
    edit(payload)
    found = problems("summary", payload)
    assert found and all(f.startswith(f"{where}:") for f in found), found
    with pytest.raises(ValidationError):
        SUMMARY.validate_python(payload)


def test_interval_and_corrected_are_part_of_the_period(summaries: list[dict[str, Any]]) -> None:
    """The uncertainty fields (plan: filled by issue 16) validate when present and well formed."""
    p = copy.deepcopy(next(p for p in summaries if p["level"] == "city"))
    p["periods"]["recent"]["interval"] = {"method": "wilson", "level": 0.95, "low": 0.41,
                                          "high": 0.62, "n": 40}  # fmt: skip
    p["periods"]["recent"]["corrected"] = {"method": "rogan-gladen", "compliance": 0.55,
                                           "low": 0.4, "high": 0.7, "share": 0.5}  # fmt: skip
    p["periods"]["today"]["interval"] = p["periods"]["today"]["corrected"] = None
    assert problems("summary", p) == []
    assert SUMMARY.dump_python(SUMMARY.validate_python(p), mode="json", exclude_unset=True) == p


def _alerts() -> list[dict[str, Any]]:
    """One real alert message per rule: evaluate → AlertStore (SQLite) → AlertEvent.payload."""
    t = datetime(2021, 7, 10, 5, tzinfo=UTC)
    k = KelurahanFigures("33.74.01.1001", "33.74.01", (110.42, -6.99), 100, 50, 40, 20.0,
                         cases_week=400, cases_prev_week=5, population=50_000)  # fmt: skip
    figures = Figures(kelurahan={k.code: k},
                      pharmacies=(Pharmacy("apt-1", "Apotek", k.code, -6.99, 110.42, 3),),
                      beds=(Bed("rs-1", "RS 1", 10, 9),))  # fmt: skip
    engine = create_engine("sqlite://")
    schema.metadata.create_all(engine)
    store = AlertStore(engine)
    opened = store.apply(evaluate(figures, DEFAULT_RULES, t), t)
    resolved = store.apply([], t.replace(hour=6))
    return [e.payload() for e in opened + resolved]


def test_real_alerts_follow_the_contract() -> None:
    alerts = _alerts()
    assert {(a["rule"], a["event"]) for a in alerts} == {
        (r, e) for r in ("low_compliance", "mask_stock", "bed_occupancy", "ppkm_level")
        for e in ("open", "resolve")}  # fmt: skip
    for a in alerts:
        assert problems("alert", a) == []
        assert ALERT.dump_python(ALERT.validate_python(a), mode="json", exclude_unset=True) == a


@pytest.mark.parametrize(
    ("rule", "edit", "where"),
    [
        ("bed_occupancy", _set("figures/level", 3), "figures"),  # another rule's figure
        ("ppkm_level", _set("figures/bounds", [1.0, 2.0]), "figures/bounds"),
        ("low_compliance", _set("severity", "high"), "severity"),
        ("mask_stock", _set("figures/pharmacies", [{"pharmacy_id": "x"}]), "figures/pharmacies/0"),
        ("low_compliance", _set("first_seen", None), "first_seen"),
    ],
)
def test_a_drifting_alert_fails(rule: str, edit: Callable[[dict[str, Any]], None],
                                where: str) -> None:  # fmt: skip
    payload = next(a for a in _alerts() if a["rule"] == rule)
    edit(payload)
    found = problems("alert", payload)
    assert found and all(f.startswith(f"{where}:") for f in found), found
    with pytest.raises(ValidationError):
        ALERT.validate_python(payload)


def test_schema_files_are_valid_json_schema() -> None:
    from jsonschema import Draft202012Validator

    for stem in SCHEMAS:
        doc = json.loads((SCHEMA_DIR / f"{stem}.schema.json").read_text())
        Draft202012Validator.check_schema(doc)
        assert doc["$schema"].endswith("2020-12/schema") and doc["title"]

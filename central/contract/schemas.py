"""Writes the contract as JSON Schema files (docs/schema/*.schema.json), or checks them.

    python -m central.contract.schemas --out docs/schema      # (re)write
    python -m central.contract.schemas --out docs/schema --check   # exit 1 when out of date

The files are committed so that a dashboard team reads them without Python; a test compares
them with what the models generate, so a field changed without regenerating fails CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from central.contract.alert import Alert, AlertRecord
from central.contract.geo import AreaCollection
from central.contract.registry import AgentState, CameraState, Gaps
from central.contract.series import Series
from central.contract.summary import Summary

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# file stem → (type, title, description)
SCHEMAS: Mapping[str, tuple[Any, str, str]] = {
    "summary": (Summary, "siaga.summary/1",
                "A retained summary on {prefix}/summary/city, .../kecamatan/{code}, "
                ".../kelurahan/{code} or .../camera/{agent_id}/{camera_id}; the same payloads "
                "as GET /summaries/{level}[/{code}]. An empty retained message clears a topic."),
    "alert": (Alert, "siaga.alert/1",
              "A change to a decision-rule alert on {prefix}/alerts (QoS 1, not retained)."),
    "alerts": (list[AlertRecord], "GET /alerts",
               "Stored decision-rule alerts, newest first (operator data)."),
    "cameras": (list[CameraState], "GET /cameras",
                "Camera registry with health and newest window (operator data)."),
    "agents": (list[AgentState], "GET /agents",
               "Known agents: availability, latest status, revoked or not (operator data)."),
    "gaps": (Gaps, "GET /gaps", "Missing sequence ranges per agent (operator data)."),
    "series": (Series, "GET /series/{level}/{code}",
               "An area's counts today in 10-minute bins, or daily over 14 days (public)."),
    "areas.geojson": (AreaCollection, "GET /areas.geojson",
                      "Kelurahan polygons with their latest figures (public)."),
}  # fmt: skip


def schema_of(stem: str) -> dict[str, Any]:
    """The JSON Schema document of one file stem."""
    kind, title, description = SCHEMAS[stem]
    body = TypeAdapter(kind).json_schema(mode="validation")
    return {"$schema": DIALECT, "$id": f"{stem}.schema.json", "title": title,
            "description": description, **{k: v for k, v in body.items()
                                            if k not in ("title", "description")}}  # fmt: skip


def render(stem: str) -> str:
    """One schema file's text (stable: regenerating an unchanged contract changes nothing)."""
    return json.dumps(schema_of(stem), indent=2, ensure_ascii=False) + "\n"


def write(out: Path) -> list[Path]:
    """Write every schema file under out; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem in SCHEMAS:
        path = out / f"{stem}.schema.json"
        path.write_text(render(stem), encoding="utf-8")
        paths.append(path)
    return paths


def stale(out: Path) -> list[str]:
    """Schema files under out that are missing or differ from the models."""
    return [f"{stem}.schema.json" for stem in SCHEMAS
            if not (p := out / f"{stem}.schema.json").is_file()
            or p.read_text(encoding="utf-8") != render(stem)]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m central.contract.schemas", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--out", type=Path, default=Path("docs/schema"), help="folder of the files")
    ap.add_argument("--check", action="store_true", help="only check; exit 1 when out of date")
    args = ap.parse_args(argv)
    if args.check:
        bad = stale(args.out)
        for name in bad:
            print(f"{args.out / name}: out of date; run python -m central.contract.schemas "
                  f"--out {args.out}", file=sys.stderr)  # fmt: skip
        return 1 if bad else 0
    for path in write(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

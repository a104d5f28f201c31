"""Report writers: JSON and CSV (one row per figure) for machines, a standalone HTML page for
people (Jinja2 template, central/report/html_view.py); atomic files."""

from __future__ import annotations

import csv
import functools
import io
import json
from pathlib import Path
from typing import Any

import jinja2

from central.daily import atomic_write
from central.report.build import Figure, Report
from central.report.html_view import view
from siaga.timeutil import iso

REPORT_SCHEMA = "siaga.report/1"
CSV_HEADER = ("area", "area_name", "figure", "value", "unit", "source", "as_of", "late")
FORMATS = ("csv", "html", "json")  # json last: its presence marks a complete report


def _figure(f: Figure) -> dict[str, Any]:
    return {"area": f.area_code, "area_name": f.area_name, "level": f.level,
            "figure": f.figure, "value": f.value, "unit": f.unit, "source": f.source,
            "as_of": iso(f.as_of, keep_zone=True), "late": f.late}  # fmt: skip


def to_json(r: Report) -> str:
    """The report as JSON (schema siaga.report/1)."""
    doc = {
        "schema": REPORT_SCHEMA, "date": r.day.isoformat(), "timezone": r.timezone,
        "cutoff": iso(r.cutoff, keep_zone=True),
        "generated_at": iso(r.generated_at, keep_zone=True),
        "late_after_h": r.late_after_h, "min_people_for_ratio": r.min_people_for_ratio,
        "include_unsuitable_cameras": r.include_unsuitable_cameras,
        "city": {"code": r.city_code, "name": r.city_name},
        "figures": [_figure(f) for f in r.figures],
    }  # fmt: skip
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def to_csv(r: Report) -> str:
    """One row per figure: area, figure, value, source, as_of, late (empty value: no data)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for f in r.figures:
        w.writerow([f.area_code, f.area_name, f.figure, "" if f.value is None else f.value,
                    f.unit, f.source, iso(f.as_of, keep_zone=True) or "",
                    "1" if f.late else "0"])  # fmt: skip
    return buf.getvalue()


@functools.cache
def _templates() -> jinja2.Environment:
    """The report templates (package data), HTML-escaped, failing on an undefined name."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("central.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def to_html(r: Report) -> str:
    """The page people read (templates/report.html over html_view.view): Bahasa Indonesia,
    labelled figures, Indonesian number format, per-kecamatan chart as inline SVG; standalone
    (inline CSS, no script, no external asset)."""
    return _templates().get_template("report.html").render(view(r))


def report_paths(out_dir: Path, r: Report | None = None, *, day: Any = None) -> dict[str, Path]:
    """siaga-report-YYYY-MM-DD.{csv,html,json} in out_dir, by format."""
    d = r.day if r is not None else day
    return {fmt: out_dir / f"siaga-report-{d.isoformat()}.{fmt}" for fmt in FORMATS}


def write_report(r: Report, out_dir: Path) -> dict[str, Path]:
    """Write the three files atomically (temporary file + rename), JSON last. Returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = report_paths(out_dir, r)
    render = {"csv": to_csv, "html": to_html, "json": to_json}
    for fmt in FORMATS:
        atomic_write(paths[fmt], render[fmt](r))
    return paths

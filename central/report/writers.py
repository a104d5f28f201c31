"""Report writers: JSON, CSV (one row per figure) and a standalone HTML page; atomic files."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path
from typing import Any

from central.daily import atomic_write
from central.report.build import Figure, Report
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


_CSS = """body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;
margin-bottom:2em}th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left}
td.v{text-align:right}tr.late td{background:#fde2e1}.note{color:#555}"""


def to_html(r: Report) -> str:
    """A readable standalone page (inline CSS, no external assets): one table per area."""
    e = html.escape
    tz = r.cutoff.tzinfo
    parts = [
        "<!DOCTYPE html>", '<html lang="id"><head><meta charset="utf-8">',
        f"<title>Siaga report {e(r.day.isoformat())}</title><style>{_CSS}</style></head><body>",
        f"<h1>Laporan harian Siaga — {e(r.city_name)}, {e(r.day.isoformat())}</h1>",
        f'<p class="note">Cut-off {e(r.cutoff.isoformat())} ({e(r.timezone)}); generated '
        f"{e(r.generated_at.astimezone(tz).isoformat(timespec='seconds'))}. Rows shaded red are "
        f"late: no data, or data older than {r.late_after_h:g} h before the cut-off.</p>",
    ]  # fmt: skip
    areas: dict[str, list[Figure]] = {}
    for f in r.figures:
        areas.setdefault(f.area_code, []).append(f)
    for code, figs in areas.items():
        parts.append(f"<h2>{e(figs[0].area_name)} ({e(code)}, {e(figs[0].level)})</h2>")
        parts.append("<table><tr><th>figure</th><th>value</th><th>unit</th><th>source</th>"
                     "<th>as of</th><th>late</th></tr>")  # fmt: skip
        for f in figs:
            value = "—" if f.value is None else str(f.value)
            as_of = "—" if f.as_of is None else f.as_of.astimezone(tz).isoformat("T", "minutes")
            cls = ' class="late"' if f.late else ""
            parts.append(f"<tr{cls}><td>{e(f.figure)}</td><td class=\"v\">{e(value)}</td>"
                         f"<td>{e(f.unit)}</td><td>{e(f.source)}</td><td>{e(as_of)}</td>"
                         f"<td>{'late' if f.late else ''}</td></tr>")  # fmt: skip
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


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

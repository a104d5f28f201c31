"""The daily provincial report (Central Java): figures per area, writers and catch-up.

`build_report` queries one day's figures; `write_report` writes JSON, CSV and HTML atomically;
`due_reports` says which days' reports are missing (catch-up after downtime).
"""

from __future__ import annotations

from central.daily import due_reports, report_cutoff
from central.report.build import Figure, Report, build_report
from central.report.writers import report_paths, to_csv, to_html, to_json, write_report

__all__ = [
    "Figure", "Report", "build_report", "due_reports", "report_cutoff", "report_paths",
    "to_csv", "to_html", "to_json", "write_report",
]  # fmt: skip

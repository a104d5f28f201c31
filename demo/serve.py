"""After the scenario: `siaga demo` keeps central, its API, the dashboard and the broker running.

How long: `--duration S` says it; without it, until Ctrl-C when the demo runs in a terminal, and
not at all when it does not (CI, a pipe, the tests, `make demo` in a script), so the README's
command still ends by itself wherever nobody is there to press Ctrl-C. SIGTERM ends it like
Ctrl-C, so the private broker is stopped either way.

The addresses are printed and written to `<workdir>/demo-addresses.json` while the demo runs
(`python -m demo.screenshot` reads them); the file is removed when it stops.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

ADDRESSES = "demo-addresses.json"


def serve_seconds(duration: float | None, *, interactive: bool | None = None) -> float | None:
    """Seconds to keep serving: `duration` when given (negative counts as 0); else None (until
    Ctrl-C) in a terminal, 0 otherwise."""
    if duration is not None:
        return max(0.0, duration)
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    return None if interactive else 0.0


def write_addresses(central: Any, workdir: Path, *, ws_port: int | None) -> dict[str, str]:
    """The demo's addresses (API, dashboard, ops view, city page, broker over WebSockets), also
    written to workdir/ADDRESSES."""
    api = central.api_url
    urls = {"api": api, "dashboard": f"{api}/dashboard", "city": f"{api}/kota",
            "docs": f"{api}/docs"}  # fmt: skip
    if ws_port is not None:
        urls["mqtt_ws"] = f"ws://127.0.0.1:{ws_port}"
    (workdir / ADDRESSES).write_text(json.dumps(urls, indent=2) + "\n")
    return urls


def print_addresses(urls: dict[str, str]) -> None:
    """One line each, for a person to open."""
    print(f"dashboard: {urls['dashboard']}  (live over MQTT/WebSockets "
          f"{urls.get('mqtt_ws', 'not configured: HTTP fallback')})")  # fmt: skip
    print(f"city page: {urls['city']}  (English: {urls['city']}?lang=en)")


def serve(central: Any, seconds: float | None) -> None:
    """Keep running (central and the broker stay up) for `seconds`, None: until Ctrl-C/SIGTERM."""
    if seconds == 0:
        return
    urls = {"dashboard": f"{central.api_url}/dashboard", "city": f"{central.api_url}/kota"}
    how = "until Ctrl-C" if seconds is None else f"for {seconds:g} s (Ctrl-C stops it earlier)"
    print(f"\nserving the dashboard at {urls['dashboard']} and the city page at {urls['city']} "
          f"{how}", flush=True)  # fmt: skip
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("demo: stopped serving", flush=True)

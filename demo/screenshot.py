"""Screenshots of the running demo's dashboard and city page, for the README.

    siaga demo &                       # in one terminal (serves until Ctrl-C)
    python -m demo.screenshot          # writes docs/img/dashboard.png and docs/img/city.png

Finds the demo through the addresses it writes while serving (`<workdir>/demo-addresses.json`,
default out/demo) or takes `--url` (central's base URL). Renders each page in headless Chromium
at 1366×768, the operations-room screen the dashboard is laid out for, once the page says it is
ready (the dashboard sets `data-ready` on its body after its first data; the city page is
server-rendered). Needs Debian's chromium and chromium-driver and selenium (the dev extra:
`pip install -e '.[dev]'`); says so and exits 2 when one is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from demo.serve import ADDRESSES

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WIDTH, HEIGHT = 1366, 768
READY_TIMEOUT_S = 30.0
# The dashboard is ready once it has drawn the kelurahan and applied its first summaries.
DASHBOARD_READY = ("return document.body.dataset.ready === 'true' && "
                   "document.querySelectorAll('path.kel').length > 0")  # fmt: skip


def base_url(args: argparse.Namespace) -> str:
    """central's URL: --url, else the running demo's addresses file."""
    if args.url:
        return str(args.url).rstrip("/")
    path = args.workdir / ADDRESSES
    if not path.is_file():
        raise SystemExit(f"demo.screenshot: {path} not found: start `siaga demo --workdir "
                         f"{args.workdir}` first (it serves until Ctrl-C), "
                         "or pass --url")  # fmt: skip
    return str(json.loads(path.read_text())["api"])


def browser(profile: Path) -> Any:
    """Headless Chromium at WIDTH×HEIGHT, or SystemExit(2) naming what is missing."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.is_file():
            print(f"demo.screenshot: {binary} not found (apt-get install chromium "
                  "chromium-driver)", file=sys.stderr)  # fmt: skip
            raise SystemExit(2)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        print("demo.screenshot: needs selenium, from the dev extra: pip install -e '.[dev]'",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(2) from None
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--hide-scrollbars",
                f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}"):  # fmt: skip
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)


def wait_for(drv: Any, script: str, what: str) -> None:
    """Poll a script until it returns something truthy, at most READY_TIMEOUT_S."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not drv.execute_script(script):
        if time.monotonic() > deadline:
            raise SystemExit(f"demo.screenshot: {what} not ready after {READY_TIMEOUT_S:g} s")
        time.sleep(0.1)


def take(url: str, out: Path, city_out: Path | None) -> list[Path]:
    """Render the dashboard (and the city page) at `url`; the files written."""
    written = []
    with tempfile.TemporaryDirectory() as profile:
        drv = browser(Path(profile))
        try:
            # The page's own viewport at WIDTH×HEIGHT (a window of that size loses some to
            # the browser's frame, even headless).
            metrics = {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}
            drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            drv.get(f"{url}/dashboard")
            wait_for(drv, DASHBOARD_READY, "the dashboard")
            time.sleep(0.5)  # let the map's last transition settle
            out.parent.mkdir(parents=True, exist_ok=True)
            drv.save_screenshot(str(out))
            written.append(out)
            if city_out is not None:
                drv.get(f"{url}/kota")
                wait_for(drv, "return document.readyState === 'complete'", "the city page")
                city_out.parent.mkdir(parents=True, exist_ok=True)
                drv.save_screenshot(str(city_out))
                written.append(city_out)
        finally:
            drv.quit()
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m demo.screenshot [--workdir D | --url U] [--out P] [--city-out P]."""
    p = argparse.ArgumentParser(prog="python -m demo.screenshot", description=__doc__.split(
        "\n")[0])  # fmt: skip
    p.add_argument("--workdir", type=Path, default=Path("out/demo"),
                   help="the running demo's work folder (its addresses file)")  # fmt: skip
    p.add_argument("--url", help="central's base URL instead (http://127.0.0.1:PORT)")
    p.add_argument("--out", type=Path, default=Path("docs/img/dashboard.png"))
    p.add_argument("--city-out", type=Path, default=Path("docs/img/city.png"),
                   help="the city page's screenshot ('' for none)")  # fmt: skip
    args = p.parse_args(argv)
    city_out = args.city_out if str(args.city_out) not in ("", ".") else None
    for path in take(base_url(args), args.out, city_out):
        print(f"wrote {path} ({WIDTH}×{HEIGHT})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m demo.screenshot` renders a running central's dashboard and city page at 1366×768
(real central, Mosquitto with its WebSocket listener and headless Chromium; skips without them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import pytest

from demo.screenshot import HEIGHT, WIDTH, main
from tests.central.web.dashboard_fixtures import chromium, running_city, shared_geo
from tests.mqtt_broker import MosquittoBroker


def test_screenshots_of_dashboard_and_city_page(
    mosquitto_factory: Callable[..., MosquittoBroker], tmp_path: Path
) -> None:
    shared_geo()
    chromium(tmp_path / "probe").quit()  # skips with the reason without Chromium or selenium
    dash, city_png = tmp_path / "img" / "dashboard.png", tmp_path / "img" / "city.png"
    with running_city(mosquitto_factory(websockets=True), tmp_path / "central") as city:
        assert main(["--url", city.url, "--out", str(dash), "--city-out", str(city_png)]) == 0
    for png in (dash, city_png):
        image = cv2.imread(str(png))
        assert image is not None and image.shape[:2] == (HEIGHT, WIDTH), png
        assert image.std() > 20, f"{png} looks blank"  # a drawn page, not a white screen
    assert dash.read_bytes() != city_png.read_bytes()  # two pages, not one twice


def test_without_a_running_demo_it_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="start `siaga demo --workdir"):
        main(["--workdir", str(tmp_path)])

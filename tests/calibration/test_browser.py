"""The calibration page in a real headless Chromium: draw a zone, label a face, save, and the
agent's own filter then keeps a face on the left and drops one on the right of the image.

Needs Debian's chromium and chromium-driver (`apt-get install -y chromium chromium-driver`)
and selenium (the dev extra); skips with the reason otherwise. Every wait is at most 20 s.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent.config import CameraSection
from agent.service import camera_setup
from calibration.serve import ServeState
from calibration.serve_http import make_server
from models.detector import load_detector

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
IMAGE = "maksssksksss29.jpg"  # 400x295: one large face left of centre, two right of it
WAIT_S = 20


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.is_file():
            pytest.skip(f"{binary} not found: apt-get install -y chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1280,1100",
    ):  # fmt: skip
        opts.add_argument(arg)
    opts.timeouts = {"pageLoad": WAIT_S * 1000, "script": WAIT_S * 1000}
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture
def served(andrewmvd: Path, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    image = andrewmvd / "images" / IMAGE
    if not image.is_file():
        pytest.skip(f"{image} not found")
    out = tmp_path / "cam1.json"
    state = ServeState.build([image], load_detector(), camera_id="cam1", out=out)
    srv = make_server(state, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/", out, image
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def test_draw_label_save_then_agent_filters(driver: Any, served: tuple[str, Path, Path]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, out, image = served
    wait = WebDriverWait(driver, WAIT_S)
    driver.get(url)
    canvas = driver.find_element(By.ID, "view")
    wait.until(lambda d: canvas.get_attribute("data-ready") == "0")
    w, h = int(canvas.get_property("width")), int(canvas.get_property("height"))

    def click_at(x: float, y: float) -> None:
        # Offsets are from the element's centre; the border is the same on both sides.
        dx, dy = round(x - w / 2), round(y - h / 2)
        ActionChains(driver).move_to_element_with_offset(canvas, dx, dy).click().perform()

    # An include zone over the left half; points near the edges snap onto them.
    driver.find_element(By.ID, "mode-include").click()
    for x, y in ((2, 2), (w / 2, 2), (w / 2, h - 2), (2, h - 2)):
        click_at(x, y)
    driver.find_element(By.ID, "close-zone").click()

    # Label the left face "mask" (one click on its box).
    faces = json.loads(driver.execute_script("return JSON.stringify(st.faces[0]);"))
    frame = cv2.imread(str(image))
    assert frame is not None
    fh, fw = frame.shape[:2]
    scale = w / fw
    left = min(faces, key=lambda f: f["box"][0])
    cx, cy = ((left["box"][0] + left["box"][2]) / 2, (left["box"][1] + left["box"][3]) / 2)
    driver.find_element(By.ID, "mode-label").click()
    click_at(cx * scale, cy * scale)
    # The label is kept on the box at once, before any save.
    status = driver.find_element(By.ID, "status")
    wait.until(lambda d: "Labels kept in" in status.text or "NOT kept" in status.text)
    assert "Labels kept in" in status.text, status.text
    min_px = driver.find_element(By.ID, "min-px")
    min_px.clear()
    min_px.send_keys("16")

    driver.find_element(By.ID, "save").click()
    result = driver.find_element(By.ID, "result")
    wait.until(lambda d: result.get_attribute("data-state") in ("saved", "error"))
    assert result.get_attribute("data-state") == "saved", result.text
    assert "more" in result.text  # one label is far from enough to fit

    labels = (out.parent / (out.name + ".labels.jsonl")).read_text().splitlines()
    assert [json.loads(x)["truth"] for x in labels] == ["mask"]

    # Reopening the page shows the label on its face again.
    driver.refresh()
    canvas = driver.find_element(By.ID, "view")
    wait.until(lambda d: canvas.get_attribute("data-ready") == "0")
    kept = driver.execute_script("return JSON.stringify([...st.labels.entries()]);")
    assert json.loads(kept) == [[f"0:{faces.index(left)}", "mask"]]

    # The agent loads the file and its filter keeps the left face, drops those on the right.
    detector = load_detector()
    conf = detector.spec.conf_threshold
    setup = camera_setup(CameraSection(id="cam1", source=str(image), calibration_file=out), conf)
    assert setup.calibration_version is not None
    dets = detector.detect(frame, conf=setup.detect_conf)
    keep = setup.face_filter.keep_mask(dets, fw, fh)
    centre_x = (dets.boxes[:, 0] + dets.boxes[:, 2]) / 2
    size = np.maximum(dets.boxes[:, 2] - dets.boxes[:, 0], dets.boxes[:, 3] - dets.boxes[:, 1])
    countable = (size >= 16) & (dets.scores >= conf)
    on_left, on_right = countable & (centre_x < fw / 2), countable & (centre_x > fw / 2)
    assert on_left.any() and on_right.any()
    assert keep[on_left].all() and not keep[on_right].any()

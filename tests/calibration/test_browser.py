"""The calibration page in a real headless Chromium: draw a zone, label a face, save, and the
agent's own filter then keeps a face on the left and drops one on the right of the image. Then
the attacks of issue 14 from a real foreign page in the same browser: they write and read nothing.

Needs Debian's chromium and chromium-driver (`apt-get install -y chromium chromium-driver`)
and selenium (the dev extra); skips with the reason otherwise. Every wait is at most 20 s.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

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
EVIL_HOST = "evil.example"


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
        # A foreign site and a DNS-rebinding name, both on this machine; plain http as typed.
        f"--host-resolver-rules=MAP {EVIL_HOST} 127.0.0.1", "--disable-features=HttpsUpgrades",
    ):  # fmt: skip
        opts.add_argument(arg)
    opts.timeouts = {"pageLoad": WAIT_S * 1000, "script": WAIT_S * 1000}
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture
def image(andrewmvd: Path) -> Path:
    path = andrewmvd / "images" / IMAGE
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@contextlib.contextmanager
def serving(srv: HTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture
def served(image: Path, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    out = tmp_path / "cam1.json"
    state = ServeState.build([image], load_detector(), camera_id="cam1", out=out)
    srv = make_server(state, "127.0.0.1", 0)
    with serving(srv):
        yield srv.url, out, image


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


# A foreign page that knows the secret URL (the worst case: say it leaked) tries a CORS-free
# "simple" POST, a JSON POST (needs a preflight), a form post, and to read the faces and a frame.
EVIL_PAGE = """<!doctype html><title>evil</title><iframe name="sink"></iframe>
<form id="f" method="POST" action="TARGETapi/save" enctype="text/plain" target="sink">
<input name='{"version": "evil-form", "x": "' value='"}'></form>
<script>
const T = "TARGET", evil = JSON.stringify({version: "evil"}), out = {};
async function attempt(name, request) {
  try { const r = await request; out[name] = `${r.type}:${r.status}`; }
  catch (err) { out[name] = "failed"; }
}
(async () => {
  await attempt("simple", fetch(T + "api/save", {method: "POST", mode: "no-cors",
    headers: {"Content-Type": "text/plain"}, body: evil}));
  await attempt("json", fetch(T + "api/save", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: evil}));
  await attempt("read", fetch(T + "api/faces"));
  out.img = await new Promise((done) => {
    const img = new Image();
    img.onload = () => done("loaded"); img.onerror = () => done("error");
    img.src = T + "api/image/0";
  });
  document.getElementById("f").submit();
  document.title = "done " + JSON.stringify(out);
})();
</script>"""


def _recording(srv: HTTPServer) -> list[tuple[str, str, int]]:
    """Make srv note (method, path inside the secret, status) of every answered request."""
    seen: list[tuple[str, str, int]] = []

    def log_request(
        h: BaseHTTPRequestHandler, code: int | str = "-", size: int | str = "-"
    ) -> None:
        if h.command:  # not a line that failed to parse
            seen.append((h.command, h.path.rsplit("/s/", 1)[-1].partition("/")[2], int(code)))

    base = cast(type[BaseHTTPRequestHandler], srv.RequestHandlerClass)
    srv.RequestHandlerClass = type("Recording", (base,), {"log_request": log_request})
    return seen


def _evil_server(page: str) -> HTTPServer:
    class Evil(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    evil.daemon_threads = True  # Chromium's idle preconnects must not hold the shutdown
    return evil


def test_a_foreign_page_writes_and_reads_nothing(driver: Any, image: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out = tmp_path / "cam1.json"
    srv = make_server(
        ServeState.build([image], load_detector(), camera_id="cam1", out=out), "127.0.0.1", 0
    )
    seen = _recording(srv)
    evil = _evil_server(EVIL_PAGE.replace("TARGET", srv.url))
    wait = WebDriverWait(driver, WAIT_S)
    with serving(srv), serving(evil):
        # DNS rebinding: the attacker's name now resolves to 127.0.0.1; its Host is refused.
        driver.get(srv.url.replace("127.0.0.1", EVIL_HOST))
        assert "does not answer to Host" in driver.find_element(By.TAG_NAME, "body").text
        assert seen and {code for _, _, code in seen} == {421}, seen  # page (and favicon)
        seen.clear()
        driver.get(f"http://{EVIL_HOST}:{evil.server_address[1]}/")
        wait.until(lambda d: d.title.startswith("done "))
        wait.until(lambda d: sum(m == "POST" for m, _, _ in seen) >= 2)  # the form's too
        results = json.loads(driver.title.removeprefix("done "))
    # The simple POST and the form reached the server and were refused (the browser then hides
    # even the refusal: Cross-Origin-Resource-Policy); the JSON POST never left the browser (its
    # preflight was refused); the reads failed.
    assert results == {"simple": "failed", "json": "failed", "read": "failed", "img": "error"}
    assert sorted(seen) == [
        ("GET", "api/faces", 403), ("GET", "api/image/0", 403), ("OPTIONS", "api/save", 405),
        ("POST", "api/save", 403), ("POST", "api/save", 403),
    ]  # fmt: skip
    assert not out.exists() and not (out.parent / (out.name + ".labels.jsonl")).exists()

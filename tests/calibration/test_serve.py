"""`siaga calibrate serve`: the JSON endpoints, the saved file and refused posts.

The request guard (Host, secret, Origin, content type, size) is tested in test_serve_guard.py.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.calibration_file import load_calibration
from calibration.fit import MIN_LABELS_PER_CLASS
from calibration.label_store import labels_path
from calibration.labels_io import read_labels
from calibration.serve import ServeState, snapshot_images
from calibration.serve_http import make_server, run_serve
from models.detector import load_detector
from siaga.cli import main

IMAGE = "maksssksksss29.jpg"  # 400x295, one large face on the left, two on the right


@pytest.fixture(scope="module")
def image(andrewmvd: Path) -> Path:
    path = andrewmvd / "images" / IMAGE
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def state(image: Path) -> ServeState:
    return ServeState.build([image], load_detector(), camera_id="cam1", out=None)


@pytest.fixture
def server(state: ServeState, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    out = state.out = tmp_path / "cam1.json"
    srv = make_server(state, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield srv.url.rstrip("/"), out
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), r.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers["Content-Type"]


def post(url: str, body: Any, *, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    """POST JSON as the page does: its own Origin, Content-Type application/json."""
    data = raw if raw is not None else json.dumps(body).encode()
    parts = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/json", "Origin": f"{parts.scheme}://{parts.netloc}"}
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_page_and_read_endpoints(server: tuple[str, Path]) -> None:
    base, _ = server
    status, page, ctype = get(base + "/")
    assert status == 200 and ctype.startswith("text/html") and b"<canvas" in page
    assert b"http" not in page.replace(b"http-equiv", b"")  # nothing fetched from elsewhere
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        status, body, ctype = get(f"{base}/{name}")
        assert status == 200 and ctype.startswith(kind) and body
    status, body, _ = get(base + "/api/snapshot")
    snap = json.loads(body)
    assert status == 200 and snap["camera_id"] == "cam1"
    assert snap["images"] == [{"index": 0, "name": IMAGE, "width": 400, "height": 295}]
    status, jpeg, ctype = get(base + "/api/image/0")
    assert status == 200 and ctype == "image/jpeg" and jpeg[:2] == b"\xff\xd8"
    assert get(base + "/api/image/1")[0] == 404
    assert get(base + "/../pyproject.toml")[0] == 404
    status, body, _ = get(base + "/api/faces")
    faces = json.loads(body)["images"][0]["faces"]
    assert status == 200 and len(faces) >= 3
    for f in faces:
        assert f["predicted"] in ("mask", "no_mask") and 0 < f["score"] <= 1
        x1, y1, x2, y2 = f["box"]
        assert 0 <= x1 < x2 <= 400 and 0 <= y1 < y2 <= 295 and f["size_px"] > 0


def test_save_writes_a_file_the_agent_loads(server: tuple[str, Path]) -> None:
    base, out = server
    body = {
        "version": "2026-11-27a",
        "include_zones": [[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]],
        "exclude_zones": [[[0.1, 0.1], [0.2, 0.1], [0.2, 0.2]]],
        "labels": [{"image": 0, "face": 0, "truth": "not_a_face"}],
        "min_face_px": 20,
        "max_face_px": 300,
    }
    status, res = post(base + "/api/save", body)
    assert status == 200, res
    assert Path(res["path"]) == out.resolve() and not res["fitted"]
    assert sum(res["labels_per_class"].values()) == 1
    assert sum(res["labels_needed"].values()) == 2 * MIN_LABELS_PER_CLASS - 1
    assert "more" in res["message"] and "model default" in res["message"]
    cal = load_calibration(out, camera_id="cam1")
    assert cal.version == "2026-11-27a" and cal.thresholds == {}
    assert cal.min_face_px == 20 and cal.max_face_px == 300
    assert cal.include_zones == [[(0, 0), (0.5, 0), (0.5, 1), (0, 1)]]
    assert cal.exclude_zones is not None and len(cal.exclude_zones) == 1
    lines = Path(res["labels_path"]).read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["truth"] == "not_a_face"


def test_save_fits_thresholds_with_enough_labels(
    image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One real face repeated over many images gives enough labels of its class to fit.
    detector = load_detector()
    state = ServeState.build([image] * 4, detector, camera_id="cam1", out=tmp_path / "c.json")
    monkeypatch.setattr("calibration.serve.fit_thresholds", _fit_with(min_per_class=2))
    labels = [
        {"image": i, "face": j, "truth": f["predicted"]}
        for i, s in enumerate(state.snapshots)
        for j, f in enumerate(s.faces)
    ]
    res = state.save({"version": "v1", "labels": labels, "min_face_px": 16})
    assert res["fitted"] and set(res["written"]["thresholds"]) == {"mask", "no_mask"}
    cal = load_calibration(tmp_path / "c.json", camera_id="cam1")
    assert cal.thresholds == res["written"]["thresholds"]


def _fit_with(**kw: Any) -> Any:
    from calibration.fit import fit_thresholds

    return lambda labels: fit_thresholds(labels, **kw)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([1, 2], "JSON object"),
        ({"version": ""}, "version"),
        ({"version": "v", "camera_id": "other"}, "camera_id must be 'cam1'"),
        ({"version": "v", "include_zones": [[[0, 0], [1, 0]]]}, "at least 3 points"),
        ({"version": "v", "exclude_zones": [[[0, 0], [1.5, 0], [1, 1]]]}, "between 0 and 1"),
        ({"version": "v", "labels": [{"image": 0, "face": 99, "truth": "mask"}]}, "no face"),
        ({"version": "v", "labels": [{"image": 3, "face": 0, "truth": "mask"}]}, "no image"),
        ({"version": "v", "labels": [{"image": 0, "face": 0, "truth": "hat"}]}, "truth"),
        ({"version": "v", "min_face_px": 50, "max_face_px": 20}, "cannot exceed"),
        ({"version": "v", "min_face_px": 0}, "min_face_px"),
        ({"version": "v", "colour": "red"}, "unknown field"),
    ],
)
def test_bad_posts_are_400(server: tuple[str, Path], body: Any, needle: str) -> None:
    base, out = server
    status, res = post(base + "/api/save", body)
    assert status == 400 and needle in res["error"], res
    assert not out.exists()


def test_not_json_is_400(server: tuple[str, Path]) -> None:
    base, _ = server
    status, res = post(base + "/api/save", None, raw=b"{nope")
    assert status == 400 and "not JSON" in res["error"]


def test_snapshot_images(tmp_path: Path) -> None:
    (tmp_path / "b.jpg").write_bytes(b"x")
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in snapshot_images(tmp_path)] == ["a.png", "b.jpg"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(OSError, match="no images"):
        snapshot_images(tmp_path / "empty")


def test_cli_missing_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "serve", "--snapshot", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_run_serve_prints_the_url_with_its_key(
    image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def stop(self: object, poll_interval: float = 0.5) -> None:
        raise KeyboardInterrupt  # Ctrl-C at once

    monkeypatch.setattr("calibration.serve_http.CalibrationServer.serve_forever", stop)
    assert run_serve(image, camera="cam1", out=tmp_path / "c.json", host="127.0.0.1", port=0,
                     model="siaga_facemask_v1") == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert re.search(r"calibration page: http://127\.0\.0\.1:\d+/s/[\w-]{32}/ ", printed), printed


@contextlib.contextmanager
def serving(state: ServeState) -> Iterator[str]:
    srv = make_server(state, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield srv.url.rstrip("/")
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def _truths(base: str) -> list[list[str | None]]:
    status, body, _ = get(base + "/api/faces")
    assert status == 200
    return [[f["truth"] for f in im["faces"]] for im in json.loads(body)["images"]]


def test_labels_survive_a_restart_and_carry_over(
    image: Path, andrewmvd: Path, tmp_path: Path
) -> None:
    detector = load_detector()
    out = tmp_path / "cam1.json"
    first = ServeState.build([image], detector, camera_id="cam1", out=out)
    n = len(first.snapshots[0].faces)
    assert n >= 3
    given = [{"image": 0, "face": 0, "truth": "mask"}, {"image": 0, "face": 2, "truth": "no_mask"}]
    with serving(first) as base:
        assert _truths(base) == [[None] * n]
        status, res = post(base + "/api/labels", {"labels": given})
        assert status == 200 and res["labels"] == 2, res
        # Labels alone write no calibration file.
        assert not out.exists() and Path(res["labels_path"]).is_file()
        assert post(base + "/api/labels", {"labels": "x"})[0] == 400
    # A new session on the same snapshot shows them on their faces again.
    with serving(ServeState.build([image], detector, camera_id="cam1", out=out)) as base:
        want: list[str | None] = [None] * n
        want[0], want[2] = "mask", "no_mask"
        assert _truths(base) == [want]
    # A session on another snapshot carries them over: counted by the fit, written back.
    other = andrewmvd / "images" / "maksssksksss0.jpg"
    if not other.is_file():
        pytest.skip(f"{other} not found")
    third = ServeState.build([other], detector, camera_id="cam1", out=out)
    with serving(third) as base:
        status, body, _ = get(base + "/api/faces")
        assert json.loads(body)["carried_labels"] == 2
        status, res = post(
            base + "/api/save",
            {"version": "v2", "labels": [{"image": 0, "face": 0, "truth": "not_a_face"}]},
        )
        assert status == 200, res
        assert sum(res["labels_per_class"].values()) == 3 and res["carried_labels"] == 2
    lines = [json.loads(x) for x in labels_path(out).read_text().splitlines()]
    assert sorted(x["truth"] for x in lines) == ["mask", "no_mask", "not_a_face"]
    assert {x["image"] for x in lines} == {image.name, other.name}
    # `siaga calibrate fit` reads the same file.
    assert len(read_labels(labels_path(out))) == 3


def test_a_bad_labels_file_is_refused_at_start(image: Path, tmp_path: Path) -> None:
    out = tmp_path / "cam1.json"
    labels_path(out).write_text('{"score": 0.5, "predicted": "mask", "truth": "mask"}\n{oops\n')
    with pytest.raises(OSError, match=r"cam1.json.labels.jsonl:2: bad label"):
        ServeState.build([image], load_detector(), camera_id="cam1", out=out)

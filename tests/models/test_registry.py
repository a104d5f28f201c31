import hashlib
from pathlib import Path

import pytest

from models.registry import MANIFEST_NAME, ModelError, Registry, parse_manifest, search_path

ENTRY = """
[models.tiny]
file = "tiny.onnx"
sha256 = "{sha}"
adapter = "yolo"
input_width = 64
input_height = 64
labels = ["mask", "no_mask"]
license = "MIT"
source = "test"
"""


def _manifest(d: Path, sha: str, extra: str = "") -> None:
    (d / MANIFEST_NAME).write_text(ENTRY.format(sha=sha) + extra)


def test_sha_mismatch_is_a_clear_error(tmp_path: Path):
    (tmp_path / "tiny.onnx").write_bytes(b"not the model")
    _manifest(tmp_path, "0" * 64)
    reg = Registry([tmp_path])
    with pytest.raises(ModelError, match="sha256") as info:
        reg.resolve("tiny")
    assert "corrupt" in str(info.value) and "tiny.onnx" in str(info.value)


def test_sha_match_resolves(tmp_path: Path):
    data = b"pretend onnx"
    (tmp_path / "tiny.onnx").write_bytes(data)
    _manifest(tmp_path, hashlib.sha256(data).hexdigest())
    resolved = Registry([tmp_path]).resolve("tiny")
    assert resolved.path == tmp_path / "tiny.onnx" and resolved.spec.adapter == "yolo"


def test_file_found_in_later_search_dir(tmp_path: Path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    data = b"weights"
    _manifest(first, hashlib.sha256(data).hexdigest())
    (second / "tiny.onnx").write_bytes(data)
    assert Registry([first, second]).resolve("tiny").path == second / "tiny.onnx"


def test_missing_file_says_where_it_looked(tmp_path: Path):
    _manifest(tmp_path, "0" * 64)
    with pytest.raises(ModelError, match="SIAGA_MODEL_PATH"):
        Registry([tmp_path]).resolve("tiny")


def test_unknown_model_lists_known(tmp_path: Path):
    _manifest(tmp_path, "0" * 64)
    with pytest.raises(ModelError, match="registered: tiny"):
        Registry([tmp_path]).resolve("nope")


@pytest.mark.parametrize(
    ("extra_line", "reason"),
    [
        ("colour = 'rgb'", "models.tiny.colour: Extra inputs are not permitted"),
        ("conf_threshold = 2.0", "models.tiny.conf_threshold"),
        ("resize = 'squash'", "models.tiny.resize"),
    ],
)
def test_manifest_errors_name_file_key_and_reason(tmp_path: Path, extra_line: str, reason: str):
    (tmp_path / MANIFEST_NAME).write_text(ENTRY.format(sha="0" * 64) + extra_line + "\n")
    with pytest.raises(ModelError, match=reason) as info:
        parse_manifest(tmp_path / MANIFEST_NAME)
    assert MANIFEST_NAME in str(info.value)


def test_adapter_sections_are_required(tmp_path: Path):
    text = ENTRY.format(sha="0" * 64).replace('"yolo"', '"ssd_anchor"')
    (tmp_path / MANIFEST_NAME).write_text(text)
    with pytest.raises(ModelError, match="anchors"):
        parse_manifest(tmp_path / MANIFEST_NAME)


def test_search_path_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("SIAGA_MODEL_PATH", f"{tmp_path}/x:{tmp_path}/y")
    dirs = search_path()
    assert dirs[0].name == "models" and dirs[1:] == [tmp_path / "x", tmp_path / "y"]


def test_project_manifest_is_valid():
    reg = Registry()
    assert "aizoo_facemask_360" in reg.names(detectors_only=True)
    assert "yunet_s_dynamic" not in reg.names(detectors_only=True)


def test_unregistered_file_needs_a_sidecar(tmp_path: Path):
    f = tmp_path / "mystery.onnx"
    f.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"mystery\.toml"):
        Registry([tmp_path]).resolve_any(str(f))

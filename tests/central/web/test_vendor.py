"""The vendored front-end libraries are the registry's released files: every file on disk has the
sha256 the manifest records (offline), and the refresh refuses a tarball that does not match the
registry's integrity hash."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from central.web.vendor_refresh import MANIFEST, PACKAGES, VENDOR_DIR, check_integrity, verify


def test_every_vendored_file_matches_the_manifest():
    manifest = json.loads(MANIFEST.read_text())
    listed = {(p["name"], f) for p in manifest["packages"] for f in p["files"]}
    on_disk = {(d.name, f.name) for d in VENDOR_DIR.iterdir() if d.is_dir() for f in d.iterdir()}
    assert listed == on_disk, "files on disk and in the manifest differ"
    assert verify() == []
    for p in manifest["packages"]:
        assert p["license"] and "LICENSE" in p["files"], p["name"]
        assert p["tarball"].startswith("https://registry.npmjs.org/")
        assert p["integrity"].startswith("sha512-")
        for name, entry in p["files"].items():
            digest = hashlib.sha256((VENDOR_DIR / p["name"] / name).read_bytes()).hexdigest()
            assert digest == entry["sha256"], f"{p['name']}/{name}"
    assert [(p.name, p.version) for p in PACKAGES] == [
        (p["name"], p["version"]) for p in manifest["packages"]
    ], "PACKAGES pins and the manifest disagree: run python -m central.web.vendor_refresh"


def test_a_changed_file_is_reported(tmp_path: Path):
    copy = tmp_path / "vendor"
    shutil.copytree(VENDOR_DIR, copy)
    assert verify(copy) == []
    target = copy / "leaflet" / "leaflet.js"
    target.write_bytes(target.read_bytes() + b"\n// tampered")
    (copy / "uplot" / "LICENSE").unlink()
    problems = verify(copy)
    assert len(problems) == 2
    assert any("leaflet.js: sha256 differs" in p for p in problems)
    assert any("LICENSE: missing" in p for p in problems)


def test_integrity_check():
    data = b"a release tarball"
    good = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    check_integrity(data, good)
    with pytest.raises(ValueError, match="integrity mismatch"):
        check_integrity(data + b"!", good)
    with pytest.raises(ValueError, match="unsupported"):
        check_integrity(data, "md5-abc")

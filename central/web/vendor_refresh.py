"""Re-fetch the dashboard's vendored front-end libraries from the npm registry.

`python -m central.web.vendor_refresh [--check]` downloads each pinned package's released tarball
(the URL the registry names for that version), verifies it against the registry's `integrity`
hash (Subresource-Integrity form, sha512), copies the listed minified files and the licence into
`central/web/static/vendor/<name>/` and rewrites `manifest.json` with name, version, licence, the
tarball URL and integrity, and the sha256 of every file written. `--check` verifies the files on
disk against the manifest and touches no network (what the test suite does).

Why vendored rather than a CDN: the dashboard runs on the city's LAN with no internet; why files
from the registry's release tarballs rather than a build: what a browser loads is then exactly
the published release, which anyone can compare with the registry by its hashes. To move to a
new version, change PACKAGES and run this module; review the diff of manifest.json.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGISTRY = "https://registry.npmjs.org"
VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
MANIFEST = VENDOR_DIR / "manifest.json"
TIMEOUT_S = 60


@dataclass(frozen=True)
class Package:
    """One npm package pinned to a version: which files of its tarball the dashboard serves."""

    name: str
    version: str
    files: dict[str, str]  # path inside the tarball ("package/...") -> file name written
    why: str


PACKAGES = (
    Package(
        "leaflet",
        "1.9.4",
        {
            "package/dist/leaflet.js": "leaflet.js",
            "package/dist/leaflet.css": "leaflet.css",
            "package/LICENSE": "LICENSE",
        },
        "map: 42 kB gzipped, SVG/canvas rendering without WebGL (old operations PCs, "
        "headless Chromium), tiles optional",
    ),
    Package(
        "uplot",
        "1.6.32",
        {
            "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
            "package/dist/uPlot.min.css": "uPlot.min.css",
            "package/LICENSE": "LICENSE",
        },
        "plots: 50 kB, canvas time series, fast on thousands of points",
    ),
    Package(
        "mqtt",
        "5.16.0",
        {"package/dist/mqtt.min.js": "mqtt.min.js", "package/LICENSE.md": "LICENSE"},
        "MQTT 5 over WebSockets, maintained, reconnects; loaded only when [dashboard] "
        "names a WebSocket URL",
    ),
)


def sha256(data: bytes) -> str:
    """Hex sha256 of data."""
    return hashlib.sha256(data).hexdigest()


def check_integrity(data: bytes, integrity: str) -> None:
    """Raise ValueError unless data matches an SRI string (`sha512-<base64>`, as npm gives)."""
    algo, _, want = integrity.partition("-")
    if algo not in ("sha512", "sha384", "sha256"):
        raise ValueError(f"unsupported integrity algorithm {algo!r}")
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if got != want:
        raise ValueError(f"integrity mismatch: registry says {integrity}, tarball is {algo}-{got}")


def _get(url: str) -> bytes:
    if not url.startswith("https://"):
        raise ValueError(f"refusing a non-https URL {url!r}")
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:
        return bytes(r.read())


def fetch(pkg: Package, out_dir: Path) -> dict[str, Any]:
    """Download, verify and unpack one package; its manifest entry."""
    meta = json.loads(_get(f"{REGISTRY}/{pkg.name}/{pkg.version}"))
    tarball, integrity = meta["dist"]["tarball"], meta["dist"]["integrity"]
    data = _get(tarball)
    check_integrity(data, integrity)
    files: dict[str, dict[str, str]] = {}
    target = out_dir / pkg.name
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member, name in pkg.files.items():
            f = tar.extractfile(member)
            if f is None:
                raise ValueError(f"{pkg.name}@{pkg.version}: {member} is not a file")
            body = f.read()
            (target / name).write_bytes(body)
            files[name] = {"from": member, "sha256": sha256(body)}
    return {"name": pkg.name, "version": pkg.version, "license": meta.get("license"),
            "tarball": tarball, "integrity": integrity, "why": pkg.why,
            "files": files}  # fmt: skip


def refresh(out_dir: Path = VENDOR_DIR) -> dict[str, Any]:
    """Fetch every package and write the manifest; returns it."""
    manifest = {"registry": REGISTRY, "packages": [fetch(p, out_dir) for p in PACKAGES]}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def verify(out_dir: Path = VENDOR_DIR) -> list[str]:
    """Problems found comparing the files on disk with the manifest (offline); [] when none."""
    manifest = json.loads((out_dir / "manifest.json").read_text())
    problems = []
    for pkg in manifest["packages"]:
        for name, entry in pkg["files"].items():
            path = out_dir / pkg["name"] / name
            if not path.is_file():
                problems.append(f"{path}: missing")
            elif sha256(path.read_bytes()) != entry["sha256"]:
                problems.append(f"{path}: sha256 differs from the manifest")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line: refresh (default) or --check."""
    ap = argparse.ArgumentParser(prog="python -m central.web.vendor_refresh",
                                 description=__doc__.splitlines()[0])  # fmt: skip
    ap.add_argument("--check", action="store_true", help="verify files against the manifest")
    args = ap.parse_args(argv)
    if args.check:
        problems = verify()
        for p in problems:
            print(p, file=sys.stderr)
        print("vendored files match the manifest" if not problems else f"{len(problems)} problems")
        return 1 if problems else 0
    manifest = refresh()
    for p in manifest["packages"]:
        print(f"{p['name']}@{p['version']} ({p['license']}): {', '.join(p['files'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Which optional parts of Siaga are installed, read from the package's own metadata.

The roles are pip extras (`siaga` is the edge box, `siaga[central]` the central server), so the
installed distribution's `Requires-Dist` lines are the one list of what each role needs: the
command line asks here whether an extra is complete instead of catching an ImportError from deep
inside central code. Only the standard library is used (`packaging` is not a dependency of the
base install); the requirement lines pip writes are simple enough to read by hand.

Run as a module it prints the base requirements that are still to be installed on a box with a
vendor build of onnxruntime or OpenCV (see `python -m siaga.extras --help`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Sequence

DIST = "siaga"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
# Base requirements a device vendor often ships under another distribution name (Jetson's system
# OpenCV, onnxruntime-openvino / -gpu / -qnn …): requirement name → the module they provide.
VENDORED = {"onnxruntime": "onnxruntime", "opencv-python-headless": "cv2"}


def normalise(name: str) -> str:
    """PEP 503 name: lower case, runs of `-_.` as one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(extra: str | None = None, dist: str = DIST) -> list[str] | None:
    """Requirement lines of the base install (extra None) or of one extra, without markers.

    None when the distribution is not installed (a source tree on sys.path): then nothing can be
    said and callers let the imports decide.
    """
    try:
        lines = importlib.metadata.requires(dist) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    out = []
    for line in lines:
        spec, _, marker = line.partition(";")
        m = _EXTRA.search(marker)
        if (m.group(1) if m else None) == extra:
            out.append(spec.strip())
    return out


def requirement_name(spec: str) -> str:
    """The distribution a requirement line names (`psycopg[binary]>=3.1` → `psycopg`)."""
    m = _NAME.match(spec)
    if m is None:
        raise ValueError(f"not a requirement: {spec!r}")
    return normalise(m.group(1))


def installed(name: str) -> bool:
    """Whether a distribution of this name is installed."""
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def missing_for(extra: str) -> list[str]:
    """The distributions of an extra that are not installed ([] when complete or unknown)."""
    reqs = requirements(extra)
    if reqs is None:
        return []
    return [n for n in (requirement_name(r) for r in reqs) if not installed(n)]


def still_needed(extra: str | None = None) -> list[str]:
    """Requirement lines to install beside a `pip install --no-deps siaga`, leaving out those
    whose module a vendor build already provides under another distribution name."""
    reqs = requirements(extra)
    if reqs is None:
        raise RuntimeError(f"{DIST} is not installed: run `pip install --no-deps siaga` first")
    out = []
    for spec in reqs:
        module = VENDORED.get(requirement_name(spec))
        if module is not None and importlib.util.find_spec(module) is not None:
            by = importlib.metadata.packages_distributions().get(module, ["a system package"])
            print(f"{spec}: left out, module {module} is provided by {', '.join(by)}",
                  file=sys.stderr)  # fmt: skip
            continue
        out.append(spec)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Print the requirements still needed, one a line, for `pip install -r`."""
    p = argparse.ArgumentParser(
        prog="python -m siaga.extras",
        description="On a box with a vendor build of onnxruntime or OpenCV (onnxruntime-openvino, "
        "Jetson's system OpenCV): after `pip install --no-deps siaga`, print the requirements "
        "still to install, leaving out those a vendor build already provides. "
        "Use: python -m siaga.extras > req.txt && pip install -r req.txt",
    )
    p.add_argument("--extra", default=None, help="an extra's requirements (default: the base)")
    args = p.parse_args(argv)
    try:
        lines = still_needed(args.extra)
    except RuntimeError as exc:
        print(f"siaga.extras: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Siaga as users install it: a wheel built from the tracked files, installed into fresh venvs
holding one role's dependencies each, and run from there (never from the source tree).

The wheel is built once per session from a copy of the files git tracks (or would track), so a
file missing from the package data fails here and not on a technician's box. The venvs are built
once per session as well; pip's cache keeps the second and later runs short.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

INSTALL_TIMEOUT_S = 900
# What the edge box must not carry (a central server, training, test tools).
NOT_ON_THE_BOX = {
    "sqlalchemy", "fastapi", "uvicorn", "starlette", "alembic", "psycopg", "cryptography",
    "torch", "onnx", "selenium", "mypy", "pytest", "ruff",
}  # fmt: skip
# What the central server (and so the demo) must not carry.
NOT_ON_CENTRAL = {"torch", "selenium", "mypy", "pytest", "ruff"}


def run(cmd: Sequence[str | Path], *, timeout: float = 120, check: bool = True,
        env: dict[str, str] | None = None, cwd: Path | None = None,
        ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run a command, bounded in time; on failure the assertion shows its output."""
    cp = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                        env=env, cwd=cwd, check=False)  # fmt: skip
    if check and cp.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited {cp.returncode}\n"
            f"stdout:\n{cp.stdout[-3000:]}\nstderr:\n{cp.stderr[-3000:]}"
        )
    return cp


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no venv, no SIAGA_* settings of the test run."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SIAGA_", "VIRTUAL_ENV", "PYTHON"))}  # fmt: skip
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(Path(sys.prefix))))  # fmt: skip
    env.update(extra)
    return env


@dataclass(frozen=True)
class Venv:
    """A virtual environment built for one role."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def siaga(self) -> Path:
        return self.root / "bin" / "siaga"

    def pip(self, *args: str | Path, timeout: float = INSTALL_TIMEOUT_S,
            ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return run([self.python, "-m", "pip", "--disable-pip-version-check", *args],
                   timeout=timeout, env=clean_env())  # fmt: skip

    def packages(self) -> dict[str, str]:
        """Installed distributions, normalised name → version."""
        listed = json.loads(self.pip("list", "--format", "json").stdout)
        return {re.sub(r"[-_.]+", "-", p["name"]).lower(): p["version"] for p in listed}

    def size_mb(self) -> float:
        return sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file()) / 2**20


def make_venv(root: Path, *install: str | Path) -> Venv:
    """A fresh venv (no system site packages) with `pip install *install` in it."""
    run([sys.executable, "-m", "venv", root], timeout=120)
    venv = Venv(root)
    if install:
        venv.pip("install", "-q", *install)
    return venv


def _tracked_copy(dest: Path) -> Path:
    """The files git tracks or would track (untracked, not ignored), copied to dest."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("building the wheel from the tracked files needs git and a git checkout")
    files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=REPO).stdout.split("\0")  # fmt: skip
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """siaga-*.whl built by pip (isolated build, the declared build-system) from the tracked
    files."""
    base = tmp_path_factory.mktemp("wheel")
    src = _tracked_copy(base / "src")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", base / "dist", src],
        timeout=INSTALL_TIMEOUT_S, env=clean_env())  # fmt: skip
    (found,) = (base / "dist").glob("siaga-*.whl")
    return found


@pytest.fixture(scope="session")
def base_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """The edge box: `pip install siaga` and nothing else."""
    return make_venv(tmp_path_factory.mktemp("venv") / "base", wheel)


@pytest.fixture(scope="session")
def central_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """The central server: `pip install 'siaga[central]'`."""
    return make_venv(tmp_path_factory.mktemp("venv") / "central", f"{wheel}[central]")

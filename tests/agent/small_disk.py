"""A real small filesystem to fill up under an outbox: a tmpfs, else a loop-mounted ext4 image.

Why real: SQLite reports a full disk only when a write needs a new block (a WAL that already
has room keeps working), so a fake error would not show what the agent meets on a box. Both
ways need root (or CAP_SYS_ADMIN); without them the tests that use this skip and say why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(cmd[0]) is None:
        return subprocess.CompletedProcess(cmd, 127, "", f"{cmd[0]} not found")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


@contextlib.contextmanager
def small_disk(where: Path, *, size_kib: int) -> Iterator[Path]:
    """Mount a filesystem of about size_kib at where (created) for the with-block."""
    where.mkdir(parents=True, exist_ok=True)
    why = []
    tmpfs = _run("mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(where))
    if tmpfs.returncode == 0:
        try:
            yield where
        finally:
            _run("umount", "-l", str(where))
        return
    why.append(f"mount -t tmpfs: {tmpfs.stderr.strip() or tmpfs.returncode}")
    image = where.parent / f"{where.name}.img"
    if shutil.which("mkfs.ext4") is not None:
        with open(image, "wb") as f:
            f.truncate(max(size_kib, 1024) * 1024)  # ext4's own metadata needs ~1 MiB
        mkfs = _run("mkfs.ext4", "-q", "-F", str(image))
        loop = _run("mount", "-o", "loop", str(image), str(where)) if mkfs.returncode == 0 else mkfs
        if loop.returncode == 0:
            try:
                yield where
            finally:
                _run("umount", "-l", str(where))
                image.unlink(missing_ok=True)
            return
        why.append(f"loop-mounted ext4: {loop.stderr.strip() or loop.returncode}")
    else:
        why.append("mkfs.ext4 not installed")
    pytest.skip("no small filesystem to fill (needs root): " + "; ".join(why))


def fill(folder: Path) -> Path:
    """Write a filler file until the filesystem says it is full; returns the file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        block = b"\0" * 4096
        while True:
            os.write(fd, block)
    except OSError as exc:
        if exc.errno != 28:  # ENOSPC
            raise
    finally:
        os.close(fd)
    return filler


def read_only_remount(folder: Path, *, read_only: bool) -> bool:
    """Remount the small disk at folder read-only or read-write; False if not permitted."""
    opts = "remount,ro" if read_only else "remount,rw"
    return _run("mount", "-o", opts, str(folder)).returncode == 0

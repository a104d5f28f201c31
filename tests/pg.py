"""A real PostgreSQL for tests: the local cluster, a throwaway role and databases.

`PgServer.ensure()` starts the Debian cluster when it is down (as root, through
`pg_ctlcluster --skip-systemctl-redirect VERSION main start`), then creates a login role with a
random name and password (CREATEDB) through `runuser -u postgres -- psql`. Tests then create
and drop their own databases as that role over TCP on 127.0.0.1. Everything is dropped at the
end of the session. `SIAGA_TEST_PG_URL` (a role with CREATEDB) skips all of that and is used
as is, for CI services that run PostgreSQL elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

CMD_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 30.0
DROP_TRIES = 10  # one a second; see PgServer._drop
ENV_URL = "SIAGA_TEST_PG_URL"


class PgUnavailable(Exception):
    """PostgreSQL cannot be used here; the message says why (tests skip with it)."""


def installed_versions() -> list[str]:
    """Versions with a cluster configuration under /etc/postgresql, newest first."""
    root = Path("/etc/postgresql")
    found = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    return sorted((v for v in found if re.fullmatch(r"\d+(\.\d+)?", v)),
                  key=lambda v: float(v), reverse=True)  # fmt: skip


def start_command(version: str, cluster: str = "main") -> list[str]:
    """The command that starts the cluster (what the Makefile runs too)."""
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start"]


def _run(args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=CMD_TIMEOUT_S,
                          check=check)  # fmt: skip


def _cluster_port(version: str, cluster: str) -> tuple[int, bool]:
    """(port, online) of a cluster from pg_lsclusters."""
    out = _run(["pg_lsclusters", "--no-header"]).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] == version and f[1] == cluster:
            return int(f[2]), f[3].startswith("online")
    raise PgUnavailable(f"no PostgreSQL cluster {version}/{cluster} (pg_lsclusters)")


def _psql(port: int, sql: str) -> None:
    args = ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", "/var/run/postgresql", "-p", str(port), "-d", "postgres", "-c", sql]  # fmt: skip
    res = _run(args, check=False)
    if res.returncode != 0:
        raise PgUnavailable(f"psql as postgres failed: {res.stderr.strip()[:300]}")


@dataclass
class PgServer:
    """A role (with CREATEDB) on a running server, as an admin URL."""

    url: URL
    owned: bool  # we created the role: drop it at the end
    port: int = 5432

    @classmethod
    def ensure(cls) -> PgServer:
        """The env URL, or the local cluster started if needed with a fresh role."""
        if env := os.environ.get(ENV_URL):
            return cls(make_url(env).set(drivername="postgresql+psycopg"), owned=False)
        versions = installed_versions()
        if not versions or shutil.which("pg_lsclusters") is None:
            raise PgUnavailable("PostgreSQL is not installed (apt-get install postgresql), "
                                f"and {ENV_URL} is not set")  # fmt: skip
        if os.geteuid() != 0:
            raise PgUnavailable(f"not root: cannot start the cluster or act as postgres; "
                                f"set {ENV_URL}")  # fmt: skip
        version = versions[0]
        port, online = _cluster_port(version, "main")
        if not online:
            res = _run(start_command(version), check=False)
            if res.returncode != 0:
                raise PgUnavailable(f"{' '.join(start_command(version))} failed: "
                                    f"{res.stderr.strip()[:300]}")  # fmt: skip
        _wait_ready(port)
        role, password = f"siaga_test_{secrets.token_hex(4)}", secrets.token_hex(16)
        _psql(port, f"CREATE ROLE {role} LOGIN CREATEDB PASSWORD '{password}'")
        url = URL.create("postgresql+psycopg", username=role, password=password,
                         host="127.0.0.1", port=port, database="postgres")  # fmt: skip
        return cls(url, owned=True, port=port)

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh, empty database for one test; dropped afterwards. Yields its URL."""
        name = f"siaga_t_{secrets.token_hex(5)}"
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield self.url.set(database=name).render_as_string(hide_password=False)
        finally:
            try:
                self._drop(admin, name)
            finally:
                admin.dispose()

    def _drop(self, admin: Engine, name: str) -> None:
        """DROP … WITH (FORCE), retried: an autovacuum worker that just started on a database a
        load test filled belongs to the superuser, and the test role may not terminate it (it
        finishes or yields within seconds). Where this fixture started the server, the last
        try is the superuser's own."""
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        for attempt in range(DROP_TRIES):
            try:
                with admin.connect() as conn:
                    conn.execute(text(drop))
                return
            except ProgrammingError as exc:
                if "pg_signal_backend" not in str(exc) or attempt == DROP_TRIES - 1:
                    if self.owned and "pg_signal_backend" in str(exc):
                        _psql(self.port, drop)
                        return
                    raise
                time.sleep(1.0)

    def close(self) -> None:
        """Drop the role (its databases are dropped by database() already)."""
        if self.owned:
            with contextlib.suppress(PgUnavailable, subprocess.SubprocessError):
                _psql(self.port, f"DROP ROLE IF EXISTS {self.url.username}")


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        res = _run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)], check=False)
        if res.returncode == 0:
            return
        if time.monotonic() >= deadline:
            raise PgUnavailable(f"PostgreSQL on 127.0.0.1:{port} not ready after "
                                f"{READY_TIMEOUT_S:.0f} s")  # fmt: skip
        time.sleep(0.2)

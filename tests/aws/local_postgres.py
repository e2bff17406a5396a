"""A throwaway PostgreSQL cluster for host-script tests: its own directory, a Unix socket only (no
TCP port, so it never collides with the test services or another helper's test host)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PORT = 55432
"""Only names the socket file (``.s.PGSQL.55432``); nothing listens on TCP."""


@dataclass(frozen=True)
class LocalPostgres:
    socket_dir: str

    def url(self, user: str, password: str | None = None, database: str = "postgres") -> str:
        auth = f"{user}:{password}" if password is not None else user
        return f"postgresql://{auth}@/{database}?host={self.socket_dir}&port={PORT}"

    def psql(self, sql: str, user: str = "postgres", database: str = "postgres", password: str | None = None) -> str:
        result = subprocess.run(
            ["psql", self.url(user, password, database), "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise AssertionError(f"psql failed: {result.stderr}")
        return result.stdout.strip()


def available() -> str | None:
    """Why a local cluster cannot run here, or None."""
    for tool in ("initdb", "pg_ctl", "psql"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user"
    return None


def _as_owner(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def local_postgres(hba_method: str = "scram-sha-256") -> Iterator[LocalPostgres]:
    """Start a cluster; password authentication for every role except the ``postgres`` superuser."""
    base = Path(tempfile.mkdtemp(prefix="djangostack-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    base.chmod(0o755)
    initdb = shutil.which("initdb")
    pg_ctl = shutil.which("pg_ctl")
    assert initdb and pg_ctl
    try:
        subprocess.run(
            _as_owner([initdb, "-D", str(data), "-U", "postgres", "--auth-local=trust", "-E", "UTF8"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        (data / "pg_hba.conf").write_text(f"local all postgres trust\nlocal all all {hba_method}\n", encoding="utf-8")
        options = f"-c listen_addresses='' -c unix_socket_directories={sockets} -p {PORT}"
        subprocess.run(
            _as_owner([pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        server = LocalPostgres(str(sockets))
        deadline = time.monotonic() + 30
        while True:
            try:
                server.psql("SELECT 1")
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield server
    finally:
        subprocess.run(_as_owner([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def local_postgres_or_skip(hba_method: str = "scram-sha-256") -> Iterator[LocalPostgres]:
    """``local_postgres``, or the test skipped with the reason it cannot run here (``available``)."""
    import pytest

    reason = available()
    if reason:
        pytest.skip(reason)
    with local_postgres(hba_method) as server:
        yield server

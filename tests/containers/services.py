"""Throwaway PostgreSQL and TLS Redis for the container tests, shared with no other suite.

PostgreSQL: a private cluster (initdb) that listens on a Unix socket only, in a directory of its
own: the Cloud SQL volume of the recording is mapped onto that directory, as the Cloud SQL
connector's socket would be on Cloud Run. No TCP port, so nothing collides with the machine's
PostgreSQL (scripts/start-test-services.sh) or the test host's.

Redis: a redis-server with TLS only, on a free loopback port, with a server certificate issued at
test time by a test CA (openssl), like Memorystore's server CA. Its name matches no host the
clients use, so hostname checking would fail: the recording's URL verifies the CA and not the
name, and the tests prove exactly that.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")
SOCKET_PORT = 5432  # names the socket file (.s.PGSQL.5432); no TCP listener


def _pg_bin() -> Path:
    versions = sorted(int(p.name) for p in PG_ROOT.iterdir() if p.name.isdigit() and (p / "bin/initdb").exists())
    if not versions:
        raise RuntimeError(f"no PostgreSQL server under {PG_ROOT}: apt-get install postgresql")
    return PG_ROOT / str(versions[-1]) / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class Postgres:
    socket_dir: Path
    bin: Path

    def psql(self, database: str, sql: str) -> str:
        out = subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(self.bin / "psql"),
                "-h",
                str(self.socket_dir),
                "-p",
                str(SOCKET_PORT),
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtX",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"psql {database}: {sql}: {out.stderr}")
        return out.stdout.strip()

    def create_database(self, name: str, owner: str) -> None:
        self.psql("postgres", f'CREATE DATABASE "{name}" OWNER "{owner}"')

    def tables(self, database: str) -> list[str]:
        rows = self.psql(database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        return rows.splitlines()


@contextlib.contextmanager
def postgres(role: str, password: str) -> Iterator[Postgres]:
    """A private cluster; ``role`` logs in with ``password`` (scram) over the socket."""
    pg_bin = _pg_bin()
    top = Path(tempfile.mkdtemp(prefix="djangostack-ctest-pg-"))
    top.chmod(0o755)
    data, sockets = top / "data", top / "socket"
    for d in (data, sockets):
        d.mkdir()
        shutil.chown(d, "postgres", "postgres")
    sockets.chmod(0o755)
    as_pg = ["runuser", "-u", "postgres", "--"]
    try:
        subprocess.run(
            [
                *as_pg,
                str(pg_bin / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--auth-local=peer",
                "--auth-host=reject",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        (data / "pg_hba.conf").write_text("local all postgres peer\nlocal all all scram-sha-256\n", encoding="utf-8")
        options = f"-c listen_addresses='' -c unix_socket_directories={sockets} -c port={SOCKET_PORT} -c fsync=off"
        subprocess.run(
            [
                *as_pg,
                str(pg_bin / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(data / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        pg = Postgres(socket_dir=sockets, bin=pg_bin)
        pg.psql("postgres", f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
        yield pg
    finally:
        subprocess.run(
            [*as_pg, str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(top, ignore_errors=True)


@dataclasses.dataclass
class Redis:
    port: int
    password: str
    ca_pem: str  # the CA that issued the server's certificate
    other_ca_pem: str  # a CA that did not

    def client(self, ca_file: Path):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            ssl=True,
            ssl_ca_certs=str(ca_file),
            ssl_check_hostname=False,
            socket_timeout=5,
        )


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=120)


@contextlib.contextmanager
def tls_redis() -> Iterator[Redis]:
    top = Path(tempfile.mkdtemp(prefix="djangostack-ctest-redis-"))
    try:
        # Python 3.13 verifies strictly (VERIFY_X509_STRICT): the CA needs its key usage and the
        # server certificate its authority key id, as a real CA's certificates have.
        for ca in ("ca", "other-ca"):
            _openssl(
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN=djangostack test {ca}",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                cwd=top,
            )  # fmt: skip
        (top / "server.ext").write_text(
            "subjectAltName=DNS:memorystore.invalid\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n",
            encoding="utf-8",
        )
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=memorystore.invalid", cwd=top,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext", cwd=top,
        )  # fmt: skip
        password = secrets.token_hex(16)
        port = free_port()
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                "0",
                "--tls-port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--tls-cert-file",
                "server.pem",
                "--tls-key-file",
                "server.key",
                "--tls-ca-cert-file",
                "ca.pem",
                "--tls-auth-clients",
                "no",
                "--requirepass",
                password,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(top),
                "--logfile",
                str(top / "redis.log"),
            ],
            cwd=top,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        redis = Redis(port, password, (top / "ca.pem").read_text(), (top / "other-ca.pem").read_text())
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.client(top / "ca.pem").ping()
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (top / "redis.log").read_text() if (top / "redis.log").exists() else ""
                    raise RuntimeError(f"the TLS redis-server did not come up on port {port}: {log[-2000:]}") from None
                time.sleep(0.2)
        try:
            yield redis
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def environ_has_root() -> bool:
    return os.geteuid() == 0

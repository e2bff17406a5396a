"""The app survives RDS rotating the master password: it connects as its own role.

RDS rotates a managed master password every 7 days by default; hosts read secrets only at boot and
release. The app therefore never uses the master user: ``aws-release`` creates ``<user>_app`` with a
password Pulumi generated (in the app secret, never rotated by RDS) and makes it own the database.

Under mocks: the wiring. On this machine, against a real PostgreSQL: ``aws-release``'s own
``load_secrets`` and ``ensure_app_role`` (with a fake AWS CLI) set the role up, take over what the
master owned, are idempotent and safe to run concurrently, and the app keeps connecting, without a
single failed connection, while the master password is rotated.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from djangostack.offline.mocking import Recording
from djangostack.settings.loading import load_from_stack_file
from djangostack.targets.aws import host_integration as hosts
from tests.aws.conftest import SINGLE
from tests.aws.local_postgres import PORT, LocalPostgres, local_postgres_or_skip

APP_PASSWORD = "AppRolePassword0123456789abcdefghijklmno"


def _bundle(rec: Recording) -> dict[str, str]:
    (obj,) = [o for o in rec.of_type("aws:s3/bucketObjectv2:BucketObjectv2") if o.name.endswith("-host-files")]
    return {f["path"]: f["content"] for f in json.loads(obj.inputs["content"])["files"]}


# --------------------------------------------------------------------------------------------------
# Wiring (mocks)
# --------------------------------------------------------------------------------------------------


def test_the_app_secret_carries_a_generated_password_for_the_apps_own_role(single: Recording) -> None:
    version = single.one("aws:secretsmanager/secretVersion:SecretVersion")
    assert "secretString" in version.secret_inputs
    document = json.loads(version.inputs["secretString"])
    assert document["DATABASE_APP_PASSWORD"] == "mock-random-notes-staging-secrets-db-app-password"
    generated = single.one("random:index/randomPassword:RandomPassword", "notes-staging-secrets-db-app-password")
    assert generated.inputs["length"] == 40
    assert generated.inputs["special"] is False


def test_hosts_connect_as_the_app_role_and_set_it_up_with_the_master_credentials(single: Recording) -> None:
    files = _bundle(single)
    settings = load_from_stack_file(SINGLE)
    role = hosts.app_db_user(settings.database)
    assert role == f"{settings.database.user}_app"
    assert f"DB_APP_USER={role}" in files["/etc/notes/aws.env"]
    script = files["/usr/local/lib/notes/aws-release"]
    assert 'quote(os.environ["DB_APP_USER"], safe=""), quote(app_password, safe="")' in script
    assert not re.search(r"export\s+MASTER", script), "the master credentials are never exported"
    boot = script[script.index("    boot)") : script.index("    release)")]
    assert boot.index('"$BOOTSTRAP"') < boot.index("ensure_app_role") < boot.index("install_release")
    release = script[script.index("    release)") :]
    assert release.index("ensure_app_role") < release.index("install_release")


def test_the_role_name_fits_postgresql() -> None:
    settings = load_from_stack_file(SINGLE)
    long = settings.model_copy(update={"database": settings.database.model_copy(update={"user": "u" * 63})})
    assert len(hosts.app_db_user(long.database)) == 63


# --------------------------------------------------------------------------------------------------
# On this machine, against PostgreSQL
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    with local_postgres_or_skip() as server:
        # What RDS makes: a master that is not a superuser, may create roles, owns the database.
        server.psql("CREATE ROLE notes_master LOGIN CREATEROLE CREATEDB PASSWORD 'master-one'")
        server.psql("CREATE DATABASE notes OWNER notes_master")
        # A stack deployed before the app role existed: the master owns the schema's objects.
        server.psql(
            "CREATE TABLE notes_note (id serial PRIMARY KEY, body text);"
            "INSERT INTO notes_note (body) VALUES ('kept');"
            "CREATE VIEW notes_bodies AS SELECT body FROM notes_note;",
            user="notes_master",
            database="notes",
            password="master-one",
        )
        yield server


def _functions(name: str, script: str) -> str:
    match = re.search(rf"^{name}\(\) \{{\n.*?^\}}$", script, re.S | re.M)
    assert match, f"aws-release has no {name} function"
    return match.group(0)


def _run_aws_release_steps(tmp_path: Path, postgres: LocalPostgres, master_password: str) -> dict[str, str]:
    """aws-release's load_secrets + ensure_app_role, with a fake CLI serving the two secrets."""
    settings = load_from_stack_file(SINGLE)
    script = hosts.aws_release_script(settings.app.name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    app_json = json.dumps({"SECRET_KEY": "k", "DATABASE_APP_PASSWORD": APP_PASSWORD})
    db_json = json.dumps({"username": "notes_master", "password": master_password})
    (bin_dir / "aws").write_text(
        f"#!/bin/bash\ncase \"$*\" in *arn:app*) echo '{app_json}' ;; *arn:db*) echo '{db_json}' ;; *) exit 2 ;; esac\n"
    )
    (bin_dir / "aws").chmod(0o755)
    harness = "\n".join(
        [
            "set -euo pipefail",
            'log() { echo "$*"; }',
            'die() { echo "ERROR: $*" >&2; exit 1; }',
            _functions("load_secrets", script),
            _functions("ensure_app_role", script),
            "load_secrets",
            "ensure_app_role",
            'echo "DATABASE_URL=$DATABASE_URL"',
            'env | grep -c "^MASTER_" || true',
        ]
    )
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "APP_SECRET_ARN": "arn:app",
        "DB_SECRET_ARN": "arn:db",
        "DB_HOST": postgres.socket_dir,
        "DB_PORT": str(PORT),
        "DB_NAME": "notes",
        "DB_SSLMODE": "disable",
        "DB_APP_USER": "notes_app",
    }
    result = subprocess.run(["bash", "-c", harness], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    return {"url": lines[-2].removeprefix("DATABASE_URL="), "exported_master": lines[-1]}


def _app_query(postgres: LocalPostgres, sql: str) -> str:
    result = subprocess.run(
        ["psql", postgres.url("notes_app", APP_PASSWORD, "notes"), "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        raise AssertionError(result.stderr)
    return result.stdout.strip()


def test_the_release_step_sets_up_the_app_role_and_hands_it_the_database(
    tmp_path: Path, postgres: LocalPostgres
) -> None:
    out = _run_aws_release_steps(tmp_path, postgres, "master-one")
    assert out["url"].startswith(f"postgres://notes_app:{APP_PASSWORD}@")
    assert out["exported_master"] == "0", "the master credentials leaked into the environment"
    owners = postgres.psql(
        "SELECT string_agg(c.relname || '=' || pg_get_userbyid(c.relowner), ',' ORDER BY c.relname) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'S')",
        database="notes",
    )
    assert owners == "notes_bodies=notes_app,notes_note=notes_app,notes_note_id_seq=notes_app"
    assert postgres.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'notes'") == "notes_app"
    stored = postgres.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'notes_app'")
    assert stored.startswith("SCRAM-SHA-256$4096:"), "only a verifier reaches the server"
    # The app role can do what migrations do, and the data is still there.
    assert _app_query(postgres, "SELECT body FROM notes_note") == "kept"
    _app_query(postgres, "ALTER TABLE notes_note ADD COLUMN IF NOT EXISTS title text")
    _app_query(postgres, "CREATE TABLE IF NOT EXISTS notes_tag (id serial PRIMARY KEY)")
    assert postgres.psql("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = 'notes_app'") == "f"


def test_setting_up_the_role_is_idempotent_and_safe_on_concurrent_boots(
    tmp_path: Path, postgres: LocalPostgres
) -> None:
    errors: list[BaseException] = []

    def boot(index: int) -> None:
        try:
            directory = tmp_path / f"host{index}"
            directory.mkdir()
            _run_aws_release_steps(directory, postgres, "master-one")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=boot, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert _app_query(postgres, "SELECT count(*) FROM notes_note") == "1"


def test_the_app_keeps_connecting_while_the_master_password_rotates(tmp_path: Path, postgres: LocalPostgres) -> None:
    _run_aws_release_steps(tmp_path, postgres, "master-one")
    failures: list[str] = []
    successes = 0
    stop = threading.Event()

    def app_requests() -> None:
        nonlocal successes
        while not stop.is_set():
            try:
                # A new connection per request: the worst case for a changed password.
                assert _app_query(postgres, "SELECT count(*) FROM notes_note") == "1"
                successes += 1
            except AssertionError as error:
                failures.append(str(error))

    thread = threading.Thread(target=app_requests)
    thread.start()
    try:
        time.sleep(1)
        # What RDS does on rotation: the master password changes, the old one stops working.
        postgres.psql("ALTER ROLE notes_master PASSWORD 'master-two'")
        time.sleep(1)
        postgres.psql("ALTER ROLE notes_master PASSWORD 'master-three'")
        time.sleep(1)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not failures, failures[:3]
    assert successes >= 5
    old = subprocess.run(
        ["psql", postgres.url("notes_master", "master-one", "notes"), "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert old.returncode != 0, "the rotation did not take effect"
    # The next release reads the rotated master password and leaves the app's password alone.
    (tmp_path / "next").mkdir()
    out = _run_aws_release_steps(tmp_path / "next", postgres, "master-three")
    assert f"notes_app:{APP_PASSWORD}@" in out["url"]
    assert _app_query(postgres, "SELECT 1") == "1"


@pytest.mark.parametrize(
    "verifier",
    ["SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy' ; DROP ROLE x; --", "md5abc", "SCRAM-SHA-256$4096:a$b:c\nx"],
)
def test_a_malformed_verifier_never_reaches_psql(tmp_path: Path, verifier: str) -> None:
    """The verifier travels as a quoted ``\\set`` on psql's stdin (psql 14 has no ``\\getenv``): a
    value that is not a SCRAM verifier's words is refused before psql starts."""
    script = hosts.aws_release_script(load_from_stack_file(SINGLE).app.name)
    called = tmp_path / "psql-called"
    harness = "\n".join(
        [
            "set -euo pipefail",
            'die() { echo "ERROR: $*" >&2; exit 1; }',
            f"psql() {{ touch {called}; }}",
            _functions("ensure_app_role", script),
            "ensure_app_role",
        ]
    )
    env = {"PATH": os.environ["PATH"], "DB_APP_VERIFIER": verifier, "DB_APP_USER": "notes_app"}
    for name in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_SSLMODE", "MASTER_USER", "MASTER_PASSWORD"):
        env[name] = "x"
    result = subprocess.run(["bash", "-c", harness], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "password verifier is malformed" in result.stderr, result.stderr
    assert not called.exists()


def test_the_role_script_needs_no_psql_newer_than_ubuntu_22_04s() -> None:
    """psql 14 (Ubuntu 22.04, an aws-ec2 host OS) refuses ``\\getenv`` (psql 15+): every boot died
    with "invalid command \\getenv" there. The verifier comes in a ``\\set`` instead."""
    assert "\\getenv" not in hosts.APP_ROLE_SQL
    script = hosts.aws_release_script(load_from_stack_file(SINGLE).app.name)
    assert "printf '%s\\n' \"\\\\set app_verifier '$DB_APP_VERIFIER'\"" in script

"""Every app on a host has its own PostgreSQL cluster and its own Redis instance.

The old layout shared the host's one PostgreSQL cluster (``main``, a per-app ``conf.d`` drop-in
setting ``port``) and the host's one Redis (an ``include`` of the app's file, with ``port`` and
``requirepass``): with two apps on a host the last drop-in or include won, so one app's port or
password broke the other. These tests read the rendered files and run the parts of the bootstrap
that decide names and move an old-layout app, with the system commands stubbed.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

from djangostack.host import render
from djangostack.host.context import HostContext
from tests.host.conftest import dev_context


def other_app(ctx: HostContext) -> HostContext:
    return dataclasses.replace(ctx, app_name="shop-two", db_port=5533, redis_port=6480)


def test_two_apps_get_separate_clusters_instances_and_files(dev: HostContext) -> None:
    two = other_app(dev)
    assert (dev.pg_cluster, two.pg_cluster) == ("notes", "shop_two")
    assert (dev.redis_unit, two.redis_unit) == ("redis-server@notes.service", "redis-server@shop-two.service")
    assert len({dev.redis_conf_file, two.redis_conf_file}) == 2
    assert len({dev.redis_data_dir, two.redis_data_dir}) == 2
    for ctx in (dev, two):
        script = render.render_bootstrap_script(ctx)
        assert f"PG_CLUSTER={ctx.pg_cluster}\n" in script
        # Nothing of the new layout writes into the host's shared main cluster or default Redis.
        assert "/main/conf.d/50-$APP.conf\n" not in script
        assert not re.search(r"^\s*systemctl (enable|start|restart)[^\n]* redis-server(\s|$)", script, re.M)
        assert not re.search(r">>\s*/etc/redis/redis\.conf", script)
        assert f"systemctl enable --quiet {ctx.redis_unit}\n" in script


def test_cluster_names_carry_no_dash(dev: HostContext) -> None:
    """postgresql@<version>-<cluster> reads a dash in the cluster name as a path separator."""
    ctx = dataclasses.replace(dev, app_name="my-shop-2")
    assert ctx.pg_cluster == "my_shop_2"
    assert "pg_createcluster --port" in render.render_bootstrap_script(ctx)


def test_the_redis_instance_configuration_is_complete(dev: HostContext) -> None:
    conf = render.render_redis_conf(dev)
    settings = dict(line.split(" ", 1) for line in conf.splitlines() if line and not line.startswith("#"))
    assert settings["port"] == str(dev.redis_port)
    assert settings["bind"] == "127.0.0.1"
    assert settings["protected-mode"] == "yes"
    assert settings["dir"] == "/var/lib/redis/notes"
    # The template unit's PIDFile= and RuntimeDirectory=redis-%i.
    assert settings["pidfile"] == "/run/redis-notes/redis-server.pid"
    # The unit may write only under /var/log/redis; the package's logrotate covers redis-server*.log.
    assert settings["logfile"] == "/var/log/redis/redis-server-notes.log"
    assert settings["appendonly"] == "yes"
    assert settings["maxmemory-policy"] == "noeviction"
    assert "include" not in settings and "requirepass" not in settings, "the password is added on the host"


def test_the_postgresql_settings_are_the_clusters_own(dev: HostContext) -> None:
    conf = render.render_postgresql_conf(dev)
    assert f"port = {dev.db_port}\n" in conf
    assert "listen_addresses = 'localhost'\n" in conf
    assert "password_encryption = 'scram-sha-256'\n" in conf
    script = render.render_bootstrap_script(dev)
    assert '"$pg_etc/conf.d/50-djangostack.conf"' in script
    assert "--auth-host=scram-sha-256 --auth-local=peer" in script


def _block(script: str, start: str, end: str) -> str:
    first = script.index(start)
    return script[first : script.index(end, first)]


STUBS = (
    "systemctl",
    "runuser",
    "pg_createcluster",
    "pg_dropcluster",
    "pg_lsclusters",
    "pg_restore",
    "pg_isready",
    "install",
)


def _stubbed(tmp_path: Path, outputs: dict[str, str] | None = None) -> tuple[Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for name in STUBS:
        body = (outputs or {}).get(name, "")
        (bin_dir / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n{body}\nexit 0\n')
        (bin_dir / name).chmod(0o755)
    return bin_dir, log


def test_the_cluster_version_is_the_existing_clusters_else_the_newest_server(dev: HostContext, tmp_path: Path) -> None:
    script = render.render_bootstrap_script(dev)
    block = _block(script, "PG_CLUSTER=", "pg_app()")
    root = tmp_path / "root"
    for version in ("13", "15", "16"):
        (root / f"usr/lib/postgresql/{version}/bin").mkdir(parents=True)
        (root / f"usr/lib/postgresql/{version}/bin/initdb").write_text("")
    sandboxed = block.replace("/etc/postgresql", f"{root}/etc/postgresql").replace(
        "/usr/lib/postgresql", f"{root}/usr/lib/postgresql"
    )
    probe = '\nprintf \'%s %s\\n\' "$pg_version" "$pg_unit"\n'

    def run() -> str:
        result = subprocess.run(
            ["bash", "-c", "set -euo pipefail; die() { echo DIE; exit 1; }\n" + sandboxed + probe],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    assert run() == "16 postgresql@16-notes.service", "a new cluster takes the newest installed server"
    (root / "etc/postgresql/13/notes").mkdir(parents=True)
    (root / "etc/postgresql/13/notes/postgresql.conf").write_text("port = 5433\n")
    assert run() == "13 postgresql@13-notes.service", "an existing cluster keeps its version"


def _run_move(
    dev: HostContext, tmp_path: Path, runuser: str
) -> tuple[subprocess.CompletedProcess[str], Path, Path, Path]:
    """The bootstrap's move from the old layout with PostgreSQL stubbed (``runuser`` answers the
    queries): the result, the old drop-in, the backups folder and the log of stubbed calls."""
    script = render.render_bootstrap_script(dev)
    block = _block(script, "pg_app()", 'if [[ ! -f "$pg_etc/postgresql.conf" ]]; then\n    pg_create_cluster C.UTF-8')
    root = tmp_path / "root"
    dropin = root / "etc/postgresql/15/main/conf.d/50-notes.conf"
    dropin.parent.mkdir(parents=True)
    dropin.write_text("port = 5433\n")
    backups = root / dev.backups_dir.lstrip("/")
    backups.mkdir(parents=True)
    bin_dir, log = _stubbed(tmp_path, {"runuser": runuser})
    sandboxed = block.replace("/etc/postgresql", f"{root}/etc/postgresql").replace(dev.backups_dir, str(backups))
    prelude = (
        "set -euo pipefail\nAPP=notes\nPG_CLUSTER=notes\npg_version=15\npg_unit=postgresql@15-notes.service\n"
        f"pg_etc={root}/etc/postgresql/15/notes\ndb_password=pw\n"
        'log() { echo "LOG $*"; }\ndie() { echo "DIE $*"; exit 1; }\n'
    )
    result = subprocess.run(
        ["bash", "-c", prelude + sandboxed],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    return result, dropin, backups, log


def test_an_old_layout_database_is_moved_checked_and_the_copy_in_main_left(dev: HostContext, tmp_path: Path) -> None:
    """The move with PostgreSQL stubbed: the order of the steps, the dump into the backups, the
    drop-in renamed while moving and removed at the end, main restarted before the new cluster."""
    # runuser: the database's locale, the same table counts on both sides, a dump on stdout.
    runuser = (
        'case "$*" in\n'
        '  *datcollate*) echo "en_US.UTF-8 en_US.UTF-8" ;;\n'
        "  *pg_dump*) echo DUMPDATA ;;\n"
        '  *-At\\ -v\\ ON_ERROR_STOP=1\\ -d\\ app*) echo "public.notes_note 3" ;;\n'
        "esac"
    )
    result, dropin, backups, log = _run_move(dev, tmp_path, runuser)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = log.read_text()
    assert not dropin.exists() and not dropin.with_suffix(".conf.moving").exists()
    dumps = list(backups.glob("move-from-main-*.dump"))
    assert len(dumps) == 1 and dumps[0].read_text() == "DUMPDATA\n"
    assert dumps[0].stat().st_mode & 0o077 == 0, "the dump is root-private"
    order = [
        "systemctl start postgresql@15-main",
        "runuser -u postgres -- pg_dump --cluster 15/main -Fc -d app",
        "systemctl restart postgresql@15-main",
        "pg_createcluster --port 5433 --encoding UTF8 --lc-collate en_US.UTF-8 --lc-ctype en_US.UTF-8",
        "systemctl restart postgresql@15-notes.service",
        "runuser -u postgres -- pg_restore --cluster 15/notes --exit-on-error --single-transaction -d app",
    ]
    positions = [calls.find(step) for step in order]
    assert -1 not in positions and positions == sorted(positions), calls
    assert "pg_dropcluster" not in calls, calls
    assert "row counts checked" in result.stdout and "left untouched" in result.stdout, result.stdout


def test_a_move_whose_row_counts_differ_puts_the_old_layout_back(dev: HostContext, tmp_path: Path) -> None:
    runuser = (
        'case "$*" in\n'
        '  *datcollate*) echo "C.UTF-8 C.UTF-8" ;;\n'
        "  *pg_dump*) echo DUMPDATA ;;\n"
        '  *--cluster\\ 15/main\\ -X\\ -At\\ -v*) echo "public.notes_note 3" ;;\n'
        '  *-At\\ -v\\ ON_ERROR_STOP=1\\ -d\\ app*) echo "public.notes_note 2" ;;\n'
        "esac"
    )
    result, dropin, _backups, log = _run_move(dev, tmp_path, runuser)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "DIE the restored tables or row counts differ" in result.stdout, result.stdout
    assert dropin.read_text() == "port = 5433\n", "the drop-in is back: the app serves from main again"
    calls = log.read_text()
    assert "pg_dropcluster --stop 15 notes" in calls
    assert calls.rfind("systemctl restart postgresql@15-main") > calls.find("pg_dropcluster"), calls


@pytest.mark.parametrize("ctx", [dev_context(), other_app(dev_context())], ids=["notes", "shop-two"])
def test_a_rename_carries_the_cluster_and_the_redis_data(ctx: HostContext) -> None:
    script = render.render_bootstrap_script(dataclasses.replace(ctx, stack_key="djangostack-dev"))
    block = _block(script, "# Its own cluster becomes this app's", "    systemctl daemon-reload\n    for old_secret")
    assert f'pg_renamecluster "$old_version" "$previous_cluster" {ctx.pg_cluster}' in block
    assert f'mv "/var/lib/redis/$previous_app" {ctx.redis_data_dir}' in block
    assert 'systemctl disable --now --quiet "redis-server@$previous_app.service"' in block


@pytest.mark.parametrize(
    ("databases", "start", "expected"),
    [(3, "auto", "parked"), (4, "auto", "refused"), (4, "manual", "ignored")],
    ids=["default-main-without-databases", "main-with-databases", "stopped-cluster"],
)
def test_another_cluster_on_the_apps_port(
    dev: HostContext, tmp_path: Path, databases: int, start: str, expected: str
) -> None:
    """The distribution's unused main cluster on the app's port (5432 is the default
    database.port) is stopped and kept from starting; a cluster with databases is an error."""
    script = render.render_bootstrap_script(dev)
    block = _block(script, "pg_port_is_free() {", "\n}\n") + "\n}\npg_port_is_free\necho FREE\n"
    root = tmp_path / "root"
    data = root / "var/lib/postgresql/15/main"
    for oid in range(databases):
        (data / "base" / str(oid + 1)).mkdir(parents=True)
    etc = root / "etc/postgresql/15/main"
    etc.mkdir(parents=True)
    (etc / "start.conf").write_text(f"{start}\n")
    row = f"15  main    {dev.db_port} online postgres {data} /var/log/postgresql/postgresql-15-main.log"
    bin_dir, log = _stubbed(tmp_path, {"pg_lsclusters": f"echo '{row}'"})
    sandboxed = block.replace("/etc/postgresql", f"{root}/etc/postgresql")
    result = subprocess.run(
        [
            "bash",
            "-c",
            'set -euo pipefail\nPG_CLUSTER=notes\nlog() { echo "LOG $*"; }\ndie() { echo "DIE $*"; exit 1; }\n'
            + sandboxed,
        ],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    calls = log.read_text()
    if expected == "parked":
        assert "FREE" in result.stdout and (etc / "start.conf").read_text() == "manual\n", result.stdout
        assert "systemctl stop postgresql@15-main" in calls
    elif expected == "refused":
        assert result.returncode == 1 and f"DIE database.port {dev.db_port} is the port of" in result.stdout
        assert (etc / "start.conf").read_text() == "auto\n" and "systemctl stop" not in calls
    else:
        assert "FREE" in result.stdout and "systemctl" not in calls


@pytest.mark.parametrize("port", [6379, 6380])
def test_the_hosts_default_redis_on_the_apps_port_is_stopped(tmp_path: Path, port: int) -> None:
    ctx = dataclasses.replace(dev_context(), redis_port=6379)
    script = render.render_bootstrap_script(ctx)
    block = _block(script, "redis_default_port=", "install -d -o redis")
    conf = tmp_path / "redis.conf"
    conf.write_text(f"bind 127.0.0.1 -::1\n# include /etc/redis/local.conf\nport {port}\n")
    bin_dir, log = _stubbed(tmp_path)
    result = subprocess.run(
        [
            "bash",
            "-c",
            'set -euo pipefail\nlog() { echo "LOG $*"; }\n' + block.replace("/etc/redis/redis.conf", str(conf)),
        ],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    stopped = log.exists() and "systemctl disable --now --quiet redis-server" in log.read_text()
    assert stopped == (port == 6379), result.stdout

"""``pulumi destroy`` takes away everything the bootstrap added to the host (issue 16, problem 10).

``bootstrap_writes`` lists what the rendered bootstrap writes: every rendered file, every directory,
and the bootstrap's own writes (the env file, TLS pairs, secrets, PostgreSQL and Redis settings, the
SSH hardening drop-in, the firewall's web ports, the stack marker, the app's user). A guard test
reads the rendered bootstrap's write commands and fails on any target this list does not know, so a
new write cannot slip past the uninstall. The uninstall script then runs for real in a sandbox: the
host's paths are created under a temporary root, the script's absolute paths point there, and the
system commands (systemctl, ufw, userdel, ...) are stubs that log their arguments.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

from djangostack.host import render
from djangostack.host.context import HostContext
from djangostack.host.django_host import certbot_renewal_conf, sshd_hardening_path, uninstall_script
from tests.host.conftest import dev_context

STACK_KEY = "djangostack-dev"
PG_VERSION = "15"


def pg_etc(ctx: HostContext) -> str:
    """The app's own cluster's configuration (pg_createcluster, in the bootstrap)."""
    return f"/etc/postgresql/{PG_VERSION}/{ctx.pg_cluster}"


def pg_data(ctx: HostContext) -> str:
    return f"/var/lib/postgresql/{PG_VERSION}/{ctx.pg_cluster}"


@pytest.fixture
def ctx() -> HostContext:
    """The dev stack with every optional part of the bootstrap on: firewall (ufw, fail2ban, SSH
    hardening), Let's Encrypt, local PostgreSQL and Redis, Celery worker and beat, a stack marker."""
    return dataclasses.replace(
        dev_context(),
        firewall=True,
        tls_mode="letsencrypt",
        letsencrypt_email="ops@example.com",
        stack_key=STACK_KEY,
    )


def bootstrap_writes(ctx: HostContext) -> dict[str, str]:
    """Every path the bootstrap creates, with what it is ("file", "dir" or "line" for a line it
    adds to a shared file)."""
    writes: dict[str, str] = {path: "file" for path in render.render_all(ctx)}
    writes |= {d.path: "dir" for d in render.host_directories(ctx)}
    writes |= {
        ctx.nginx_site_link: "file",
        ctx.env_file: "file",
        ctx.cert_file: "file",
        ctx.key_file: "file",
        ctx.reject_cert_file: "file",
        ctx.reject_key_file: "file",
        f"{ctx.secrets_dir}/SECRET_KEY": "file",
        f"{ctx.secrets_dir}/DB_PASSWORD": "file",
        f"{ctx.secrets_dir}/REDIS_PASSWORD": "file",
        # The app's own PostgreSQL cluster (pg_createcluster) with its settings and start.conf.
        f"{pg_etc(ctx)}/postgresql.conf": "file",
        f"{pg_etc(ctx)}/start.conf": "file",
        f"{pg_etc(ctx)}/conf.d/{ctx.pg_conf_name}": "file",
        pg_data(ctx): "dir",
        # The app's own Redis instance: its configuration, data directory and log.
        ctx.redis_conf_file: "file",
        ctx.redis_data_dir: "dir",
        ctx.redis_log_file: "file",
        # Let's Encrypt's renewal settings of the certificate (certbot writes them, with the hook).
        certbot_renewal_conf(ctx): "file",
        sshd_hardening_path(ctx): "file",
        f"/var/lib/djangostack/stacks/{STACK_KEY}": "file",
        # The release script's own: the live link, the releases' history, the lock, the inbox.
        ctx.current_link: "file",
        # Gunicorn's colors: the release each one runs, the link Nginx connects to (also written by
        # the bootstrap on a host that ran the single Gunicorn of before the colors).
        f"{ctx.colors_dir}/blue": "file",
        f"{ctx.colors_dir}/green": "file",
        ctx.socket_path: "file",
        f"{ctx.base_dir}/.release-history": "file",
        ctx.lock_file: "file",
        f"/var/tmp/{ctx.app_name}-artifacts": "dir",
        ctx.state_dir: "dir",
    }
    return writes


# Kept with app.removeDataOnDestroy false: the data, and what serves it or names its owner.
def kept_data(ctx: HostContext) -> set[str]:
    return {
        ctx.base_dir,
        ctx.shared_dir,
        ctx.media_dir,
        ctx.backups_dir,
        ctx.logs_dir,
        ctx.config_dir,
        ctx.secrets_dir,
        f"{ctx.secrets_dir}/SECRET_KEY",
        f"{ctx.secrets_dir}/DB_PASSWORD",
        f"{ctx.secrets_dir}/REDIS_PASSWORD",
        f"{pg_etc(ctx)}/postgresql.conf",
        f"{pg_etc(ctx)}/start.conf",
        f"{pg_etc(ctx)}/conf.d/{ctx.pg_conf_name}",
        pg_data(ctx),
        ctx.redis_data_dir,
        ctx.redis_log_file,
        certbot_renewal_conf(ctx),
        f"/var/lib/djangostack/stacks/{STACK_KEY}",
    }


# Written by the bootstrap, deliberately left: host-wide settings shared with every other use of
# the machine (the time zone) and the package installation guard, which removes itself.
NOT_THE_APPS = {"/etc/localtime", "/etc/timezone", "/usr/sbin/policy-rc.d"}

_WRITE_TARGETS = [
    re.compile(r"^\s*install_file (\S+)", re.M),
    re.compile(r"^\s*ensure_dir (\S+)", re.M),
    re.compile(r"^\s*install -o \S+ -g \S+ -m \S+ \S+ (\S+)$", re.M),
    re.compile(r"^\s*install -d -m \S+ (.+)$", re.M),
    re.compile(r"^\s*install -d -o \S+ -g \S+ -m \S+ (\S+)$", re.M),
    re.compile(r"\b(pg_createcluster|pg_renamecluster)\b"),
    re.compile(r"\bln -sfn \S+ (\S+)"),
    re.compile(r"\bmv -f (?!\S*\.tmp\b)\S+ (\S+)"),
    re.compile(r"(?<![0-9&])>>? ?(\"?[/$][^\s;)]+)"),
    re.compile(r"\b(useradd|groupadd)\b"),
    re.compile(r"\bufw (allow|default|--force)"),
]


def test_every_write_of_the_bootstrap_is_known(ctx: HostContext) -> None:
    rendered = render.render_bootstrap_script(ctx)
    script = "\n".join(line for line in rendered.splitlines() if not line.lstrip().startswith("#"))
    known = set(bootstrap_writes(ctx)) | NOT_THE_APPS
    # The bootstrap's variables and function arguments, by what they stand for.
    aliases = {
        '"$dest"': "installed staged files (render_all)",
        '"$pg_etc/conf.d"': f"{pg_etc(ctx)}/conf.d",
        f'"$pg_etc/conf.d/{ctx.pg_conf_name}"': f"{pg_etc(ctx)}/conf.d/{ctx.pg_conf_name}",
        '"$pg_etc/start.conf"': f"{pg_etc(ctx)}/start.conf",
        "pg_createcluster": f"the app's cluster {pg_etc(ctx)} and {pg_data(ctx)}",
        "pg_renamecluster": "a renamed app's cluster becomes this app's",
        '"$pg_move_dump"': f"a dump in {ctx.backups_dir} (moving an old-layout database)",
        '"$pg_legacy"': "the old layout's drop-in in main, put back after a failed move",
        '"$pg_legacy.moving"': "the old layout's drop-in in main, set aside while moving",
        '"${old_conf%/*}/50-$APP.conf"': "a renamed old-layout app's drop-in in main, moved below",
        '"$redis_conf"': ctx.redis_conf_file,
        # The host's main cluster, kept from starting on the app's port: the host's, deliberately left.
        '"/etc/postgresql/$version/main/start.conf"': "main's start.conf (manual: the app's port)",
        '"/etc/postgresql/$pg_legacy_version/main/start.conf"': "main's start.conf (the moved app's port)",
        '"$stack_marker"': f"/var/lib/djangostack/stacks/{STACK_KEY}",
        '"$file.tmp"': "a secret",
        '"$file"': "a secret",
        '"$SECRETS/${old_secret##*/}"': "a secret carried over from a renamed app",
        '"$2"': "a TLS key (self_signed)",
        '"$1"': "a TLS certificate (self_signed)",
        '"$redis_new"': "a temporary file",
        '"$env_new"': "a temporary file",
        '"$1.tmp"': "a temporary file",
        '"$2.tmp"': "a temporary file",
        "/etc/nginx/sites-enabled/default": "removed, not written",
        "/var/lib/djangostack": "the stack marker's directory",
        "/var/lib/djangostack/stacks": "the stack marker's directory",
        "/etc/ssh/sshd_config.d/50-$APP-hardening.conf": sshd_hardening_path(ctx),
        "useradd": "the app's user",
        "groupadd": "the app's group",
        "allow": "ufw rules",
        "default": "ufw defaults",
        "--force": "ufw on",
        "/dev/null": "nothing",
        "&2": "nothing",
    }
    unknown = []
    for pattern in _WRITE_TARGETS:
        for match in pattern.finditer(script):
            for target in match.group(1).split():
                target = target.rstrip(";")
                if target not in known and target not in aliases and not target.startswith("{{"):
                    unknown.append(f"{target}  (in: {match.group(0).strip()})")
    assert not unknown, "the bootstrap writes something the destroy test does not know:\n" + "\n".join(unknown)
    assert sshd_hardening_path(ctx).replace(ctx.app_name, "$APP") in rendered
    assert f"PG_CLUSTER={ctx.pg_cluster}\n" in rendered
    assert 'pg_etc="/etc/postgresql/$pg_version/$PG_CLUSTER"' in rendered


STUBS = ("systemctl", "nginx", "sshd", "ufw", "runuser", "userdel", "groupdel", "id", "getent", "certbot")
RENEWAL = "[renewalparams]\nauthenticator = webroot\nrenew_hook = {hook}\nserver = https://acme-v02.api.letsencrypt.org/directory\n"


def run_uninstall(ctx: HostContext, tmp_path: Path, *, remove_data: bool) -> tuple[Path, str]:
    """Create everything the bootstrap writes under a sandbox root, run the uninstall there."""
    root = tmp_path / "root"
    for path, kind in bootstrap_writes(ctx).items():
        target = root / path.lstrip("/")
        if kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            if kind == "file":
                target.write_text("written by bootstrap\n")
    (root / "var/www/certbot").mkdir(parents=True, exist_ok=True)
    # The hook's path as the sandboxed script names it (its absolute paths point into the root).
    (root / certbot_renewal_conf(ctx).lstrip("/")).write_text(RENEWAL.format(hook=f"{root}{ctx.certbot_hook}"))
    (root / f"{pg_etc(ctx)}/start.conf".lstrip("/")).write_text("auto\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for name in STUBS:
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\nexit 0\n')
        stub.chmod(0o755)
    # pg_dropcluster [--stop] <version> <cluster>: removes the cluster's configuration and data.
    (bin_dir / "pg_dropcluster").write_text(
        f'#!/bin/bash\necho "pg_dropcluster $*" >> {log}\n'
        f'rm -rf "{root}/etc/postgresql/${{@: -2:1}}/${{@: -1}}" "{root}/var/lib/postgresql/${{@: -2:1}}/${{@: -1}}"\n'
    )
    (bin_dir / "pg_dropcluster").chmod(0o755)
    # certbot delete --cert-name <name>: removes the lineage and its renewal settings.
    (bin_dir / "certbot").write_text(
        f'#!/bin/bash\necho "certbot $*" >> {log}\n'
        f'[[ $1 != delete ]] || rm -f "{root}/etc/letsencrypt/renewal/${{@: -1}}.conf"\n'
    )
    (bin_dir / "certbot").chmod(0o755)
    script = uninstall_script(ctx, remove_data=remove_data)
    # Every absolute path of the host (after a space, a quote or a sed address) into the sandbox.
    sandboxed = re.sub(r"(?<=[\s'\"#=])/(?=(etc|srv|usr|var|run)/)", f"{root}/", script)
    result = subprocess.run(
        ["bash", "-c", sandboxed],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return root, log.read_text() if log.exists() else ""


def left_behind(ctx: HostContext, root: Path) -> list[str]:
    return sorted(p for p, kind in bootstrap_writes(ctx).items() if kind != "line" and (root / p.lstrip("/")).exists())


def test_destroy_with_remove_data_leaves_nothing_the_bootstrap_added(ctx: HostContext, tmp_path: Path) -> None:
    root, calls = run_uninstall(ctx, tmp_path, remove_data=True)
    assert left_behind(ctx, root) == []
    assert not (root / "var/www/certbot").exists(), "the ACME webroot is left although no app uses it"
    for call in (
        f"ufw delete allow {ctx.http_port}/tcp",
        f"ufw delete allow {ctx.https_port}/tcp",
        f"systemctl disable --now {ctx.redis_unit}",
        "systemctl try-reload-or-restart fail2ban",
        f"pg_dropcluster --stop {PG_VERSION} {ctx.pg_cluster}",
        f"certbot delete --non-interactive --cert-name {ctx.app_name}",
        f"userdel {ctx.user}",
        f"groupdel {ctx.group}",
    ):
        assert call in calls, f"{call!r} not run:\n{calls}"
    assert f"ufw delete allow {ctx.ssh_port}/tcp" not in calls, "the SSH port must stay open"
    disabled = calls.split("systemctl disable --now", 1)[1].splitlines()[0].split()
    for path in render.render_all(ctx):
        if path.startswith("/etc/systemd/system/"):
            for unit in render.instance_units(ctx, path.rsplit("/", 1)[1]):
                assert unit in disabled, (unit, disabled)
    assert f"{ctx.gunicorn_unit}@blue.service" in disabled and f"{ctx.gunicorn_unit}@green.socket" in disabled
    legacy = render.legacy_gunicorn_units(ctx)
    assert f"systemctl disable --now {' '.join(legacy)}" in calls


def test_destroy_keeps_exactly_the_data(ctx: HostContext, tmp_path: Path) -> None:
    root, calls = run_uninstall(ctx, tmp_path, remove_data=False)
    assert set(left_behind(ctx, root)) == kept_data(ctx)
    assert "userdel" not in calls and "pg_dropcluster" not in calls and "certbot delete" not in calls
    # Nothing of the app keeps running: the cluster stops and stays stopped at boot (its port is
    # free), the Redis instance is disabled; a later deploy starts both again.
    assert (root / f"{pg_etc(ctx)}/start.conf".lstrip("/")).read_text() == "manual\n"
    assert f"systemctl stop postgresql@{PG_VERSION}-{ctx.pg_cluster}.service" in calls, calls
    assert f"systemctl disable --now {ctx.redis_unit}" in calls, calls
    # The kept certificate renews without the removed deploy hook; its other settings stay.
    kept = uninstall_script(ctx)
    assert f"the PostgreSQL cluster {ctx.pg_cluster}" in kept and f"the Redis data in {ctx.redis_data_dir}" in kept
    renewal = (root / certbot_renewal_conf(ctx).lstrip("/")).read_text()
    assert "renew_hook" not in renewal and renewal == RENEWAL.replace("renew_hook = {hook}\n", ""), renewal
    assert f"ufw delete allow {ctx.http_port}/tcp" in calls

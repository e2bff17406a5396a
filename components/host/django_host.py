"""DjangoHost: configures one Linux host over SSH and runs a release whenever the release id changes.

Creates (all children of the component):
- ``<name>-bootstrap`` (``command:remote:Command``): uploads every rendered host file (on stdin,
  so no temporary files and no world-readable copies) and runs the bootstrap script as root. It
  re-runs only when what the host layer renders changes (the bootstrap embeds every file's
  sha256) or a secret given to it changes. On ``pulumi destroy`` it removes what it installed
  (units, Nginx site, code, configuration) and leaves the system packages, so the host can be
  reused; the data (database, role, media, backups, the app's secrets and user) stays unless
  ``remove_data_on_destroy`` (``app.removeDataOnDestroy``) is set.
- ``<name>-source`` (``command:remote:CopyToRemote``): the release artifact (a reproducible
  tar.gz of the Django project) copied to ``/var/tmp/<app>-artifacts/``. That path is only an
  inbox: the release script copies the file into a root-only ``mktemp -d`` directory and checks
  its sha256 there before unpacking it.
- ``<name>-release`` (``command:remote:Command``): runs ``release deploy <id> <archive> <sha256>``
  (venv, check --deploy, collectstatic, check-config, backup, migrate under a lock, atomic switch,
  restart, health gate, automatic switch back on failure). Triggered by the release id only, so an
  update that does not change it runs nothing, and a failed migration fails ``pulumi up`` with the
  script's output. Running it again for the live release is a health check that succeeds.

``<name>`` is a stable logical name (``host`` on the server target), never ``app.name``: renaming
the app updates these resources in place instead of replacing them (a replacement would run the
old bootstrap's delete). ``legacy_name`` adds aliases from the names of stacks created before.

Secrets travel on the bootstrap's stdin. Without a pinned ``host_key`` the host is not verified
(public-key authentication still cannot be replayed by a man in the middle, but the data sent can
be read), so the server target sends secrets to an unverified host only on a dev stack, with a
warning (see ``djangostack.targets.server.target``).

With ``remote_executor="builtin-ssh"`` the same three steps are ``SshCommand`` / ``SshCopy``
(``djangostack.host.ssh_provider``: dynamic providers over the system ssh client) with the same
names, parent, dependencies, triggers and protection; pulumi-command stays the default.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pulumi
from pulumi_command import remote

from .context import HostContext
from .files import HostFile
from .render import instance_units, legacy_gunicorn_units, render_all
from .ssh_provider import SshCommand, SshConnection, SshCopy

CONNECT_ATTEMPTS = 20
"""Dial attempts before a remote step gives up (an unreachable host fails instead of hanging)."""
PER_DIAL_TIMEOUT_SECONDS = 10

RemoteExecutor = Literal["pulumi-command", "builtin-ssh"]
Connection = remote.ConnectionArgs | SshConnection
RemoteCommand = remote.Command | SshCommand


@dataclass(frozen=True)
class DjangoHostArgs:
    """Inputs of a DjangoHost."""

    context: HostContext
    """Everything rendered for the host (decided in Python, from the stack settings)."""
    host: pulumi.Input[str]
    """Address to SSH to (an IP or DNS name; an Elastic IP on aws-ec2)."""
    ssh_user: str
    ssh_port: int
    private_key: pulumi.Input[str]
    """The SSH private key (a secret)."""
    release_id: str
    source_archive: Path
    """The release artifact on this machine (see ``djangostack.host.artifact``)."""
    host_key: str | None = None
    """The host's public key, verified on every connection when given."""
    bootstrap_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Secrets and URLs handed to the bootstrap (SECRET_KEY, DB_PASSWORD, DATABASE_URL, ...)."""
    protect: bool = False
    """Protect the bootstrap from ``pulumi destroy`` (its delete removes the app's data)."""
    remote_executor: RemoteExecutor = "pulumi-command"
    """How the remote steps run: pulumi-command, or the program's own SSH dynamic providers."""
    remove_data_on_destroy: bool = False
    """``pulumi destroy`` also drops the database and role and removes media, backups and secrets."""
    legacy_name: str | None = None
    """The component's name in stacks created before the stable names (``app.name``): aliases."""


class DjangoHost(pulumi.ComponentResource):
    """One Linux host running the Django app behind Nginx and Gunicorn."""

    release_id: pulumi.Output[str]
    """The release that is live once the release step has succeeded."""
    bootstrap_sha256: str
    """Content hash of everything the bootstrap installs."""

    def __init__(self, name: str, args: DjangoHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if args.legacy_name and args.legacy_name != name:
            opts = pulumi.ResourceOptions.merge(
                opts or pulumi.ResourceOptions(),
                pulumi.ResourceOptions(aliases=_legacy_name_aliases(args.legacy_name, opts)),
            )
        super().__init__("djangostack:host:DjangoHost", name, None, opts)
        ctx = args.context
        files = render_all(ctx)
        self.bootstrap_sha256 = files[ctx.bootstrap_path].sha256
        connection: Connection
        if args.remote_executor == "builtin-ssh":
            connection = SshConnection(
                host=args.host,
                port=args.ssh_port,
                user=args.ssh_user,
                private_key=args.private_key,
                host_key=args.host_key,
                dial_error_limit=CONNECT_ATTEMPTS,
                per_dial_timeout=PER_DIAL_TIMEOUT_SECONDS,
            )
        else:
            connection = remote.ConnectionArgs(
                host=args.host,
                port=args.ssh_port,
                user=args.ssh_user,
                private_key=pulumi.Output.secret(args.private_key),
                host_key=args.host_key,
                dial_error_limit=CONNECT_ATTEMPTS,
                per_dial_timeout=PER_DIAL_TIMEOUT_SECONDS,
            )
        bootstrap = self._create_bootstrap(name, args, files, connection)
        self.release_id = self._create_release(name, args, connection, bootstrap)
        self.register_outputs({"releaseId": self.release_id, "bootstrapSha256": self.bootstrap_sha256})

    def _create_bootstrap(
        self,
        name: str,
        args: DjangoHostArgs,
        files: Mapping[str, HostFile],
        connection: Connection,
    ) -> RemoteCommand:
        ctx = args.context
        payload_files = upload_script(ctx, files)
        names = sorted(args.bootstrap_env)
        values = [pulumi.Output.from_input(args.bootstrap_env[k]) for k in names]

        def payload(secrets: list[str]) -> str:
            return env_prelude(dict(zip(names, secrets, strict=True))) + payload_files

        stdin = pulumi.Output.all(*values).apply(payload) if names else pulumi.Output.from_input(payload_files)
        opts = pulumi.ResourceOptions(parent=self, protect=args.protect, aliases=_aliases(args, "bootstrap"))
        uninstall = uninstall_script(ctx, remove_data=args.remove_data_on_destroy, files=files)
        delete = f"sudo -n bash -c {shlex.quote(uninstall)}"
        # No `triggers` here: pulumi-command marks triggers replace-on-change, and a replacement
        # runs the old resource's delete (the uninstall) after the new bootstrap, wiping the app.
        # stdin carries every rendered file, so any rendered change already runs `update`.
        return _command(
            f"{name}-bootstrap",
            connection,
            create="sudo -n bash -s",
            update="sudo -n bash -s",
            delete=delete,
            stdin=stdin,
            opts=opts,
        )

    def _create_release(
        self,
        name: str,
        args: DjangoHostArgs,
        connection: Connection,
        bootstrap: RemoteCommand,
    ) -> pulumi.Output[str]:
        ctx = args.context
        remote_archive = f"/var/tmp/{ctx.app_name}-artifacts/source.tar.gz"
        source_opts = pulumi.ResourceOptions(parent=self, depends_on=[bootstrap], aliases=_aliases(args, "source"))
        source: pulumi.CustomResource
        if isinstance(connection, SshConnection):
            source = SshCopy(
                f"{name}-source",
                connection=connection,
                source_path=args.source_archive,
                remote_path=remote_archive,
                opts=source_opts,
            )
        else:
            source = remote.CopyToRemote(
                f"{name}-source",
                connection=connection,
                source=pulumi.FileAsset(str(args.source_archive)),
                remote_path=remote_archive,
                opts=source_opts,
            )
        sha256 = hashlib.sha256(args.source_archive.read_bytes()).hexdigest()
        command = release_command(ctx, args.release_id, remote_archive, sha256)
        release_opts = pulumi.ResourceOptions(
            parent=self, depends_on=[bootstrap, source], aliases=_aliases(args, "release")
        )
        release = _command(
            f"{name}-release",
            connection,
            create=command,
            update=command,
            triggers=[args.release_id],
            opts=release_opts,
        )
        release_id = args.release_id
        return release.stdout.apply(lambda _: release_id)


def _legacy_name_aliases(
    legacy_name: str, opts: pulumi.ResourceOptions | None
) -> list[pulumi.Input[str | pulumi.Alias]]:
    """The legacy name where the host is now, and at every other place the caller's aliases say it
    was (a host moved under a new parent was also named after the app there: the root component's
    ``Alias(parent=ROOT_STACK_RESOURCE)`` alone would miss a top-level ``DjangoHost`` named
    ``<app>``). Its children follow through the engine's inherited aliases."""
    aliases: list[pulumi.Input[str | pulumi.Alias]] = [pulumi.Alias(name=legacy_name)]
    for alias in opts.aliases if opts is not None and opts.aliases else []:
        if isinstance(alias, pulumi.Alias) and not isinstance(alias.name, str):  # unset (... or None): the same name
            aliases.append(
                pulumi.Alias(
                    name=legacy_name, type_=alias.type_, parent=alias.parent, stack=alias.stack, project=alias.project
                )
            )
    return aliases


def _aliases(args: DjangoHostArgs, suffix: str) -> list[pulumi.Input[str | pulumi.Alias]] | None:
    """The child's name in stacks created before the stable names (same parent type, so the name
    alone identifies it)."""
    return [pulumi.Alias(name=f"{args.legacy_name}-{suffix}")] if args.legacy_name else None


def _command(
    name: str,
    connection: Connection,
    *,
    create: pulumi.Input[str],
    update: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    delete: pulumi.Input[str] | None = None,
    stdin: pulumi.Input[str] | None = None,
    triggers: list[str] | None = None,
) -> RemoteCommand:
    """A remote command through the stack's executor: the builtin SSH provider for an
    ``SshConnection``, pulumi-command's ``remote.Command`` otherwise (same inputs, same meaning)."""
    command: Callable[..., RemoteCommand] = SshCommand if isinstance(connection, SshConnection) else remote.Command
    return command(
        name,
        connection=connection,
        create=create,
        update=update,
        delete=delete,
        stdin=stdin,
        triggers=triggers,
        opts=opts,
    )


def env_prelude(env: Mapping[str, str]) -> str:
    """Shell lines exporting the bootstrap's secrets. They travel on stdin (never on a command
    line, where ``ps`` would show them) and the bootstrap never prints them."""
    lines = []
    for key in sorted(env):
        if not key.isidentifier() or not key.isupper():
            raise ValueError(f"bad environment name {key!r}")
        lines.append(f"export {key}={shlex.quote(env[key])}")
    return "".join(line + "\n" for line in lines)


def upload_script(ctx: HostContext, files: Mapping[str, HostFile]) -> str:
    """The root shell script (run with ``bash -s``) that writes every rendered file into the
    staging directory, the bootstrap to its place, then runs the bootstrap."""
    lines = [
        "set -euo pipefail",
        "umask 077",
        f"rm -rf {shlex.quote(ctx.staging_dir)}",
        f"install -d -m 0755 {shlex.quote(ctx.lib_dir)}",
        f"install -d -m 0700 {shlex.quote(ctx.staging_dir)}",
    ]
    for path in sorted(files):
        host_file = files[path]
        destination = path if path == ctx.bootstrap_path else host_file.staged_path(ctx.staging_dir)
        encoded = base64.encodebytes(host_file.content.encode("utf-8")).decode("ascii")
        lines.append(f"install -d -m 0700 {shlex.quote(str(Path(destination).parent))}")
        lines.append(f"base64 -d > {shlex.quote(destination)} <<'__DJANGOSTACK_EOF__'")
        lines.append(encoded.rstrip("\n"))
        lines.append("__DJANGOSTACK_EOF__")
    lines.append(f"chmod 0700 {shlex.quote(ctx.bootstrap_path)}")
    lines.append(f"exec bash {shlex.quote(ctx.bootstrap_path)}")
    return "\n".join(lines) + "\n"


def release_command(ctx: HostContext, release_id: str, remote_archive: str, sha256: str) -> str:
    """Run the release script on the uploaded artifact. The script (as root) copies it into a
    root-only ``mktemp -d`` directory and checks ``sha256`` on that copy right before unpacking."""
    args = [ctx.release_script, "deploy", release_id, remote_archive, sha256]
    return "sudo -n " + " ".join(shlex.quote(a) for a in args)


def uninstall_script(
    ctx: HostContext, *, remove_data: bool = False, files: Mapping[str, HostFile] | None = None
) -> str:
    """What ``pulumi destroy`` runs: remove the app from the host, keep the system packages.

    Everything bootstrap wrote goes: each rendered file (Nginx site, units and their drop-ins,
    logrotate, the fail2ban jail, the unattended-upgrades file), the SSH hardening drop-in, the
    firewall's web ports, the code, caches and configuration, and the certbot deploy hook (from the
    certificate's renewal settings too: a kept certificate's renewal must not run a removed file).
    Nothing of the app keeps running: its PostgreSQL cluster and Redis instance stop. The data stays
    unless ``remove_data``: the app's PostgreSQL cluster (stopped, ``start.conf`` manual, so its port
    is free until a later deploy starts it again), its Redis instance's data directory (the instance
    disabled), media, backups, logs, the app's secrets (the database password among them), its Let's
    Encrypt certificate, its user and group, and the stack's marker (which lets a renamed app take
    over that data). With ``remove_data`` the cluster is dropped (``pg_dropcluster --stop``) and the
    Redis instance's data removed. ``files``: ``render_all(ctx)`` when the caller has it already."""
    rendered = sorted(files if files is not None else render_all(ctx))
    own = (ctx.config_dir + "/", ctx.lib_dir + "/")
    outside = [p for p in rendered if not p.startswith(own)]
    unit_files = [p.rsplit("/", 1)[1] for p in outside if p.startswith("/etc/systemd/system/")]
    # What runs from them: Gunicorn's template units run as two colors (instances).
    units = [unit for name in unit_files for unit in instance_units(ctx, name)]
    units.sort(key=lambda u: (not u.endswith(".socket"), u))
    quoted_units = " ".join(shlex.quote(u) for u in units)
    legacy = legacy_gunicorn_units(ctx)
    paths = [
        ctx.lib_dir,
        ctx.state_dir,
        ctx.nginx_site_link,
        *outside,
        *(f"/etc/systemd/system/{u}.d" for u in dict.fromkeys([*unit_files, *units])),
        *(f"/etc/systemd/system/{u}" for u in legacy),
        f"/var/tmp/{ctx.app_name}-artifacts",
        ctx.lock_file,
        sshd_hardening_path(ctx),
    ]
    if remove_data:
        paths[:0] = [ctx.base_dir, ctx.config_dir]
        if ctx.stack_key:
            paths.append(f"/var/lib/djangostack/stacks/{ctx.stack_key}")
    else:
        # Code, caches and configuration go; shared/media, shared/backups and secrets/ stay.
        paths[:0] = [
            ctx.releases_dir,
            ctx.current_link,
            ctx.colors_dir,
            ctx.cache_dir,
            ctx.venvs_dir,
            ctx.incoming_dir,
            f"{ctx.base_dir}/.release-history",
        ]
    lines = [
        "set -u",
        f"systemctl disable --now {quoted_units} 2>/dev/null || true",
        # The single Gunicorn of a host set up before the colors, if its bootstrap never replaced it.
        f"systemctl disable --now {' '.join(legacy)} 2>/dev/null || true",
        f"rm -rf {' '.join(shlex.quote(p) for p in paths)}",
    ]
    if not remove_data:
        lines.append(
            f"find {shlex.quote(ctx.config_dir)} -mindepth 1 -maxdepth 1 ! -name secrets -exec rm -rf {{}} + "
            "2>/dev/null || true"
        )
    lines += [
        "systemctl daemon-reload",
        "nginx -t >/dev/null 2>&1 && systemctl reload nginx || true",
        # Shared by every app of the host: goes only when no other app's challenge files are in it.
        f"rmdir {shlex.quote(ctx.acme_webroot)} 2>/dev/null || true",
    ]
    if ctx.firewall:
        lines += [
            "systemctl try-reload-or-restart fail2ban 2>/dev/null || true",
            "sshd -t 2>/dev/null && { systemctl try-reload-or-restart ssh 2>/dev/null"
            " || systemctl try-reload-or-restart sshd 2>/dev/null; } || true",
        ]
        # The web ports only: the SSH rule stays, or the next connection would be locked out.
        web_ports = [ctx.http_port] + ([ctx.https_port] if ctx.nginx_terminates_tls else [])
        lines += [f"ufw delete allow {port}/tcp >/dev/null 2>&1 || true" for port in web_ports]
    if ctx.uses_letsencrypt:
        # certbot runs the deploy hook it was given at every renewal; the hook was in lib_dir.
        lines.append(
            f"sed -i {shlex.quote(certbot_hook_sed(ctx))} {shlex.quote(certbot_renewal_conf(ctx))} 2>/dev/null || true"
        )
    if ctx.local_redis:
        redis_unit = shlex.quote(ctx.redis_unit)
        lines += [
            f"systemctl disable --now {redis_unit} 2>/dev/null || true",
            f"systemctl reset-failed {redis_unit} 2>/dev/null || true",
            # Its configuration (with the password) goes; the data directory is data.
            f"rm -f {shlex.quote(ctx.redis_conf_file)}",
        ]
        if remove_data:
            lines.append(f"rm -rf {shlex.quote(ctx.redis_data_dir)} {shlex.quote(ctx.redis_log_file)}*")
    if ctx.local_postgres:
        cluster = shlex.quote(ctx.pg_cluster)
        each_cluster = f"for conf in {postgres_cluster_glob(ctx)}; do [[ -f $conf ]] || continue; "
        version = "version=${conf#/etc/postgresql/}; version=${version%%/*}; "
        if remove_data:
            lines.append(each_cluster + version + f'pg_dropcluster --stop "$version" {cluster} || true; done')
        else:
            # Stopped, and not started at boot (start.conf manual): its port is free, its data stays.
            lines.append(
                each_cluster
                + version
                + "printf 'manual\\n' > \"${conf%/*}/start.conf\"; "
                + f'systemctl stop "postgresql@$version-"{cluster}.service || true; done'
            )
    if not remove_data:
        kept = f"{ctx.shared_dir} (media, backups, logs), {ctx.secrets_dir}, the user {ctx.user}"
        if ctx.local_postgres:
            kept += (
                f", the PostgreSQL cluster {ctx.pg_cluster} with the database {ctx.db_name} and role {ctx.db_user}"
                f" (data in /var/lib/postgresql/<version>/{ctx.pg_cluster}, stopped, start.conf manual,"
                " a later deploy starts it again)"
            )
        if ctx.local_redis:
            kept += f", the Redis data in {ctx.redis_data_dir} ({ctx.redis_unit} stopped and disabled)"
        if ctx.uses_letsencrypt:
            kept += f", the certificate {ctx.app_name} in /etc/letsencrypt (without the app's deploy hook)"
        lines.append(f"echo {shlex.quote(f'kept the data of {ctx.app_name}: {kept} (app.removeDataOnDestroy: false)')}")
        lines.append(f"echo 'removed {ctx.app_name} from this host'")
        return "; ".join(lines)
    if ctx.uses_letsencrypt:
        lines.append(
            f"command -v certbot >/dev/null && certbot delete --non-interactive --cert-name {ctx.app_name} "
            ">/dev/null 2>&1 || true"
        )
    user = shlex.quote(ctx.user)
    lines.append(f"id -u {user} >/dev/null 2>&1 && userdel {user} || true")
    lines.append(f"getent group {shlex.quote(ctx.group)} >/dev/null && groupdel {shlex.quote(ctx.group)} || true")
    lines.append(f"echo 'removed {ctx.app_name} from this host'")
    return "; ".join(lines)


def sshd_hardening_path(ctx: HostContext) -> str:
    """The SSH hardening drop-in bootstrap installs (firewall on, the SSH user has a key)."""
    return f"/etc/ssh/sshd_config.d/50-{ctx.app_name}-hardening.conf"


def postgres_cluster_glob(ctx: HostContext) -> str:
    """The app's own PostgreSQL cluster, whatever its version (bootstrap creates it with the newest)."""
    return f"/etc/postgresql/*/{ctx.pg_cluster}/postgresql.conf"


def certbot_renewal_conf(ctx: HostContext) -> str:
    """certbot's renewal settings of the app's certificate (it stores the deploy hook there)."""
    return f"/etc/letsencrypt/renewal/{ctx.app_name}.conf"


def certbot_hook_sed(ctx: HostContext) -> str:
    """A sed script deleting the app's deploy hook (``renew_hook = <hook>``) from the renewal settings."""
    return "\\#^renew_hook = " + ctx.certbot_hook + "$#d"

"""The ``server`` target: one Linux host reached over SSH, configured by ``DjangoHost``.

Postgres and Redis run on the host (installed and locked down by the bootstrap) or are external
URLs from the secret config keys ``databaseUrl`` / ``redisUrl``. Secrets the stack does not set
(SECRET_KEY, the local database and Redis passwords) are generated on the host and never enter
Pulumi state.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pulumi

from ...contract.outputs import StackOutputs
from ...host.artifact import build_artifact
from ...host.context import HostContext
from ...host.django_host import DjangoHost, DjangoHostArgs
from ...paths import ARTIFACTS, project_dir
from ...settings.app import AppSettings
from ...settings.data import CacheSettings, DatabaseSettings
from ...settings.errors import SettingsError
from ...settings.fields import PROJECT
from ...settings.loading import StackSecrets
from ...settings.targets import ServerTarget

"""Where release artifacts are packed, relative to the project root (git-ignored)."""

HOST_RESOURCE_NAME = "host"
"""Logical name of the DjangoHost (its children: host-bootstrap, host-source, host-release). Stable:
never derived from ``app.name``, so renaming the app updates the host instead of replacing it."""

_SECRET_CONFIG_KEYS = {
    "secretKey": "SECRET_KEY",
    "databasePassword": "DB_PASSWORD",
    "redisPassword": "REDIS_PASSWORD",
    "databaseUrl": "DATABASE_URL",
    "redisUrl": "REDIS_URL",
    "sentryDsn": "SENTRY_DSN",
}


def ssh_private_key(target: ServerTarget, secrets: StackSecrets) -> pulumi.Output[str]:
    """The deploy key: the secret ``sshPrivateKey`` if set, else the file ``target.sshKeyFile``."""
    configured = secrets.get("sshPrivateKey")
    if configured is not None:
        return configured
    assert target.ssh_key_file is not None  # validated: one of the two is set
    path = Path(target.ssh_key_file)
    if not path.is_absolute():
        path = project_dir() / path
    try:
        return pulumi.Output.secret(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(
            [f"{PROJECT}:target.sshKeyFile: cannot read {path} ({exc.strerror}); create the key or fix the path"]
        ) from None


@dataclass(frozen=True)
class ServerDeployArgs:
    """What the server target is built from: the sections of the settings it reads, and the host's
    description (``djangostack.stack.server_args`` makes it from the validated settings)."""

    environment: str
    """``dev``, ``staging`` or ``prod``."""
    target: ServerTarget
    """The machine: address, SSH user, port and keys, the remote executor."""
    host: HostContext
    """Every fact the host layer renders from (with the server's ``HostEdge``)."""
    app: AppSettings
    """The app's source, name, release id and whether its data goes on destroy."""
    database: DatabaseSettings
    """Where PostgreSQL runs (local or external), its name, user, port and protection."""
    cache: CacheSettings
    """Where Redis runs (none, local or external) and its port."""


def deploy(
    args: ServerDeployArgs, secrets: StackSecrets, parent_opts: pulumi.ResourceOptions | None = None
) -> StackOutputs:
    """Build the server target; ``parent_opts`` (the root component's: its parent and aliases)
    applies to the ``DjangoHost``."""
    target, app, database = args.target, args.app, args.database
    stack_key = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{pulumi.get_project()}-{pulumi.get_stack()}")
    ctx = dataclasses.replace(args.host, stack_key=stack_key)
    source_dir = project_dir() / app.source
    try:
        artifact = build_artifact(source_dir, project_dir() / ARTIFACTS, app.name)
    except FileNotFoundError as exc:
        raise SettingsError([f"{PROJECT}:app.source: {exc}"]) from None
    pulumi.log.info(artifact.selection.summary())

    bootstrap_env: dict[str, pulumi.Input[str]] = {}
    for config_key, env_name in _SECRET_CONFIG_KEYS.items():
        value = secrets.get(config_key)
        if value is not None:
            bootstrap_env[env_name] = value

    host = DjangoHost(
        HOST_RESOURCE_NAME,
        DjangoHostArgs(
            context=ctx,
            host=target.host,
            ssh_user=target.ssh_user,
            ssh_port=target.ssh_port,
            private_key=ssh_private_key(target, secrets),
            host_key=target.ssh_host_key,
            release_id=app.release_id or artifact.release_id,
            source_archive=artifact.path,
            bootstrap_env=bootstrap_env,
            protect=bool(database.deletion_protection),
            remote_executor=target.remote_executor,
            remove_data_on_destroy=app.remove_data_on_destroy,
            legacy_name=app.name,
        ),
        parent_opts,
    )
    return StackOutputs(
        target=target.kind,
        environment=args.environment,
        url=f"https://{ctx.primary_host}{ctx.public_origin_port_suffix}",
        hostnames=list(ctx.server_names),
        database_host=_database_host(database, secrets),
        database_port=database.port if database.mode == "local" else _database_port(secrets),
        database_name=database.name,
        database_url=_database_url(database, secrets),
        redis_url=_redis_url(args.cache, secrets),
        media_bucket=ctx.media_dir,
        release_id=host.release_id,
        network_ids={},
    )


def _database_host(db: DatabaseSettings, secrets: StackSecrets) -> pulumi.Input[str]:
    url = secrets.get("databaseUrl")
    if db.mode == "external" and url is not None:
        return pulumi.Output.unsecret(url.apply(lambda u: urlsplit(u).hostname or ""))
    return "127.0.0.1"


def _database_port(secrets: StackSecrets) -> pulumi.Input[int]:
    url = secrets.get("databaseUrl")
    if url is None:
        return 5432
    return pulumi.Output.unsecret(url.apply(lambda u: urlsplit(u).port or 5432))


def _database_url(db: DatabaseSettings, secrets: StackSecrets) -> pulumi.Input[str]:
    """The full URL where Pulumi knows the password; otherwise the URL without it (the password
    was generated on the host and lives only there, in /etc/<app>/secrets)."""
    if db.mode == "external":
        return secrets.require("databaseUrl")
    password = secrets.get("databasePassword")
    base = f"127.0.0.1:{db.port}/{db.name}"
    if password is None:
        return f"postgres://{db.user}@{base}"
    return pulumi.Output.format("postgres://{0}:{1}@{2}", db.user, password, base)


def _redis_url(cache: CacheSettings, secrets: StackSecrets) -> pulumi.Input[str]:
    if cache.mode == "external":
        return secrets.require("redisUrl")
    if cache.mode == "none":
        return ""
    password = secrets.get("redisPassword")
    if password is None:
        return f"redis://127.0.0.1:{cache.port}/0"
    return pulumi.Output.format("redis://:{0}@127.0.0.1:{1}/0", password, cache.port)

"""The app's secrets in Secret Manager, one secret per value, each with one version.

Creates, for each value the stack needs:
- ``SECRET_KEY``: the ``secretKey`` config value when set, otherwise a 64-character ``RandomPassword``;
- ``DATABASE_URL``: ``postgres://<user>:<password>@/<db>?host=/cloudsql/<connection name>``
  (the Cloud SQL connector socket Cloud Run mounts);
- ``REDIS_URL`` and ``REDIS_CA`` (the Memorystore CA bundle, mounted as a file) when there is a cache;
- ``SENTRY_DSN`` when the stack sets ``sentryDsn``.

Secrets use user-managed replication with one replica in the stack's region
(``rules.secret_replica_locations``): automatic replication lets Google store the data in any
location, which an organisation's ``gcp.resourceLocations`` policy refuses and which would keep an
EU stack's secrets outside the EU. The replication of a secret cannot change in place, so the ids
carry the region (``<prefix>-<kind>-<region>``): a stack created with automatic replication gets
new secrets created, granted and referenced before the old ones are deleted, with no moment
without a readable secret (the same id would have to be deleted first).

Every value is a Pulumi secret before it reaches a resource, so state holds it encrypted and no
input or output shows it in plaintext. Versions are referenced by number from Cloud Run (not
``latest``), so a rotated value rolls out as a new revision, on purpose, and an old revision rolled
back to still reads the value it was deployed with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from .rules import secret_replica_locations


@dataclass(frozen=True)
class SecretRef:
    """Where one secret value lives, as Cloud Run references it."""

    env: str
    """Environment variable name (or file role, for REDIS_CA)."""
    secret: gcp.secretmanager.Secret
    version: pulumi.Output[str]
    """The pinned version number."""

    @property
    def secret_id(self) -> pulumi.Output[str]:
        return self.secret.secret_id


@dataclass(frozen=True)
class AppSecretsArgs:
    """Inputs of ``AppSecrets``; every value is made secret here whatever the caller passed."""

    project: str
    region: str
    """The only location the secrets are stored in (the Cloud Run region)."""
    prefix: str
    """Physical secret ids are ``<prefix>-<kind>-<region>`` (``notes-staging-database-url-europe-west1``)."""
    database_url: pulumi.Input[str]
    secret_key: pulumi.Input[str] | None = None
    """The ``secretKey`` config value; unset: generated."""
    redis_url: pulumi.Input[str] | None = None
    redis_ca_pem: pulumi.Input[str] | None = None
    sentry_dsn: pulumi.Input[str] | None = None
    requires: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """The secretmanager API enablement."""


class AppSecrets(pulumi.ComponentResource):
    """Secret Manager secrets holding the app's credentials."""

    env: Mapping[str, SecretRef]
    """Secrets injected as environment variables, by variable name."""
    redis_ca: SecretRef | None
    """The Redis CA bundle, mounted as a file (not an environment variable)."""
    database_url: pulumi.Output[str]
    """DATABASE_URL (secret), also exported as a stack output."""

    def __init__(self, name: str, args: AppSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:gcp:AppSecrets", name, None, opts)
        self._args = args
        self._locations = secret_replica_locations(args.region)
        secret_key = args.secret_key
        if secret_key is None:
            generated = random.RandomPassword(
                f"{name}-secret-key",
                length=64,
                special=True,
                override_special="!#%*+-=^_~",
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
            )
            secret_key = generated.result
        self.database_url = pulumi.Output.secret(args.database_url)
        env: dict[str, SecretRef] = {
            "SECRET_KEY": self._create(name, "SECRET_KEY", "secret-key", secret_key),
            "DATABASE_URL": self._create(name, "DATABASE_URL", "database-url", self.database_url),
        }
        if args.redis_url is not None:
            env["REDIS_URL"] = self._create(name, "REDIS_URL", "redis-url", args.redis_url)
        if args.sentry_dsn is not None:
            env["SENTRY_DSN"] = self._create(name, "SENTRY_DSN", "sentry-dsn", args.sentry_dsn)
        self.env = env
        self.redis_ca = (
            self._create(name, "REDIS_CA", "redis-ca", args.redis_ca_pem) if args.redis_ca_pem is not None else None
        )
        self.register_outputs({"secretIds": [ref.secret_id for ref in self.all()]})

    def all(self) -> list[SecretRef]:
        """Every secret of the stack (the runtime identity may read exactly these)."""
        refs = list(self.env.values())
        if self.redis_ca is not None:
            refs.append(self.redis_ca)
        return refs

    def _create(self, name: str, env: str, kind: str, value: pulumi.Input[str]) -> SecretRef:
        secret = gcp.secretmanager.Secret(
            f"{name}-{kind}",
            project=self._args.project,
            secret_id=f"{self._args.prefix}-{kind}-{self._locations[0]}",
            replication=gcp.secretmanager.SecretReplicationArgs(
                user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(
                    replicas=[
                        gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(location=location)
                        for location in self._locations
                    ]
                )
            ),
            labels={"env-var": kind},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self._args.requires)),
        )
        version = gcp.secretmanager.SecretVersion(
            f"{name}-{kind}-version",
            secret=secret.id,
            secret_data=pulumi.Output.secret(value),
            # A changed value creates a new version; the superseded one is left enabled so a
            # rollback to the previous Cloud Run revision (pinned to it) still starts. Deleting the
            # secret deletes all its versions.
            deletion_policy="ABANDON",
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["secretData"]),
        )
        return SecretRef(env=env, secret=secret, version=version.version)

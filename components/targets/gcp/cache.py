"""Memorystore for Redis: the Django cache and the Celery broker, on a private IP with AUTH and TLS.

Creates one ``redis.Instance`` attached through private services access
(``PRIVATE_SERVICE_ACCESS``), with AUTH on, in-transit encryption (``SERVER_AUTHENTICATION``: TLS on
port 6378, server certificate signed by a CA unique to the instance), ``noeviction`` (a broker must
not drop queued tasks to make room) and hourly RDB snapshots.

It exposes the ``REDIS_URL`` the app uses, as a secret:
``rediss://:<auth>@<host>:<port>/0?ssl_cert_reqs=required&ssl_ca_certs=<ca path>&ssl_check_hostname=false``.
The instance CA is not in any public trust store, so the URL points redis-py and Celery/kombu at a
CA bundle file that Cloud Run mounts from Secret Manager (``ca_pem`` -> ``secrets.py`` ->
``django_on_cloudrun.py``). Verification stays on (``required``); turning it off would keep the
encryption but let anything that can answer on the private IP impersonate Redis.

Hostname checking is off, and only that. Memorystore's server certificate identifies the instance
by its IP address, not in a form a client's hostname check accepts, and redis-py 6 and later check
hostnames by default (``SSLConnection(ssl_check_hostname=True)``), so every connection would fail
the handshake. The chain is still verified against the instance's own CA, which signs
certificates for that one instance only, so a valid chain already proves it is our Redis. Both
redis-py (``parse_url``: ``to_bool``) and kombu (``utils.url``) read ``ssl_check_hostname=false``
from the URL as the boolean False.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import pulumi
import pulumi_gcp as gcp

CA_MOUNT_DIR = "/etc/redis-ca"
"""Directory the CA bundle is mounted at in every container."""
CA_FILE_NAME = "ca.pem"
CA_PATH = f"{CA_MOUNT_DIR}/{CA_FILE_NAME}"


@dataclass(frozen=True)
class MemorystoreRedisArgs:
    """Inputs of ``MemorystoreRedis``."""

    project: str
    region: str
    network_id: pulumi.Input[str]
    """VPC with private services access, where the instance gets its private IP."""
    tier: str
    """``BASIC`` (one node) or ``STANDARD_HA`` (replica with automatic failover)."""
    memory_gb: int
    protect: bool
    """Pulumi ``protect``: queued Celery tasks live here."""
    redis_version: str = "REDIS_7_2"
    requires: Sequence[pulumi.Resource] = field(default_factory=tuple)


class MemorystoreRedis(pulumi.ComponentResource):
    """A private, authenticated, TLS-only Redis."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    url: pulumi.Output[str]
    """``rediss://`` URL with the AUTH string (secret)."""
    ca_pem: pulumi.Output[str]
    """The instance's server CA certificates, PEM, concatenated (all of them, so a CA rotation that
    lists the next CA alongside the current one keeps working)."""

    def __init__(self, name: str, args: MemorystoreRedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:gcp:MemorystoreRedis", name, None, opts)
        instance = gcp.redis.Instance(
            f"{name}-instance",
            project=args.project,
            name=name,
            region=args.region,
            tier=args.tier,
            memory_size_gb=args.memory_gb,
            redis_version=args.redis_version,
            connect_mode="PRIVATE_SERVICE_ACCESS",
            authorized_network=args.network_id,
            auth_enabled=True,
            transit_encryption_mode="SERVER_AUTHENTICATION",
            redis_configs={"maxmemory-policy": "noeviction"},
            persistence_config=gcp.redis.InstancePersistenceConfigArgs(
                persistence_mode="RDB", rdb_snapshot_period="ONE_HOUR"
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.requires),
                protect=args.protect,
                # The provider marks it secret too; said again here so it never depends on that.
                additional_secret_outputs=["authString"],
            ),
        )
        self.host = instance.host
        self.port = instance.port
        self.url = pulumi.Output.secret(
            pulumi.Output.all(instance.auth_string, instance.host, instance.port).apply(
                lambda parts: _redis_url(str(parts[0]), str(parts[1]), int(parts[2]))
            )
        )
        self.ca_pem = instance.server_ca_certs.apply(
            lambda certs: "\n".join(c.cert.strip() for c in certs if c.cert) + "\n"
        )
        self.register_outputs({"host": self.host, "port": self.port, "url": self.url})


def _redis_url(auth: str, host: str, port: int) -> str:
    """Pure formatting of the broker/cache URL (database 0)."""
    return (
        f"rediss://:{quote(auth, safe='')}@{host}:{port}/0"
        f"?ssl_cert_reqs=required&ssl_ca_certs={quote(CA_PATH, safe='/')}&ssl_check_hostname=false"
    )

"""Rules of the ``server`` target (one Linux host over SSH), run by ``validation.validate``.

Pure: no Pulumi calls. Every problem is one line naming the full key, the bad value and what is
allowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rules read the settings' types only
    from ...settings.stack import StackSettings

REFUSED_KEYS: dict[str, str] = {}
"""Keys of other targets this one refuses with a hint (none: see ``djangostack.validation``)."""

HOST_SENT_SECRETS = ("databasePassword", "databaseUrl", "redisPassword", "redisUrl", "secretKey", "sentryDsn")
"""Secret keys the server target sends to the host (on the bootstrap's stdin)."""


def combination_problems(settings: StackSettings) -> list[str]:
    """Settings a single host cannot serve (managed services, buckets, cloud networks)."""
    found: list[str] = []
    if settings.database.mode == "managed":
        found.append(
            "djangostack:database.mode: 'managed' needs a cloud target (got 'managed' on server); use local or external"
        )
    if settings.cache.mode == "managed":
        found.append(
            "djangostack:cache.mode: 'managed' needs a cloud target (got 'managed' "
            "on server); use local, external or none"
        )
    if settings.media.storage != "local":
        found.append(
            "djangostack:media.storage: the server target keeps media on the "
            f"host (got {settings.media.storage!r}); use local"
        )
    if settings.domain.tls is not None and settings.domain.tls.mode in ("acm", "managed"):
        found.append(
            f"djangostack:domain.tls.mode: {settings.domain.tls.mode!r} is "
            "for cloud targets; use letsencrypt or self-signed"
        )
    if settings.network.mode == "reference":
        found.append(
            "djangostack:network.mode: the server target has no cloud network "
            "to reference (got 'reference'); use create"
        )
    return found


def problems(settings: StackSettings, stack: str) -> list[str]:
    """TLS and SSH host-key rules of the server target, one line each."""
    found: list[str] = []
    target = settings.target
    tls = settings.domain.tls
    if target.kind == "server" and tls is not None and tls.mode == "letsencrypt" and not settings.domain.names:
        # Was a ValueError (a traceback in `pulumi up`) when the host files were rendered.
        found.append(
            "djangostack:domain.tls.mode: letsencrypt issues certificates for DNS names only, and "
            "domain.names is empty; set domain.names or use self-signed"
        )
    if target.kind == "server" and settings.environment == "prod" and getattr(target, "ssh_host_key", None) is None:
        found.append(
            "djangostack:target.sshHostKey: required in prod; without it every SSH connection trusts any host key "
            "and the bootstrap's secrets could go to an impostor (set it from `ssh-keyscan`, checked by hand)"
        )
    elif target.kind == "server" and settings.environment != "dev" and getattr(target, "ssh_host_key", None) is None:
        # Secrets travel on the bootstrap's stdin. Without a pinned key nothing proves the other end is
        # the host: a man in the middle cannot reuse the public-key login, but it can read stdin.
        # Secrets the host generates itself (the default) never travel, so such a stack is fine.
        sent = sorted(key for key in HOST_SENT_SECRETS if key in settings.secrets_present)
        if sent:
            names = ", ".join(f"djangostack:{key}" for key in sent)
            found.append(
                f"djangostack:target.sshHostKey: not set, but {names} would be sent to an unverified host "
                f"(environment {settings.environment}); pin the host key (`ssh-keyscan -t ed25519 "
                f"{getattr(target, 'host', '<host>')}`, checked by hand) or leave those secrets unset so the host "
                "generates them"
            )
    return found

"""Stack settings: the single source of truth for every setting of a stack.

Settings are read once, from Pulumi config (``load_from_pulumi``) or from a stack file
(``load_from_stack_file``, for ``python -m components check`` without Pulumi), and validated by
pydantic before any resource exists. Invalid input raises ``SettingsError`` whose ``lines`` name the
full config key, the bad value and what is allowed, one line per problem.

Config layout (namespace ``djangostack``): one object key per concern (``app``, ``web``,
``database``, ``cache``, ``media``, ``celery``, ``domain``, ``network``, ``backups``,
``observability``), the ``target`` object discriminated by ``kind``, the plain ``environment`` key,
and the secret string keys in ``SECRET_KEYS`` which must be set with ``pulumi config set --secret``.
Config keys are camelCase, as Pulumi's own are.
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pulumi
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.aws.rules import problems as aws_problems
from components.errors import SettingsError
from components.gcp.rules import problems as gcp_problems
from components.rules import problems as guardrail_problems
from components.rules import warnings as guardrail_warnings

__all__ = ["SettingsError"]

PROJECT = "djangostack"
"""The Pulumi project name, and so the config namespace (``djangostack:<key>``)."""

Environment = Literal["dev", "staging", "prod"]

# --------------------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------------------

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
"""One DNS label (matched with ``fullmatch``: ``$`` would let a trailing newline through)."""


def _hostname(value: str) -> str:
    name = value.lower().rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("must be a fully qualified DNS name such as app.example.com")
    if labels[-1].isdigit():
        raise ValueError("must be a DNS name, not an IP address")
    return name


def _host_or_ip(value: str) -> str:
    if "%" in value:
        # ipaddress accepts any text after % as an IPv6 scope id; it would reach shell and nginx.
        raise ValueError("must not carry an IPv6 scope id (%...); use a global address or a DNS name")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", value):
        raise ValueError("is neither a valid IP address nor a DNS name")
    return _hostname(value)


def _cidr(value: str) -> str:
    if "%" in value:
        raise ValueError("must not carry an IPv6 scope id (%...); write the network as address/prefix")
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"must be a CIDR block such as 10.0.0.0/16 ({exc})") from None


def _url_path(value: str) -> str:
    if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", value):
        raise ValueError("must be an absolute URL path such as /healthz")
    return value


def _python_target(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", value, flags=re.ASCII):
        raise ValueError("must look like package.module:attribute, e.g. project.wsgi:application")
    return value


def _private_ipv4_cidr(value: str) -> str:
    network = ipaddress.ip_network(value)
    if network.version != 4 or not network.is_private:
        raise ValueError("must be a private IPv4 range (RFC 1918, e.g. 10.20.0.0/16)")
    return value


def _email(value: str) -> str:
    local, _, domain = value.partition("@")
    if not re.fullmatch(r"[A-Za-z0-9._+-]{1,64}", local) or local.startswith(("-", ".")):
        raise ValueError("must be an email address such as ops@example.com (letters, digits, . _ + - before the @)")
    _hostname(domain)
    return value


_IMAGE = re.compile(
    r"(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@sha256:(?P<digest>[a-f0-9]{64}))?"
)
"""An OCI image reference: repository, optional tag, optional sha256 digest (64 lowercase hex)."""


def _image(value: str) -> str:
    if not _IMAGE.fullmatch(value):
        raise ValueError(
            "must be an image reference such as registry/repo/app:1.2.3 or registry/repo/app@sha256:<64 hex digits>"
        )
    return value


def _env_value(value: str) -> str:
    """A value that systemd's EnvironmentFile, bash and the container env all read back unchanged."""
    if "'" in value:
        raise ValueError("must not contain a single quote (values are single-quoted in the host env file)")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise ValueError("must not contain control characters (line breaks, tabs, NUL, escape) or lone surrogates")
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    return value


def _python_module(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", value, flags=re.ASCII):
        raise ValueError("must be a dotted Python module path, e.g. project.settings")
    return value


Hostname = Annotated[str, Field(max_length=254), AfterValidator(_hostname)]
HostOrIp = Annotated[str, Field(max_length=254), AfterValidator(_host_or_ip)]
Cidr = Annotated[str, Field(max_length=49), AfterValidator(_cidr)]
UrlPath = Annotated[str, Field(max_length=200), AfterValidator(_url_path)]
PythonTarget = Annotated[str, Field(max_length=200), AfterValidator(_python_target)]
PythonModule = Annotated[str, Field(max_length=200), AfterValidator(_python_module)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Image = Annotated[str, Field(max_length=512), AfterValidator(_image)]
PrivateCidr = Annotated[str, Field(max_length=18), AfterValidator(_cidr), AfterValidator(_private_ipv4_cidr)]
EnvName = Annotated[str, Field(max_length=128, pattern=r"^[A-Z][A-Z0-9_]*$")]
EnvValue = Annotated[str, Field(max_length=4096), AfterValidator(_env_value)]
RelativePath = Annotated[str, Field(max_length=1024, pattern=r"^[A-Za-z0-9_./~+-]+$")]
"""A local file or directory path; read where ``pulumi up`` runs, never rendered onto a host."""
OutputName = Annotated[str, Field(max_length=256, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]
Slug = Annotated[str, Field(max_length=100, pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")]
ReleaseId = Annotated[str, Field(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Model(BaseModel):
    """Base of every settings model: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=False,
        validate_by_alias=True,
        # Strict: a YAML `true` is not the number 1, and "10" is not 10.
        strict=True,
    )


# --------------------------------------------------------------------------------------------------
# Environment defaults: typed sizings, applied to keys the stack file leaves out
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvironmentDefaults:
    """What differs by environment when a stack does not say otherwise."""

    deletion_protection: bool
    backup_retention_days: int
    max_instances: int
    multi_az: bool
    aws_db_instance_class: str
    aws_cache_node_type: str
    gcp_db_tier: str
    gcp_min_instances: int
    hsts_seconds: int


ENVIRONMENT_DEFAULTS: dict[str, EnvironmentDefaults] = {
    "dev": EnvironmentDefaults(
        deletion_protection=False,
        backup_retention_days=1,
        max_instances=1,
        multi_az=False,
        aws_db_instance_class="db.t4g.micro",
        aws_cache_node_type="cache.t4g.micro",
        gcp_db_tier="db-g1-small",
        gcp_min_instances=0,
        hsts_seconds=300,
    ),
    "staging": EnvironmentDefaults(
        deletion_protection=False,
        backup_retention_days=7,
        max_instances=3,
        multi_az=False,
        aws_db_instance_class="db.t4g.small",
        aws_cache_node_type="cache.t4g.small",
        gcp_db_tier="db-custom-1-3840",
        gcp_min_instances=0,
        hsts_seconds=300,
    ),
    "prod": EnvironmentDefaults(
        deletion_protection=True,
        backup_retention_days=14,
        max_instances=20,
        multi_az=True,
        aws_db_instance_class="db.t4g.medium",
        aws_cache_node_type="cache.t4g.small",
        gcp_db_tier="db-custom-2-7680",
        gcp_min_instances=1,
        hsts_seconds=31536000,
    ),
}


# --------------------------------------------------------------------------------------------------
# One model per concern
# --------------------------------------------------------------------------------------------------


class AppSettings(_Model):
    """The Django application and the release being deployed."""

    name: Slug = "django"
    """Short name: the unix user, /srv/<name>, unit names and resource name prefix."""
    release_id: ReleaseId
    """Identifies the code being deployed (a version or artifact hash); a change runs a release."""
    source: RelativePath = "examples/django_app"
    """Host targets: directory of the Django project, relative to the Pulumi project root."""
    image: Image | None = None
    """Container targets: image reference, pinned by digest or an immutable tag (never latest)."""
    interface: Literal["wsgi", "asgi"] = "wsgi"
    wsgi_module: PythonTarget = "project.wsgi:application"
    asgi_module: PythonTarget = "project.asgi:application"
    settings_module: PythonModule = "project.settings"
    health_path: UrlPath = "/readyz"
    """Readiness endpoint: checks database and cache; gates releases and load balancers."""
    liveness_path: UrlPath = "/healthz"
    """Liveness endpoint: cheap, touches neither database nor cache."""
    # 100 names of at most 4096 characters: far below Cloud Run's 1000 variables per container
    # (https://cloud.google.com/run/quotas) and small enough for an env file and user data.
    extra_env: Annotated[dict[EnvName, EnvValue], Field(max_length=100)] = {}
    """Extra non-secret environment for the app (secrets never go here). Names that change how
    root, the shell or the interpreter behave, and names the targets set, are refused
    (``components.rules``)."""
    remove_data_on_destroy: bool = False
    """Host targets: ``pulumi destroy`` also drops the local database and role and removes media,
    backups and host secrets. Off: they stay on the host (nothing but this setting deletes data)."""

    @model_validator(mode="after")
    def _image_is_immutable(self) -> AppSettings:
        if self.image is not None:
            ref = self.image
            if "@sha256:" not in ref:
                tag = ref.rsplit("/", 1)[-1].partition(":")[2]
                if not tag:
                    raise ValueError(f"image: {ref!r} has no tag; pin it by digest (@sha256:...) or an immutable tag")
                if tag == "latest":
                    raise ValueError(f"image: {ref!r} uses the mutable tag 'latest'; pin a digest or a release tag")
        return self


class WebSettings(_Model):
    """Gunicorn and the HTTP edge (Nginx or the platform's front end)."""

    workers: Annotated[int, Field(ge=1, le=64)] | None = None
    """Gunicorn workers; unset means 2 x CPU + 1 on hosts, 2 on Cloud Run."""
    threads: Annotated[int, Field(ge=1, le=32)] = 1
    worker_class: Literal["sync", "gthread", "uvicorn"] = "sync"
    timeout_seconds: Annotated[int, Field(ge=5, le=600)] = 30
    graceful_timeout_seconds: Annotated[int, Field(ge=1, le=600)] = 30
    keepalive_seconds: Annotated[int, Field(ge=1, le=75)] = 2
    max_requests: Annotated[int, Field(ge=0, le=1_000_000)] = 1000
    max_requests_jitter: Annotated[int, Field(ge=0, le=100_000)] = 100
    backlog: Annotated[int, Field(ge=64, le=65535)] = 2048
    max_upload_mb: Annotated[int, Field(ge=1, le=1024)] = 10
    """Largest request body in MiB (Nginx client_max_body_size); larger uploads get 413."""
    static_cache_days: Annotated[int, Field(ge=0, le=365)] = 7
    hsts_seconds: Annotated[int, Field(ge=0, le=63072000)] | None = None
    """HSTS max-age; unset: 300 outside prod (staged), one year in prod."""
    x_frame_options: Literal["DENY", "SAMEORIGIN"] = "DENY"
    restart: Literal["on-failure", "always"] = "on-failure"

    @model_validator(mode="after")
    def _jitter_below_max_requests(self) -> WebSettings:
        if self.max_requests and self.max_requests_jitter >= self.max_requests:
            raise ValueError(
                f"maxRequestsJitter: {self.max_requests_jitter} must be below maxRequests ({self.max_requests})"
            )
        if self.threads > 1 and self.worker_class == "sync":
            raise ValueError(
                f"threads: {self.threads} threads need workerClass 'gthread' (sync workers ignore threads)"
            )
        return self


class DatabaseSettings(_Model):
    """PostgreSQL: on the host, external (a URL secret), or managed by the cloud target."""

    mode: Literal["local", "external", "managed"] = "managed"
    name: Annotated[str, Field(max_length=100, pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "app"
    user: Annotated[str, Field(max_length=100, pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "app"
    port: Port = 5432
    version: Literal["14", "15", "16", "17"] = "16"
    storage_gb: Annotated[int, Field(ge=10, le=16384)] = 20
    max_storage_gb: Annotated[int, Field(ge=10, le=65536)] = 100
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] | None = None
    """Managed backups kept, in days; unset: 1 in dev, 7 in staging, 14 in prod."""
    deletion_protection: bool | None = None
    """Unset: on in prod only."""
    multi_az: bool | None = None
    """High availability (Multi-AZ / regional); unset: on in prod only."""
    maintenance_window: Annotated[
        str,
        Field(
            max_length=19,
            pattern=r"^(mon|tue|wed|thu|fri|sat|sun):\d\d:\d\d-(mon|tue|wed|thu|fri|sat|sun):\d\d:\d\d$",
        ),
    ] = "sun:03:00-sun:04:00"
    conn_max_age_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    sslmode: Literal["disable", "prefer", "require", "verify-full"] = "require"

    @model_validator(mode="after")
    def _storage_fits(self) -> DatabaseSettings:
        if self.max_storage_gb < self.storage_gb:
            raise ValueError(f"maxStorageGb: {self.max_storage_gb} must be at least storageGb ({self.storage_gb})")
        return self


class CacheSettings(_Model):
    """Redis for the cache and the Celery broker."""

    mode: Literal["none", "local", "external", "managed"] = "managed"
    port: Port = 6379
    replicas: Annotated[int, Field(ge=0, le=5)] = 0
    memory_gb: Annotated[int, Field(ge=1, le=300)] = 1


class MediaSettings(_Model):
    """User uploads: a local directory served by Nginx, or a private bucket."""

    storage: Literal["local", "s3", "gcs"] = "local"
    bucket_name: Annotated[str, Field(max_length=100, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] | None = None
    """Physical bucket name; unset: derived from the stack."""
    noncurrent_version_days: Annotated[int, Field(ge=1, le=3650)] = 30


QueueName = Annotated[str, Field(max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]


class CelerySettings(_Model):
    """Celery worker and beat."""

    worker: bool = False
    beat: bool = False
    app: PythonModule = "project"
    concurrency: Annotated[int, Field(ge=1, le=64)] = 2
    queues: Annotated[list[QueueName], Field(max_length=20)] = ["celery"]

    @model_validator(mode="after")
    def _beat_needs_worker(self) -> CelerySettings:
        if self.beat and not self.worker:
            raise ValueError("beat: beat schedules tasks that only a worker runs; set worker: true too")
        if not self.queues:
            raise ValueError("queues: must name at least one queue (got [])")
        return self


class TlsSettings(_Model):
    """How the certificate for the custom domains is obtained."""

    mode: Literal["letsencrypt", "acm", "managed", "self-signed"]
    email: Email | None = None
    """ACME account email (letsencrypt)."""
    route53_zone_id: Annotated[str, Field(max_length=100, pattern=r"^Z[A-Z0-9]{1,31}$")] | None = None
    """acm: a Route 53 hosted zone for DNS validation records; unset: validate by hand."""

    @model_validator(mode="after")
    def _email_for_letsencrypt(self) -> TlsSettings:
        if self.mode == "letsencrypt" and not self.email:
            raise ValueError("email: letsencrypt needs an email for expiry notices")
        return self


class DomainSettings(_Model):
    """Public hostnames. Empty: the platform address (IP, load balancer or run.app URL)."""

    names: Annotated[list[Hostname], Field(max_length=100)] = []
    """At most 100: Let's Encrypt's limit of names per certificate
    (https://letsencrypt.org/docs/rate-limits/) and ACM's highest names-per-certificate quota
    (https://docs.aws.amazon.com/acm/latest/userguide/acm-limits.html; the default is 10)."""
    tls: TlsSettings | None = None

    @model_validator(mode="after")
    def _custom_domain_needs_tls(self) -> DomainSettings:
        if self.names and self.tls is None:
            raise ValueError(
                f"tls: custom domains {self.names} need TLS settings; set domain.tls.mode "
                "(letsencrypt, acm, managed or self-signed)"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"names: lists a hostname twice ({self.names})")
        return self


class NetworkReference(_Model):
    """An existing network exported by another stack."""

    stack: Annotated[str, Field(max_length=400, pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")]
    """Fully qualified stack name: org/project/stack (or project/stack on a file backend)."""
    vpc_id_output: OutputName = "vpcId"
    """Output names in the referenced stack; a dotted path reads inside a map output, so another
    stack of this program is referenced with ``networkIds.vpcId`` (and so on)."""
    public_subnet_ids_output: OutputName = "publicSubnetIds"
    private_subnet_ids_output: OutputName = "privateSubnetIds"
    cidr: PrivateCidr | None = None
    """The referenced network's CIDR, when known: checked for overlap with peered ranges."""


class NetworkSettings(_Model):
    """The network the stack runs in: created, or taken from another stack."""

    mode: Literal["create", "reference"] = "create"
    cidr: PrivateCidr = "10.20.0.0/16"
    az_count: Annotated[int, Field(ge=2, le=6)] = 2
    nat: Literal["none", "single", "per-az"] = "single"
    reference: NetworkReference | None = None
    admin_cidrs: Annotated[list[Cidr], Field(max_length=50)] = []
    # 50 leaves room for the group's other rules under AWS's default 60 inbound rules per security
    # group (https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html).
    """Where SSH may come from; empty: SSH closed (Session Manager / console only)."""

    @model_validator(mode="after")
    def _reference_matches_mode(self) -> NetworkSettings:
        if self.mode == "reference" and self.reference is None:
            raise ValueError("reference: mode 'reference' needs network.reference.stack")
        if self.mode == "create" and self.reference is not None:
            raise ValueError("reference: only used with mode 'reference' (mode is 'create')")
        if ipaddress.ip_network(self.cidr).prefixlen > 24:
            raise ValueError(f"cidr: {self.cidr} is too small; use /24 or larger (e.g. /16)")
        for admin in self.admin_cidrs:
            if ipaddress.ip_network(admin).prefixlen == 0:
                raise ValueError(f"adminCidrs: must not contain {admin}; SSH is never open to the world")
        return self


class BackupSettings(_Model):
    """Database dumps taken on the host before every migration."""

    pre_release: bool = True
    keep: Annotated[int, Field(ge=1, le=365)] = 10
    """How many pre-release dumps stay on the host."""


class ObservabilitySettings(_Model):
    """Logs and error reporting."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    sentry: bool = False
    """Report errors to Sentry; needs the secret key sentryDsn."""
    traces_sample_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    log_retention_days: Annotated[int, Field(ge=1, le=3650)] = 14


# --------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------


class ServerTarget(_Model):
    """Any Linux host reachable over SSH (Debian or Ubuntu)."""

    kind: Literal["server"]
    host: HostOrIp
    ssh_port: Port = 22
    ssh_user: Annotated[str, Field(max_length=100, pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "deploy"
    ssh_host_key: (
        Annotated[str, Field(max_length=4096, pattern=r"^(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/=]+$")]
        | None
    ) = None
    """The host's public key ("ssh-ed25519 AAAA..."); every connection verifies it. Unset: the key
    is not checked (only for throwaway hosts such as the local test host)."""
    ssh_key_file: RelativePath | None = None
    """Path (relative to the project root, or absolute) of the deploy user's private key; read at
    deploy time and kept secret. Alternative to the secret key sshPrivateKey."""
    http_port: Port = 80
    https_port: Port = 443
    instances: Annotated[int, Field(ge=1)] = 1
    firewall: bool = True
    """Enable ufw (OpenSSH + HTTP/HTTPS only) and fail2ban."""
    releases_to_keep: Annotated[int, Field(ge=2, le=50)] = 5
    remote_executor: Literal["pulumi-command", "builtin-ssh"] = "pulumi-command"
    """How remote steps run: the pulumi-command provider (``remote.Command``), or, where that
    plugin cannot be installed (air-gapped machines), the program's own SSH dynamic provider with
    the same semantics (``components/host/ssh_provider.py``)."""

    @model_validator(mode="after")
    def _one_host(self) -> ServerTarget:
        if self.instances != 1:
            raise ValueError(
                f"instances: {self.instances}, but the server target is exactly one host "
                "(allowed: 1); use the aws-ec2 target to scale out"
            )
        if self.http_port == self.https_port:
            raise ValueError(f"httpsPort: {self.https_port} is also httpPort; they must differ")
        return self


_AWS_FAMILIES = {
    "t3": ("micro", "small", "medium", "large", "xlarge", "2xlarge"),
    "t3a": ("micro", "small", "medium", "large", "xlarge", "2xlarge"),
    "t4g": ("micro", "small", "medium", "large", "xlarge", "2xlarge"),
    "m6i": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge"),
    "m7i": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge"),
    "m7g": ("medium", "large", "xlarge", "2xlarge", "4xlarge"),
    "c7i": ("large", "xlarge", "2xlarge", "4xlarge"),
    "c7g": ("medium", "large", "xlarge", "2xlarge", "4xlarge"),
    "r7i": ("large", "xlarge", "2xlarge", "4xlarge"),
}


def _aws_instance_type(value: str) -> str:
    family, _, size = value.partition(".")
    if family not in _AWS_FAMILIES:
        raise ValueError(f"unknown instance family {family!r}; known: {', '.join(sorted(_AWS_FAMILIES))}")
    if size not in _AWS_FAMILIES[family]:
        raise ValueError(f"{value!r} does not exist in family {family}; sizes: {', '.join(_AWS_FAMILIES[family])}")
    return value


class AwsEc2Target(_Model):
    """EC2 with Nginx + Gunicorn, RDS, ElastiCache and S3; an ALB + Auto Scaling group past one."""

    kind: Literal["aws-ec2"]
    region: Annotated[str, Field(max_length=100, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")] = "eu-west-1"
    instance_type: Annotated[str, Field(max_length=32), AfterValidator(_aws_instance_type)] = "t3.small"
    instances: Annotated[int, Field(ge=1, le=100)] = 1
    max_instances: Annotated[int, Field(ge=1, le=100)] | None = None
    """Auto Scaling upper bound; unset: twice ``instances``."""
    root_volume_gb: Annotated[int, Field(ge=8, le=1024)] = 20
    db_instance_class: Annotated[str, Field(max_length=100, pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")] | None = None
    cache_node_type: Annotated[str, Field(max_length=100, pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")] | None = None
    ssh_key_name: Annotated[str, Field(max_length=255, pattern=r"^[A-Za-z0-9._-]+$")] | None = None
    """EC2 key pair name: up to 255 ASCII characters
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImportKeyPair.html); letters, digits
    and . _ - only here."""
    releases_to_keep: Annotated[int, Field(ge=2, le=50)] = 5

    @model_validator(mode="after")
    def _bounds(self) -> AwsEc2Target:
        if self.max_instances is not None and self.max_instances < self.instances:
            raise ValueError(f"maxInstances: {self.max_instances} must be at least instances ({self.instances})")
        return self


class GcpCloudRunTarget(_Model):
    """Cloud Run with Cloud SQL, Memorystore, Secret Manager and GCS."""

    kind: Literal["gcp-cloudrun"]
    project: Annotated[str, Field(max_length=100, pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")]
    region: Annotated[str, Field(max_length=100, pattern=r"^[a-z]+-[a-z]+\d$")] = "europe-west1"
    min_instances: Annotated[int, Field(ge=0, le=100)] | None = None
    max_instances: Annotated[int, Field(ge=1, le=1000)] = 10
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 40
    cpu: Literal["1", "2", "4", "8"] = "1"
    memory: Annotated[str, Field(max_length=100, pattern=r"^\d+(Mi|Gi)$")] = "512Mi"
    ingress: Literal["all", "internal", "internal-and-cloud-load-balancing"] = "all"
    public: bool = True
    """Allow unauthenticated invocations (allUsers as invoker); false: IAM-only."""
    db_tier: Annotated[str, Field(max_length=100, pattern=r"^db-[a-z0-9-]+$")] | None = None
    cache_tier: Literal["BASIC", "STANDARD_HA"] = "BASIC"
    egress_subnet_cidr: PrivateCidr = "10.8.0.0/26"
    request_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    migration_attempt: Annotated[int, Field(ge=1, le=1000)] = 1
    """Part of the migration Job's execution token: bump to retry a failed migration of the same
    release (a used token never runs again)."""


Target = Annotated[ServerTarget | AwsEc2Target | GcpCloudRunTarget, Field(discriminator="kind")]

# --------------------------------------------------------------------------------------------------
# The whole stack
# --------------------------------------------------------------------------------------------------

SECRET_KEYS: dict[str, str] = {
    "secretKey": "Django SECRET_KEY; generated (on the host or in the cloud) when unset",
    "databasePassword": "password of the app's role on a local PostgreSQL; generated on the host when unset",
    "databaseUrl": "postgres:// URL of an external database (database.mode: external)",
    "redisPassword": "requirepass of a local Redis; generated on the host when unset",
    "redisUrl": "redis:// URL of an external Redis (cache.mode: external)",
    "sentryDsn": "Sentry DSN (observability.sentry: true)",
    "sshPrivateKey": "private key the deploy user logs in with (server target)",
}
"""Secret config keys and what each is for. Each must be set with ``pulumi config set --secret``."""

CONCERN_KEYS = (
    "app",
    "web",
    "database",
    "cache",
    "media",
    "celery",
    "domain",
    "network",
    "backups",
    "observability",
)


class StackSettings(_Model):
    """Everything a stack says, validated. Built only by the loaders below."""

    environment: Environment
    target: Target
    app: AppSettings
    web: WebSettings = WebSettings()
    database: DatabaseSettings = DatabaseSettings()
    cache: CacheSettings = CacheSettings()
    media: MediaSettings = MediaSettings()
    celery: CelerySettings = CelerySettings()
    domain: DomainSettings = DomainSettings()
    network: NetworkSettings = NetworkSettings()
    backups: BackupSettings = BackupSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    secrets_present: frozenset[str] = frozenset()
    """Which SECRET_KEYS the stack sets (values never enter this model)."""

    @model_validator(mode="before")
    @classmethod
    def _apply_environment_defaults(cls, data: Any) -> Any:
        """Fill keys the stack leaves out from the environment's typed defaults."""
        if not isinstance(data, dict) or data.get("environment") not in ENVIRONMENT_DEFAULTS:
            return data
        env = ENVIRONMENT_DEFAULTS[data["environment"]]
        data = dict(data)
        database = data.get("database", {})
        if isinstance(database, dict):
            database = dict(database)
            database.setdefault("backupRetentionDays", env.backup_retention_days)
            database.setdefault("deletionProtection", env.deletion_protection)
            database.setdefault("multiAz", env.multi_az)
            data["database"] = database
        web = data.get("web", {})
        if isinstance(web, dict):
            web = dict(web)
            web.setdefault("hstsSeconds", env.hsts_seconds)
            data["web"] = web
        target = data.get("target")
        if isinstance(target, dict):
            target = dict(target)
            if target.get("kind") == "aws-ec2":
                target.setdefault("dbInstanceClass", env.aws_db_instance_class)
                target.setdefault("cacheNodeType", env.aws_cache_node_type)
            elif target.get("kind") == "gcp-cloudrun":
                target.setdefault("dbTier", env.gcp_db_tier)
                target.setdefault("minInstances", env.gcp_min_instances)
            data["target"] = target
        return data

    @model_validator(mode="after")
    def _combinations(self) -> StackSettings:
        problems: list[str] = []
        kind = self.target.kind
        env = ENVIRONMENT_DEFAULTS[self.environment]
        if self.celery.worker and self.cache.mode == "none":
            problems.append(
                "celery.worker: Celery needs a broker but cache.mode is 'none' (got worker: true); "
                "set cache.mode to local, external or managed"
            )
        instances = getattr(self.target, "instances", 1)
        if instances > env.max_instances:
            problems.append(
                f"target.instances: {instances} is more than {self.environment} allows "
                f"({env.max_instances}); scale out in staging or prod"
            )
        if kind == "server":
            if self.database.mode == "managed":
                problems.append(
                    "database.mode: 'managed' needs a cloud target (got 'managed' on server); use local or external"
                )
            if self.cache.mode == "managed":
                problems.append(
                    "cache.mode: 'managed' needs a cloud target (got 'managed' on server); use local, external or none"
                )
            if self.media.storage != "local":
                problems.append(
                    f"media.storage: the server target keeps media on the host (got {self.media.storage!r}); use local"
                )
            if self.domain.tls is not None and self.domain.tls.mode in ("acm", "managed"):
                problems.append(
                    f"domain.tls.mode: {self.domain.tls.mode!r} is for cloud targets; use letsencrypt or self-signed"
                )
            if self.network.mode == "reference":
                problems.append(
                    "network.mode: the server target has no cloud network to reference (got 'reference'); use create"
                )
        else:
            if self.database.mode != "managed":
                problems.append(
                    f"database.mode: the {kind} target uses its managed database "
                    f"(got {self.database.mode!r}); use managed"
                )
            if self.cache.mode in ("local", "external"):
                problems.append(
                    f"cache.mode: the {kind} target uses managed Redis (got {self.cache.mode!r}); use managed or none"
                )
        if kind == "aws-ec2":
            if self.media.storage not in ("s3",):
                problems.append(
                    f"media.storage: the aws-ec2 target stores media in S3 (got {self.media.storage!r}); use s3"
                )
            if self.domain.tls is not None and self.domain.tls.mode == "managed":
                problems.append(
                    "domain.tls.mode: 'managed' is for gcp-cloudrun (got 'managed'); use acm or letsencrypt"
                )
            if instances > 1 and self.domain.names and self.domain.tls and self.domain.tls.mode != "acm":
                problems.append(
                    f"domain.tls.mode: behind a load balancer (instances > 1) certificates come from ACM "
                    f"(got {self.domain.tls.mode!r}); use acm"
                )
        if kind == "gcp-cloudrun":
            if self.app.image is None:
                problems.append("app.image: the gcp-cloudrun target deploys a container image; set app.image")
            if self.media.storage != "gcs":
                problems.append(
                    f"media.storage: the gcp-cloudrun target stores media in GCS (got {self.media.storage!r}); use gcs"
                )
            if self.domain.tls is not None and self.domain.tls.mode != "managed":
                problems.append(
                    "domain.tls.mode: Cloud Run domain mappings use managed certificates "
                    f"(got {self.domain.tls.mode!r}); use managed"
                )
            if self.web.workers is not None and self.web.workers > 8:
                problems.append(
                    f"web.workers: Cloud Run instances are small; at most 8 workers (got {self.web.workers})"
                )
        if self.network.mode == "reference" and self.network.reference and self.network.reference.cidr:
            ref = ipaddress.ip_network(self.network.reference.cidr)
            if isinstance(self.target, GcpCloudRunTarget):
                own = ipaddress.ip_network(self.target.egress_subnet_cidr)
                if own.overlaps(ref) and not own.subnet_of(ref):  # type: ignore[arg-type]
                    problems.append(
                        f"target.egressSubnetCidr: {own} overlaps the referenced network {ref} without lying inside it"
                    )

        # Secrets the settings call for. On the server target SECRET_KEY and the local database
        # and Redis passwords are generated on the host when the stack does not set them, so they
        # never enter Pulumi state.
        needed: dict[str, str] = {}
        if self.database.mode == "external":
            needed["databaseUrl"] = "database.mode is external"
        if self.cache.mode == "external":
            needed["redisUrl"] = "cache.mode is external"
        if self.observability.sentry:
            needed["sentryDsn"] = "observability.sentry is true"
        if isinstance(self.target, ServerTarget) and self.target.ssh_key_file is None:
            needed["sshPrivateKey"] = "the server target connects over SSH (or set target.sshKeyFile)"
        for key, why in needed.items():
            if key not in self.secrets_present:
                problems.append(
                    f"{key}: missing secret ({why}); set it with `pulumi config set --secret {key} <value>`"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self


# --------------------------------------------------------------------------------------------------
# Errors: one line per problem, full key, bad value, what is allowed
# --------------------------------------------------------------------------------------------------


_TAGS = {"server", "aws-ec2", "gcp-cloudrun"}
_RELATIVE_KEY = re.compile(r"[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*")


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The camelCase keys a model at ``loc`` accepts (for 'unknown key' messages)."""
    model: Any = StackSettings
    for part in loc:
        if isinstance(part, int):
            continue
        if part in _TAGS:
            model = {
                "server": ServerTarget,
                "aws-ec2": AwsEc2Target,
                "gcp-cloudrun": GcpCloudRunTarget,
            }[part]
            continue
        field = next(
            (f for n, f in model.model_fields.items() if (f.alias or n) == part),
            None,
        )
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nested is None:
            return []
        model = nested
    return sorted((f.alias or n) for n, f in model.model_fields.items() if n != "secrets_present")


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) > 100:
        value = value[:100]  # only the first 77 characters are shown; never dump megabytes
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _key_part(index: int, part: str | int) -> str:
    """One step of a key path: ``.name``, ``[0]``, or ``["odd key"]`` for a dict key that is no name."""
    if isinstance(part, int):
        return f"[{part}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,63}", part):
        return ("." if index else "") + part
    return f"[{_show(part)}]"


def _error_lines(exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if p not in _TAGS)
        path = "".join(_key_part(i, p) for i, p in enumerate(loc))
        key = f"{PROJECT}:{path}"
        etype = err["type"]
        if etype == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            lines.append(
                f"{key}: unknown key (got {_show(err['input'])}); allowed keys here: "
                f"{', '.join(allowed) if allowed else 'none'}"
            )
        elif etype == "missing":
            lines.append(f"{key}: required key is missing")
        elif etype == "union_tag_invalid":
            ctx = err.get("ctx", {})
            lines.append(f"{key}.kind: unknown target {ctx.get('tag')!r}; allowed: {ctx.get('expected_tags')}")
        elif etype == "union_tag_not_found":
            lines.append(f"{key}.kind: required; allowed: 'server', 'aws-ec2', 'gcp-cloudrun'")
        elif etype == "value_error":
            message = str(err.get("ctx", {}).get("error", err["msg"]))
            if not isinstance(err["input"], dict):
                lines.append(f"{key}: {message} (got {_show(err['input'])})")
                continue
            # Checks across fields start each line with the key they are about, relative to
            # the model that raised them ("image: ..."), so the line names the full key.
            for part in message.splitlines():
                field, sep, rest = part.partition(": ")
                if sep and _RELATIVE_KEY.fullmatch(field):
                    lines.append(f"{key}{'.' if loc else ''}{field}: {rest}")
                else:
                    lines.append(f"{key}: {part}")
        else:
            lines.append(f"{key}: {err['msg']} (got {_show(err['input'])})")
    return lines


# --------------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackSecrets:
    """Secret config values as Pulumi secrets (``None`` where the stack does not set one)."""

    values: Mapping[str, pulumi.Output[str] | None]

    def get(self, key: str) -> pulumi.Output[str] | None:
        return self.values.get(key)

    def require(self, key: str) -> pulumi.Output[str]:
        value = self.values.get(key)
        if value is None:
            raise SettingsError([f"{PROJECT}:{key}: missing secret"])
        return value


def validate(
    raw: Mapping[str, Any],
    secrets_present: set[str],
    plaintext_secrets: set[str],
    stack: str | None = None,
) -> StackSettings:
    """Validate raw config (keys without namespace, JSON values) into ``StackSettings``.

    ``stack`` is the Pulumi stack name; physical names derive from it (GCP name limits). Unset (a
    settings dict without a stack file), the environment name stands in for it.

    Every rule runs here: the models' own checks, the cross-target guardrails
    (``components.rules``) and the per-target rules (``components.aws.rules``,
    ``components.gcp.rules``). Raises ``SettingsError`` listing every problem at once.
    """
    lines: list[str] = []
    for key in sorted(plaintext_secrets):
        lines.append(
            f"{PROJECT}:{key}: is stored in plaintext; it is a secret: `pulumi config set --secret {key} <value>`"
        )
    data = {k: v for k, v in raw.items() if k not in SECRET_KEYS}
    data["secretsPresent"] = frozenset(secrets_present)
    try:
        settings = StackSettings.model_validate(data)
    except ValidationError as exc:
        lines.extend(_error_lines(exc))
        raise SettingsError(lines) from None
    lines.extend(guardrail_problems(settings))
    if isinstance(settings.target, AwsEc2Target):
        # AWS-only combinations (NAT for a fleet, CIDR overlap with a referenced network, TLS
        # shapes) live with the AWS rules; checked here so `check` and the program agree.
        lines.extend(aws_problems(settings))
    if isinstance(settings.target, GcpCloudRunTarget):
        lines.extend(gcp_problems(settings, stack or settings.environment))
    # Values the cloud APIs would refuse (name lengths, sizes, counts): components/limits_rules.py.
    # Without a stack name (a settings dict, no stack file) the environment name stands in for it.
    from components.limits_rules import check_settings as check_cloud_limits

    lines.extend(check_cloud_limits(settings, stack or settings.environment))
    if lines:
        raise SettingsError(lines)
    return settings


def _parse_value(key: str, value: Any) -> Any:
    """Pulumi passes object config as JSON text; plain strings stay strings."""
    if isinstance(value, str) and key in (*CONCERN_KEYS, "target"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def load_from_pulumi() -> tuple[StackSettings, StackSecrets]:
    """Read and validate this stack's config inside a Pulumi program."""
    config = pulumi.Config(PROJECT)
    prefix = f"{PROJECT}:"
    all_keys = set(pulumi.runtime.get_config_env()) | set(pulumi.runtime.config.CONFIG.get())
    raw: dict[str, Any] = {}
    secrets_present: set[str] = set()
    plaintext: set[str] = set()
    secret_values: dict[str, pulumi.Output[str] | None] = {}
    for full_key in sorted(all_keys):
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key in SECRET_KEYS:
            secrets_present.add(key)
            if not pulumi.runtime.is_config_secret(full_key):
                plaintext.add(key)
            secret_values[key] = config.require_secret(key)
        else:
            raw[key] = _parse_value(key, pulumi.runtime.get_config(full_key))
    settings = validate(raw, secrets_present, plaintext, pulumi.get_stack())
    from pulumi.runtime.mocks import MockEngine
    from pulumi.runtime.settings import get_engine

    if not isinstance(get_engine(), MockEngine):  # the offline plan stays quiet; `check` shows them
        for line in guardrail_warnings(settings):
            pulumi.log.warn(line)
    return settings, StackSecrets(secret_values)


MAX_STACK_FILE_BYTES = 1_000_000
"""A stack file is a few kilobytes; anything past 1 MB is refused before it is parsed."""


class _StackFileLoader(yaml.SafeLoader):
    """Safe YAML loader that refuses duplicate keys (a silent override is a config bug) and aliases.

    Aliases (``*name``) are refused outright: a chain of them expands exponentially (the "billion
    laughs" bomb), and a stack file has no use for them.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):  # type: ignore[no-untyped-call]
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in a stack file", event.start_mark
            )
        return super().compose_node(parent, index)


def _construct_mapping(loader: _StackFileLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)  # type: ignore[no-untyped-call]
    return mapping


_StackFileLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def read_stack_file(path: Path) -> tuple[dict[str, Any], set[str], set[str]]:
    """Parse ``Pulumi.<stack>.yaml``: (raw config, secret keys set, secret keys in plaintext)."""
    try:
        size = path.stat().st_size
        if size > MAX_STACK_FILE_BYTES:
            raise SettingsError([f"{path}: too large ({size} bytes); a stack file has at most {MAX_STACK_FILE_BYTES}"])
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_StackFileLoader)  # noqa: S506
    except FileNotFoundError:
        raise SettingsError([f"{path}: no such stack file"]) from None
    except UnicodeDecodeError as exc:
        raise SettingsError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except yaml.YAMLError as exc:
        raise SettingsError([f"{path}: not valid YAML: {str(exc).splitlines()[0]}"]) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise SettingsError([f"{path}: a stack file is a YAML mapping with a 'config' key"])
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise SettingsError([f"{path}: 'config' must be a mapping of key: value"])
    raw: dict[str, Any] = {}
    secrets: set[str] = set()
    plaintext: set[str] = set()
    lines: list[str] = []
    for full_key, value in config.items():
        namespace, sep, key = str(full_key).partition(":")
        if not sep:
            lines.append(f"{full_key}: config keys need a namespace, e.g. {PROJECT}:{full_key}")
            continue
        if namespace != PROJECT:
            continue  # provider settings such as aws:region belong to the providers
        is_secure = isinstance(value, dict) and set(value) == {"secure"}
        if key in SECRET_KEYS:
            secrets.add(key)
            if not is_secure:
                plaintext.add(key)
        elif is_secure:
            lines.append(f"{full_key}: only {', '.join(SECRET_KEYS)} are secret keys; this one is not")
        else:
            raw[key] = value
    if lines:
        raise SettingsError(lines)
    return raw, secrets, plaintext


def stack_name(path: Path) -> str | None:
    """``Pulumi.<stack>.yaml`` -> ``<stack>``; None for any other file name."""
    match = re.fullmatch(r"Pulumi\.(.+)\.ya?ml", path.name)
    return match.group(1) if match else None


def load_from_stack_file(path: Path) -> StackSettings:
    """Validate a stack file without Pulumi (``secure:`` values count as present secrets)."""
    raw, secrets, plaintext = read_stack_file(path)
    return validate(raw, secrets, plaintext, stack_name(path))

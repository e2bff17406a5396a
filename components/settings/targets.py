"""``target``: where the stack runs (server, aws-ec2, gcp-cloudrun), discriminated by ``kind``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    model_validator,
)

from .fields import HostOrIp, OsName, Port, PrivateCidr, RelativePath, SettingsModel


class ServerTarget(SettingsModel):
    """Any Linux host reachable over SSH (Debian or Ubuntu)."""

    kind: Literal["server"]
    """Selects this target: any Linux host reached over SSH."""
    host: HostOrIp
    """The host's DNS name or IP address."""
    ssh_port: Port = 22
    """SSH port of the host."""
    ssh_user: Annotated[str, Field(max_length=100, pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "deploy"
    """The deploy user that logs in over SSH (needs passwordless sudo)."""
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
    """Port Nginx serves plain HTTP on."""
    https_port: Port = 443
    """Port Nginx serves HTTPS on (when domain.tls is set)."""
    instances: Annotated[int, Field(ge=1)] = 1
    """Always 1: the server target is one host (use aws-ec2 to scale out)."""
    firewall: bool = True
    """Enable ufw (OpenSSH + HTTP/HTTPS only) and fail2ban."""
    releases_to_keep: Annotated[int, Field(ge=2, le=50)] = 5
    """How many release directories stay on the host for rollback."""
    os: OsName = "debian-12"
    """The host's operating system (debian-12, debian-13, ubuntu-22.04, ubuntu-24.04): package names,
    the default Python and PostgreSQL; the bootstrap stops on a host whose /etc/os-release differs."""
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


class AwsEc2Target(SettingsModel):
    """EC2 with Nginx + Gunicorn, RDS, ElastiCache and S3; an ALB + Auto Scaling group past one."""

    kind: Literal["aws-ec2"]
    """Selects this target: EC2 instances with RDS, ElastiCache and S3."""
    region: Annotated[str, Field(max_length=100, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")] = "eu-west-1"
    """AWS region, e.g. eu-west-1."""
    instance_type: Annotated[str, Field(max_length=32), AfterValidator(_aws_instance_type)] = "t3.small"
    """EC2 instance type of the app hosts (known families and sizes only)."""
    instances: Annotated[int, Field(ge=1, le=100)] = 1
    """App hosts: 1 is a single instance; more puts them in an Auto Scaling group behind an ALB."""
    max_instances: Annotated[int, Field(ge=1, le=100)] | None = None
    """Auto Scaling upper bound; unset: twice ``instances``."""
    root_volume_gb: Annotated[int, Field(ge=8, le=1024)] = 20
    """Root EBS volume size of each app host, in GiB."""
    db_instance_class: Annotated[str, Field(max_length=100, pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")] | None = None
    """RDS instance class of a managed database."""
    cache_node_type: Annotated[str, Field(max_length=100, pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")] | None = None
    """ElastiCache node type of a managed Redis."""
    ssh_key_name: Annotated[str, Field(max_length=255, pattern=r"^[A-Za-z0-9._-]+$")] | None = None
    """EC2 key pair name: up to 255 ASCII characters
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImportKeyPair.html); letters, digits
    and . _ - only here."""
    releases_to_keep: Annotated[int, Field(ge=2, le=50)] = 5
    """How many release directories stay on each host for rollback."""
    os: OsName = "ubuntu-24.04"
    """The hosts' operating system: Canonical's Ubuntu AMI of that release (ubuntu-24.04 or
    ubuntu-22.04; the release path needs the SSM Agent and snapd these images ship)."""

    @model_validator(mode="after")
    def _bounds(self) -> AwsEc2Target:
        if self.max_instances is not None and self.max_instances < self.instances:
            raise ValueError(f"maxInstances: {self.max_instances} must be at least instances ({self.instances})")
        return self


class GcpCloudRunTarget(SettingsModel):
    """Cloud Run with Cloud SQL, Memorystore, Secret Manager and GCS."""

    kind: Literal["gcp-cloudrun"]
    """Selects this target: Cloud Run with Cloud SQL, Memorystore and GCS."""
    project: Annotated[str, Field(max_length=100, pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")]
    """The Google Cloud project ID."""
    region: Annotated[str, Field(max_length=100, pattern=r"^[a-z]+-[a-z]+\d$")] = "europe-west1"
    """Google Cloud region, e.g. europe-west1."""
    min_instances: Annotated[int, Field(ge=0, le=100)] | None = None
    """Cloud Run instances kept warm."""
    max_instances: Annotated[int, Field(ge=1, le=1000)] = 10
    """Upper bound on Cloud Run instances."""
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 40
    """Requests one Cloud Run instance serves at once."""
    cpu: Literal["1", "2", "4", "8"] = "1"
    """vCPUs per Cloud Run instance."""
    memory: Annotated[str, Field(max_length=100, pattern=r"^\d+(Mi|Gi)$")] = "512Mi"
    """Memory per Cloud Run instance, e.g. 512Mi or 2Gi."""
    ingress: Literal["all", "internal", "internal-and-cloud-load-balancing"] = "all"
    """Which traffic may reach the service."""
    public: bool = True
    """Allow unauthenticated invocations (allUsers as invoker); false: IAM-only."""
    db_tier: Annotated[str, Field(max_length=100, pattern=r"^db-[a-z0-9-]+$")] | None = None
    """Cloud SQL machine tier of a managed database."""
    cache_tier: Literal["BASIC", "STANDARD_HA"] = "BASIC"
    """Memorystore tier of a managed Redis (STANDARD_HA: with a replica)."""
    egress_subnet_cidr: PrivateCidr = "10.8.0.0/26"
    """Subnet Cloud Run's Direct VPC egress takes its addresses from."""
    request_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    """Cloud Run request timeout, in seconds."""
    migration_attempt: Annotated[int, Field(ge=1, le=1000)] = 1
    """Part of the migration Job's execution token: bump to retry a failed migration of the same
    release (a used token never runs again)."""


Target = Annotated[ServerTarget | AwsEc2Target | GcpCloudRunTarget, Field(discriminator="kind")]

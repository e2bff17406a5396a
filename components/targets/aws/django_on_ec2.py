"""DjangoOnEc2: the web tier on EC2 (Nginx + Gunicorn under systemd, files from the host layer).

Always:
- Canonical's Ubuntu AMI of ``target.os`` (24.04 LTS by default, or 22.04; ``aws.ec2.get_ami_output``,
  Canonical's account, architecture from the instance family);
- the release archive (``djangostack.host.artifact``) uploaded to ``s3://<bucket>/releases/<id>.tar.gz``;
- a launch template: IMDSv2 only (``http_tokens=required``, hop limit 1), an encrypted gp3 root
  volume, the instance profile, the web security group, and cloud-init user data rendered by the
  host layer (non-secret settings and the secret ARNs only, see ``djangostack.targets.aws.host_integration``).

``instances == 1`` (single):
- one ``aws.ec2.Instance`` from the template in the first public subnet, an Elastic IP allocated
  before it (so ALLOWED_HOSTS can name it in the user data, no second update) and associated to it;
- TLS at Nginx: certbot when ``domain.tls.mode`` is letsencrypt, else a host-generated self-signed
  certificate (the host layer decides from the settings);
- the release step, triggered by ``[release id, hash of the rendered host files, instance id]``:
  over SSH (``pulumi_command.remote.Command`` to the Elastic IP as ``ubuntu``) when the stack sets
  the secret ``sshPrivateKey``, the matching EC2 key pair ``target.sshKeyName``, and
  ``network.adminCidrs`` opens port 22 (to the machine running ``pulumi up``); otherwise through
  Session Manager Run Command (``aws ssm send-command`` from a ``local.Command``: no inbound port,
  no key, only the AWS CLI and credentials where ``pulumi up`` runs).
  It waits for cloud-init, fetches the secrets, installs the archive and runs the full release
  (check, backup, migrate, collectstatic, switch, health gate, rollback on failure); it depends on
  the database and the instance, and a failure fails ``pulumi up``.
  The user data holds no release id, so a release never replaces the instance; a change of the
  rendered host files does (the preview shows the replacement; state lives in RDS and S3).

``instances > 1`` (fleet):
- an ALB in the public subnets: HTTPS listener (TLS 1.2+/1.3 policy) with an ACM certificate for
  ``domain.names`` (DNS validation records in Route 53 plus ``CertificateValidation`` when
  ``domain.tls.route53ZoneId`` is set; without it ``CertificateValidation`` waits until the records
  shown in the component outputs are created by hand), port 80 redirecting to HTTPS; an ALB has no
  certificate without a domain, so ``djangostack.targets.aws.rules.check_settings`` requires domain names
  for a fleet rather than serving plain HTTP;
- a target group on port 80, health check on ``app.livenessPath`` (200 only: the process answers,
  no database or cache involved), deregistration delay just above Gunicorn's graceful timeout.
  Readiness (``app.healthPath``) stays the release gate on the host; were it the ELB check, a
  Multi-AZ failover or a Redis maintenance would mark every host unhealthy and the group would
  replace the whole fleet;
- an Auto Scaling group in the private subnets (min ``instances``, max ``maxInstances`` or 2x),
  ELB health checks with a grace period, CPU target tracking, and a rolling ``instance_refresh``
  that starts whenever the launch template version changes (a new release id is in the user data,
  so every release is a new version). Refresh and instance maintenance policy both launch before
  they terminate: min 100% / max 200% healthy (``djangostack.targets.aws.rules.healthy_percentage_problems``
  checks the API's limits), so capacity never drops below the desired count during a rollout;
- with ``domain.tls.route53ZoneId``: an alias A record per domain name pointing at the ALB.

After the group: ``<name>-refresh-wait`` (``djangostack.targets.aws.fleet_steps``), triggered by the launch
template version, waits for the instance refresh and fails ``pulumi up`` unless it succeeded.

Migrations once per release, before the fleet takes the new code:
``<name>-migrate`` is a ``local.Command`` triggered by the release id (and the archive hash) that
sends the SSM document ``<name>-release`` to ONE running web host of the stack, found by the
launch template's instance tags rather than through the Auto Scaling group (no dependency cycle).
That host fetches the new archive and runs the host layer's full release on itself: venv, check,
backup, ``migrate`` (PostgreSQL advisory lock), collectstatic, switch, health gate, rollback on
failure. The command waits for the invocation and exits non-zero unless it succeeded, which fails
``pulumi up``. The launch template depends on it, so the new template version, and with it the
instance refresh, only exists once the migrations succeeded; until the refresh replaced them the
other hosts keep serving the previous release against the migrated schema (expand/contract
migrations are the app's side of the contract). Hosts started by the refresh or by scale-out
install the same release at boot; their ``migrate`` finds nothing to apply (the advisory lock
serialises them), so the schema changes exactly once.
Before it, ``<name>-db-snapshot`` (when ``backups.preRelease``) takes one manual RDS snapshot per
release (``djangostack.targets.aws.rules.pre_release_snapshot_identifier``), waits for it and prunes the
older ones to ``backups.keep``.
On the very first update there is no host yet: ``<name>-migrate`` notes that and exits 0, and
``<name>-migrate-initial`` (created once, after the Auto Scaling group) runs the release on one
host; until then the first hosts have migrated themselves at boot under the same lock. Its inputs
that change with every release are ignored, so it never runs again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi_command import local, remote

from ...host.context import HostContext
from ...settings.app import AppSettings
from ...settings.data import BackupSettings, DatabaseSettings
from ...settings.domain import DomainSettings
from ...settings.targets import AwsEc2Target
from ...settings.web import WebSettings
from . import fleet_steps
from . import host_integration as hosts
from .rules import (
    CANONICAL_OWNER_ID,
    ami_name_pattern,
    healthy_percentage_problems,
    instance_architecture,
    launch_template_name,
    max_instances,
    pre_release_snapshot_identifier,
    pre_release_snapshot_prefix,
)
from .storage import RELEASES_PREFIX

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
HEALTH_CHECK_GRACE_SECONDS = 600
"""Time a new host gets (first boot: packages, venv, collectstatic) before ELB checks count."""
SSM_TIMEOUT_SECONDS = 1800
INITIAL_MIGRATION_DONE = (
    "echo 'the initial migration ran when the stack was created; releases migrate in the -migrate step'"
)
REFRESH_MIN_HEALTHY_PERCENTAGE = 100
"""Launch before terminate: the fleet never has fewer healthy hosts than desired during a rollout."""
REFRESH_MAX_HEALTHY_PERCENTAGE = 200
"""The whole replacement set starts at once (one batch), then the old hosts drain; the API allows
at most 100 between min and max (``djangostack.targets.aws.rules.HEALTHY_PERCENTAGE_MAX_GAP``)."""


HostDescriber = Callable[[list[str], str], HostContext]
"""``(public_hosts, media_bucket) -> HostContext``: the web hosts' description once the Elastic IP or
the domains and the bucket's physical name are known (``djangostack.stack`` builds it with the
target's ``HostEdge``)."""


@dataclass(frozen=True)
class DjangoOnEc2Args:
    """Inputs of ``DjangoOnEc2``."""

    environment: str
    """``dev``, ``staging`` or ``prod`` (production load balancers get deletion protection)."""
    target: AwsEc2Target
    """Instances (type, count, key), region and the SSH path."""
    app: AppSettings
    """The app, with its release id set (content-derived when the stack sets none)."""
    web: WebSettings
    """Gunicorn's timeouts, which the load balancer's idle timeout and drain delay follow."""
    domain: DomainSettings
    """Hostnames, the certificate mode and the Route 53 zone for the alias and validation records."""
    backups: BackupSettings
    """Whether a fleet release takes an RDS snapshot first, and how many it keeps."""
    database: DatabaseSettings
    """The database's name, user and TLS mode as the hosts connect."""
    admin_cidrs: tuple[str, ...]
    """Sources allowed to SSH in: with a key, the single instance releases over SSH."""
    describe_host: HostDescriber
    """The host layer's description of a web host, once its public names and the bucket are known."""
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[list[str]]
    private_subnet_ids: pulumi.Input[list[str]]
    web_security_group_id: pulumi.Input[str]
    instance_profile_name: pulumi.Input[str]
    app_secret_arn: pulumi.Input[str]
    db_secret_arn: pulumi.Input[str]
    db_address: pulumi.Input[str]
    db_port: pulumi.Input[int]
    bucket_name: pulumi.Input[str]
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What must exist before any release runs (the database, the app secret version)."""
    alb_security_group_id: pulumi.Input[str] | None = None
    """Required when the target has more than one instance."""
    ssh_private_key: pulumi.Input[str] | None = None
    """Secret ``sshPrivateKey``: enables the SSH release path for a single instance."""
    db_instance_identifier: pulumi.Input[str] | None = None
    """RDS instance identifier; with a fleet and ``backups.preRelease``, a snapshot precedes each
    release's migration."""
    tags: dict[str, str] = field(default_factory=dict)
    host_tags: dict[str, str] = field(default_factory=dict)
    """The stack's tags. The provider's default tags do not reach what a launch template launches,
    so the template stamps these on its instances, volumes and network interfaces."""


class DjangoOnEc2(pulumi.ComponentResource):
    """Django on one EC2 instance with an Elastic IP, or on an Auto Scaling group behind an ALB."""

    url: pulumi.Output[str]
    """Public base URL (https://<first domain>, or https://<Elastic IP>)."""
    hostnames: pulumi.Output[list[str]]
    """ALLOWED_HOSTS: domain names, else the Elastic IP."""
    release_id: pulumi.Output[str]
    """The release live once the update finished."""
    release_step: pulumi.Resource
    """The command that runs migrations for this release (tests check what it waits for)."""
    web: pulumi.Resource
    """The instance or the Auto Scaling group that runs the new code."""
    alb_dns_name: pulumi.Output[str] | None
    """The load balancer's DNS name (point the domains' CNAME/alias records here); None when single."""
    alb_zone_id: pulumi.Output[str] | None
    certificate_validation_records: pulumi.Output[list[dict[str, str]]] | None
    """ACM DNS validation records (``domain``, ``name``, ``type``, ``value``); create them by hand
    when no Route 53 zone is configured. None when single."""
    refresh_wait: pulumi.Resource | None
    """The step that fails the update when the fleet's instance refresh fails; None when single."""
    snapshot_step: pulumi.Resource | None
    """The pre-release RDS snapshot the migration waits for; None when single or not configured."""

    def __init__(self, name: str, args: DjangoOnEc2Args, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:aws:DjangoOnEc2", name, None, opts)
        self._name = name
        self._args = args
        self._target = args.target
        self.alb_dns_name = None
        self.alb_zone_id = None
        self.certificate_validation_records = None
        self.refresh_wait = None
        self.snapshot_step = None
        self._artifact = self._upload_archive()
        self._document = self._create_release_document()
        if self._target.instances > 1:
            self._create_fleet()
        else:
            self._create_single()
        release = args.app.release
        # A fleet's release is live once its instance refresh succeeded.
        self.release_id = (
            self.refresh_wait.id.apply(lambda _: release)
            if isinstance(self.refresh_wait, local.Command)
            else pulumi.Output.from_input(release)
        )
        self.register_outputs(
            {
                "url": self.url,
                "hostnames": self.hostnames,
                "releaseId": self.release_id,
            }
        )

    # ------------------------------------------------------------------------------------------
    # Shared pieces
    # ------------------------------------------------------------------------------------------

    def _upload_archive(self) -> hosts.UploadedArchive:
        args = self._args
        path, digest = hosts.build_archive(args.app)
        key = f"{RELEASES_PREFIX}{args.app.release}.tar.gz"
        obj = aws.s3.BucketObjectv2(
            f"{self._name}-archive",
            bucket=self._args.bucket_name,
            key=key,
            source=pulumi.FileAsset(str(path)),
            content_type="application/gzip",
            server_side_encryption="AES256",
            tags={"release": args.app.release},
            opts=pulumi.ResourceOptions(parent=self),
        )
        return hosts.UploadedArchive(obj=obj, key=key, sha256=digest)

    def _create_release_document(self) -> aws.ssm.Document:
        args = self._args
        return aws.ssm.Document(
            f"{self._name}-release",
            document_type="Command",
            document_format="JSON",
            content=hosts.ssm_release_document(args.app.name),
            tags=self._args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _facts(self, public_hosts: pulumi.Input[list[str]], fleet: bool) -> pulumi.Output[hosts.AwsHostFacts]:
        args = self._args
        return pulumi.Output.all(
            public_hosts,
            args.app_secret_arn,
            args.db_secret_arn,
            args.db_address,
            args.db_port,
            args.bucket_name,
        ).apply(
            lambda v: hosts.AwsHostFacts(
                public_hosts=tuple(v[0]),
                region=self._target.region,
                app_secret_arn=v[1],
                db_secret_arn=v[2],
                db_host=v[3],
                db_port=int(v[4]),
                bucket=v[5],
                release_id=args.app.release if fleet else None,
                archive_key=self._artifact.key if fleet else None,
                archive_sha256=self._artifact.sha256 if fleet else None,
            )
        )

    def _host_files(
        self, facts: pulumi.Output[hosts.AwsHostFacts]
    ) -> tuple[hosts.UploadedHostFiles, pulumi.Output[str]]:
        """Upload the host files as one S3 object named by its sha256; return it and the loader.

        The user data is only the loader (``hosts.loader_user_data``): it names the object and its
        digest, so new host files are a new key, new user data and a new launch template version.
        """
        args = self._args
        bundle = facts.apply(
            lambda f: hosts.host_bundle(args.describe_host(list(f.public_hosts), f.bucket), args.database, f)
        )
        obj = aws.s3.BucketObjectv2(
            f"{self._name}-host-files",
            bucket=self._args.bucket_name,
            key=bundle.apply(lambda b: b.key),
            content=bundle.apply(lambda b: b.content),
            content_type="application/json",
            server_side_encryption="AES256",
            opts=pulumi.ResourceOptions(
                parent=self,
                # A new digest is a new key (a replacement). The previous object stays: an older
                # launch template version (an auto-rollback, a manual one) must still boot.
                retain_on_delete=True,
            ),
        )
        user_data = pulumi.Output.all(facts, bundle).apply(lambda v: hosts.loader_user_data(args.app.name, v[0], v[1]))
        return hosts.UploadedHostFiles(obj=obj, sha256=bundle.apply(lambda b: b.sha256)), user_data

    def _ami(self) -> pulumi.Output[aws.ec2.GetAmiResult]:
        arch = instance_architecture(self._target.instance_type)
        return aws.ec2.get_ami_output(
            owners=[CANONICAL_OWNER_ID],
            most_recent=True,
            filters=[
                aws.ec2.GetAmiFilterArgs(name="name", values=[ami_name_pattern(self._target.os, arch)]),
                aws.ec2.GetAmiFilterArgs(name="architecture", values=["arm64" if arch == "arm64" else "x86_64"]),
                aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"]),
                aws.ec2.GetAmiFilterArgs(name="root-device-type", values=["ebs"]),
            ],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )

    def _create_launch_template(
        self, user_data: pulumi.Output[str], depends_on: list[pulumi.Resource]
    ) -> aws.ec2.LaunchTemplate:
        target = self._target
        ami = self._ami()
        instance_tags = {
            **self._args.host_tags,
            **self._args.tags,
            **hosts.instance_tags(self._name),
            "Name": f"{self._name}-web",
        }
        return aws.ec2.LaunchTemplate(
            launch_template_name(self._name, target.os),
            description=f"{self._name}: Django web host",
            image_id=ami.id,
            instance_type=target.instance_type,
            key_name=target.ssh_key_name,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(name=self._args.instance_profile_name),
            vpc_security_group_ids=[self._args.web_security_group_id],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # 1: only processes on the host itself reach IMDS; the app runs no containers.
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ami.root_device_name,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=target.root_volume_gb,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            user_data=user_data.apply(hosts.base64_text),
            update_default_version=True,
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type="instance", tags=instance_tags),
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type="volume", tags=instance_tags),
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type="network-interface", tags=instance_tags),
            ],
            tags=self._args.tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on,
                # The AMI is resolved when the template is created. A newer Ubuntu image must not
                # replace or roll the hosts during an unrelated update (unattended-upgrades patches
                # them in place); take a new image on purpose with `pulumi up --replace`. Another
                # target.os is another template (launch_template_name), so its AMI is looked up anew.
                ignore_changes=["imageId"],
            ),
        )

    # ------------------------------------------------------------------------------------------
    # One instance
    # ------------------------------------------------------------------------------------------

    def _create_single(self) -> None:
        args = self._args
        child = pulumi.ResourceOptions(parent=self)
        eip = aws.ec2.Eip(f"{self._name}-ip", domain="vpc", tags={**args.tags, "Name": f"{self._name}-ip"}, opts=child)
        public_hosts = (
            pulumi.Output.from_input(list(args.domain.names))
            if args.domain.names
            else eip.public_ip.apply(lambda ip: [ip])
        )
        facts = self._facts(public_hosts, fleet=False)
        host_files, user_data = self._host_files(facts)
        template = self._create_launch_template(user_data, [host_files.obj])
        subnet = pulumi.Output.from_input(args.public_subnet_ids).apply(lambda ids: ids[0])
        instance = aws.ec2.Instance(
            f"{self._name}-web",
            launch_template=aws.ec2.InstanceLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            subnet_id=subnet,
            tags={**args.tags, "Name": f"{self._name}-web"},
            opts=child,
        )
        association = aws.ec2.EipAssociation(
            f"{self._name}-ip", allocation_id=eip.allocation_id, instance_id=instance.id, opts=child
        )
        triggers: list[pulumi.Input[str]] = [
            args.app.release,
            host_files.sha256,
            instance.id,
            self._artifact.sha256,
        ]
        waits_for: list[pulumi.Resource] = [*args.depends_on, instance, association, self._artifact.obj]
        if args.ssh_private_key is not None and args.admin_cidrs and self._target.ssh_key_name:
            self.release_step = remote.Command(
                f"{self._name}-release",
                connection=remote.ConnectionArgs(
                    host=eip.public_ip,
                    user="ubuntu",
                    private_key=args.ssh_private_key,
                    dial_error_limit=30,
                    per_dial_timeout=20,
                ),
                create=hosts.release_command(args.app, "release", self._artifact.key, self._artifact.sha256),
                triggers=triggers,
                opts=pulumi.ResourceOptions(parent=self, depends_on=waits_for),
            )
        else:
            self.release_step = self._ssm_command(
                f"{self._name}-release-ssm",
                target_instance=instance.id,
                triggers=triggers,
                depends_on=[*waits_for, self._document],
            )
        self.web = instance
        self.hostnames = public_hosts
        self.url = public_hosts.apply(lambda names: f"https://{names[0]}")

    # ------------------------------------------------------------------------------------------
    # A fleet behind a load balancer
    # ------------------------------------------------------------------------------------------

    def _create_fleet(self) -> None:
        args = self._args
        if args.alb_security_group_id is None:
            raise ValueError("DjangoOnEc2 with several instances needs alb_security_group_id")
        child = pulumi.ResourceOptions(parent=self)
        alb = aws.lb.LoadBalancer(
            f"{self._name}-alb",
            load_balancer_type="application",
            internal=False,
            subnets=args.public_subnet_ids,
            security_groups=[args.alb_security_group_id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.environment == "prod",
            idle_timeout=args.web.timeout_seconds + 30,
            tags=args.tags,
            opts=child,
        )
        target_group = aws.lb.TargetGroup(
            f"{self._name}-web",
            port=80,
            protocol="HTTP",
            target_type="instance",
            vpc_id=args.vpc_id,
            deregistration_delay=args.web.graceful_timeout_seconds + 5,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                # Liveness, not readiness: see the module docstring.
                path=args.app.liveness_path,
                protocol="HTTP",
                port="traffic-port",
                matcher="200",
                interval=15,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags=args.tags,
            opts=child,
        )
        certificate_arn = self._certificate()
        https = aws.lb.Listener(
            f"{self._name}-https",
            load_balancer_arn=alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=certificate_arn,
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)],
            opts=child,
        )
        aws.lb.Listener(
            f"{self._name}-http",
            load_balancer_arn=alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                        protocol="HTTPS", port="443", status_code="HTTP_301"
                    ),
                )
            ],
            opts=child,
        )
        public_hosts = pulumi.Output.from_input(list(args.domain.names))
        facts = self._facts(public_hosts, fleet=True)
        host_files, user_data = self._host_files(facts)

        snapshot = self._pre_release_snapshot()
        migrate = self._ssm_command(
            f"{self._name}-migrate",
            target_instance=None,
            triggers=[args.app.release, self._artifact.sha256],
            depends_on=[*args.depends_on, self._document, self._artifact.obj, *([snapshot] if snapshot else [])],
        )
        template = self._create_launch_template(user_data, [migrate, host_files.obj])
        problems = healthy_percentage_problems(
            REFRESH_MIN_HEALTHY_PERCENTAGE, REFRESH_MAX_HEALTHY_PERCENTAGE, "instanceRefresh.preferences"
        )
        if problems:
            raise ValueError("; ".join(problems))
        group = aws.autoscaling.Group(
            f"{self._name}-web",
            vpc_zone_identifiers=args.private_subnet_ids,
            min_size=self._target.instances,
            max_size=max_instances(self._target),
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            target_group_arns=[target_group.arn],
            health_check_type="ELB",
            health_check_grace_period=HEALTH_CHECK_GRACE_SECONDS,
            default_instance_warmup=120,
            wait_for_capacity_timeout="20m",
            min_elb_capacity=self._target.instances,
            termination_policies=["OldestLaunchTemplate", "OldestInstance"],
            # Health-check replacements launch before they terminate too.
            instance_maintenance_policy=aws.autoscaling.GroupInstanceMaintenancePolicyArgs(
                min_healthy_percentage=REFRESH_MIN_HEALTHY_PERCENTAGE,
                max_healthy_percentage=REFRESH_MAX_HEALTHY_PERCENTAGE,
            ),
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    min_healthy_percentage=REFRESH_MIN_HEALTHY_PERCENTAGE,
                    max_healthy_percentage=REFRESH_MAX_HEALTHY_PERCENTAGE,
                    instance_warmup="120",
                    # No automatic rollback: the provider sets the new launch template version on
                    # the group before it starts the refresh, so a "rollback" goes back to that
                    # same new version (terraform-provider-aws#34189) and keeps replacing hosts.
                    # `<name>-refresh-wait` fails the update instead; the README says how to roll back.
                    auto_rollback=False,
                    skip_matching=True,
                ),
            ),
            tags=[
                aws.autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=False)
                for k, v in sorted({**args.tags, hosts.STACK_TAG: self._name}.items())
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[https]),
        )
        aws.autoscaling.Policy(
            f"{self._name}-cpu",
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration=aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
                predefined_metric_specification=(
                    aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type="ASGAverageCPUUtilization"
                    )
                ),
                target_value=60.0,
            ),
            opts=child,
        )
        # The very first update has no host for `<name>-migrate` to use; this one runs once, after
        # the group's first hosts are in service (later releases migrate before the refresh).
        self._ssm_command(
            f"{self._name}-migrate-initial",
            target_instance=None,
            triggers=None,
            depends_on=[group, migrate],
            initial=True,
        )
        self.refresh_wait = self._local_step(
            f"{self._name}-refresh-wait",
            fleet_steps.INSTANCE_REFRESH_WAIT_SCRIPT,
            {
                "GROUP_NAME": group.name,
                "RELEASE_ID": args.app.release,
                "TIMEOUT_SECONDS": str(fleet_steps.REFRESH_TIMEOUT_SECONDS),
            },
            # Every new launch template version starts a refresh on the group.
            triggers=[template.latest_version],
            depends_on=[group],
            timeout="50m",
        )
        tls = args.domain.tls
        if tls is not None and tls.route53_zone_id is not None:
            for index, domain in enumerate(args.domain.names):
                aws.route53.Record(
                    f"{self._name}-alias-{index}",
                    zone_id=tls.route53_zone_id,
                    name=domain,
                    type="A",
                    aliases=[
                        aws.route53.RecordAliasArgs(name=alb.dns_name, zone_id=alb.zone_id, evaluate_target_health=True)
                    ],
                    opts=child,
                )
        self.release_step = migrate
        self.web = group
        self.hostnames = public_hosts
        self.url = pulumi.Output.from_input(f"https://{args.domain.names[0]}")
        self.alb_dns_name = alb.dns_name
        self.alb_zone_id = alb.zone_id

    def _certificate(self) -> pulumi.Output[str]:
        names = list(self._args.domain.names)
        tls = self._args.domain.tls
        certificate = aws.acm.Certificate(
            f"{self._name}-cert",
            domain_name=names[0],
            subject_alternative_names=names[1:],
            validation_method="DNS",
            key_algorithm="EC_prime256v1",
            tags=self._args.tags,
            # A certificate in use by a listener cannot be deleted; create the new one first.
            opts=pulumi.ResourceOptions(parent=self),
        )
        fqdns: list[pulumi.Output[str]] = []
        if tls is not None and tls.route53_zone_id is not None:
            for index, domain in enumerate(names):
                option = certificate.domain_validation_options.apply(
                    functools.partial(hosts.validation_option, domain=domain)
                )
                record = aws.route53.Record(
                    f"{self._name}-cert-validation-{index}",
                    zone_id=tls.route53_zone_id,
                    name=option.apply(lambda o: o.resource_record_name or ""),
                    type=option.apply(lambda o: o.resource_record_type or "CNAME"),
                    records=[option.apply(lambda o: o.resource_record_value or "")],
                    ttl=300,
                    # apex and www can share one validation record: the second write is a no-op.
                    allow_overwrite=True,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                fqdns.append(record.fqdn)
        self.certificate_validation_records = certificate.domain_validation_options.apply(_validation_records)
        validation = aws.acm.CertificateValidation(
            f"{self._name}-cert",
            certificate_arn=certificate.arn,
            validation_record_fqdns=fqdns or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return validation.certificate_arn

    def _pre_release_snapshot(self) -> local.Command | None:
        """One manual RDS snapshot per release, before its migration (``fleet_steps``)."""
        args = self._args
        if not args.backups.pre_release or args.db_instance_identifier is None:
            return None
        release = args.app.release
        db_id = pulumi.Output.from_input(args.db_instance_identifier)
        self.snapshot_step = self._local_step(
            f"{self._name}-db-snapshot",
            fleet_steps.PRE_RELEASE_SNAPSHOT_SCRIPT,
            {
                "DB_INSTANCE_ID": db_id,
                "SNAPSHOT_ID": db_id.apply(lambda i: pre_release_snapshot_identifier(i, release)),
                "SNAPSHOT_PREFIX": db_id.apply(pre_release_snapshot_prefix),
                "KEEP": str(args.backups.keep),
                "RELEASE_ID": release,
                "STACK_TAG": self._name,
                "TIMEOUT_SECONDS": str(fleet_steps.SNAPSHOT_TIMEOUT_SECONDS),
            },
            # Once per release: a retry of the same release keeps the snapshot of its first try.
            triggers=[release],
            depends_on=list(args.depends_on),
            timeout="65m",
        )
        return self.snapshot_step

    # ------------------------------------------------------------------------------------------
    # Run Command
    # ------------------------------------------------------------------------------------------

    def _ssm_command(
        self,
        resource_name: str,
        *,
        target_instance: pulumi.Input[str] | None,
        triggers: list[pulumi.Input[str]] | None,
        depends_on: list[pulumi.Resource],
        initial: bool = False,
    ) -> local.Command:
        args = self._args
        environment: dict[str, pulumi.Input[str]] = {
            "AWS_DEFAULT_REGION": self._target.region,
            "DOCUMENT": self._document.name,
            "MODE": "release",
            "RELEASE_ID": args.app.release,
            "ARCHIVE_KEY": self._artifact.key,
            "ARCHIVE_SHA256": self._artifact.sha256,
            "STACK_TAG": self._name,
            "TIMEOUT_SECONDS": str(SSM_TIMEOUT_SECONDS),
            # The pre-refresh step finds no host on the very first update; every other run needs one.
            "REQUIRE_HOST": "1" if initial or target_instance is not None else "0",
        }
        if target_instance is not None:
            environment["INSTANCE_ID"] = target_instance
        return self._local_step(
            resource_name,
            hosts.SSM_SEND_COMMAND_SCRIPT,
            environment,
            triggers=triggers,
            depends_on=depends_on,
            timeout="40m",
            # The initial migration runs once, when the stack is created: later releases change
            # its environment, and must neither re-run it nor show it as a change in the preview.
            update=INITIAL_MIGRATION_DONE if initial else None,
            ignore_changes=["environment", "create"] if initial else None,
        )

    def _local_step(
        self,
        resource_name: str,
        script: str,
        environment: dict[str, pulumi.Input[str]],
        *,
        triggers: list[Any] | None,
        depends_on: list[pulumi.Resource],
        timeout: str,
        update: str | None = None,
        ignore_changes: list[str] | None = None,
    ) -> local.Command:
        """A bash step run where Pulumi runs, calling the AWS APIs of the target's region:
        ``script`` on create and (unless ``update`` says otherwise) on update, ``environment``
        plus ``AWS_REGION``, at most ``timeout`` (a Pulumi duration such as ``40m``)."""
        return local.Command(
            resource_name,
            create=script,
            update=update if update is not None else script,
            interpreter=["/bin/bash", "-c"],
            environment={"AWS_REGION": self._target.region, **environment},
            triggers=triggers,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on,
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout),
                ignore_changes=ignore_changes,
            ),
        )


def _validation_records(options: Any) -> list[dict[str, str]]:
    """ACM's DNS validation options as plain records, one per distinct record (names sharing a
    record, such as a wildcard and its apex, list it once)."""
    records: list[dict[str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for option in options or []:
        record = (
            option.resource_record_name or "",
            option.resource_record_type or "CNAME",
            option.resource_record_value or "",
        )
        if record in seen:
            continue
        seen.add(record)
        records.append({"domain": option.domain_name or "", "name": record[0], "type": record[1], "value": record[2]})
    return records

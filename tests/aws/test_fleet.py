"""The aws-ec2 fleet (Auto Scaling group behind an ALB) against what AWS documents: instance refresh
limits, liveness health checks, one RDS snapshot per release, a refresh that fails the update, a
first migration that runs once, and the DNS outputs (the media grant: test_media_access.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from djangostack.offline.mocking import REPO, Recording
from djangostack.settings.errors import SettingsError
from djangostack.settings.loading import load_from_stack_file
from djangostack.targets.aws import fleet_steps
from djangostack.targets.aws.rules import (
    autoscaling_group_limit_problems,
    check_settings,
    healthy_percentage_problems,
    pre_release_snapshot_identifier,
    rds_snapshot_identifier_problems,
)
from djangostack.targets.hosts import host_context
from tests.aws.conftest import SINGLE
from tests.harness import evaluate_stack

FLEET = Path(__file__).parent / "Pulumi.fleet.yaml"
GROUP = "aws:autoscaling/group:Group"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
RDS = "aws:rds/instance:Instance"
ALB = "aws:lb/loadBalancer:LoadBalancer"
RELEASE = "2027.01.15_rc.3"


@pytest.fixture(scope="module")
def fleet() -> Recording:
    return evaluate_stack(FLEET)


# --------------------------------------------------------------------------------------------------
# 1. Instance refresh: values inside the API's limits, and the rule that catches the class
# --------------------------------------------------------------------------------------------------


def test_refresh_and_maintenance_policy_launch_before_terminate_within_the_api_limits(fleet: Recording) -> None:
    group = fleet.one(GROUP).inputs
    preferences = group["instanceRefresh"]["preferences"]
    assert (preferences["minHealthyPercentage"], preferences["maxHealthyPercentage"]) == (100, 200)
    assert preferences["autoRollback"] is False, "the provider's rollback goes back to the new version"
    assert preferences["skipMatching"] is True
    policy = group["instanceMaintenancePolicy"]
    assert (policy["minHealthyPercentage"], policy["maxHealthyPercentage"]) == (100, 200)
    assert autoscaling_group_limit_problems(group) == []


@pytest.mark.parametrize("stack", ["prod", "fleet"])
def test_every_auto_scaling_group_passes_the_healthy_percentage_limit(stack: str, fleet: Recording) -> None:
    rec = fleet if stack == "fleet" else evaluate_stack("prod")
    for group in rec.of_type(GROUP):
        assert autoscaling_group_limit_problems(group.inputs) == [], group.name


@pytest.mark.parametrize(
    ("low", "high", "problem"),
    [
        (90, 200, "gap of at most 100"),
        (None, 200, "minus minHealthyPercentage 90"),
        (0, 101, "gap of at most 100"),
        (101, 200, "outside 0-100"),
        (100, 201, "outside 100-200"),
        (100, 99, "outside 100-200"),
    ],
)
def test_healthy_percentage_rule_rejects_what_the_api_rejects(low: int | None, high: int, problem: str) -> None:
    problems = healthy_percentage_problems(low, high, "instanceRefresh.preferences")
    assert problems and any(problem in p for p in problems), problems
    assert all(p.startswith("instanceRefresh.preferences") for p in problems)


@pytest.mark.parametrize(("low", "high"), [(100, 200), (90, 190), (0, 100), (100, None), (None, 190), (50, 150)])
def test_healthy_percentage_rule_accepts_what_the_api_accepts(low: int | None, high: int | None) -> None:
    assert healthy_percentage_problems(low, high, "x") == []


def test_group_limit_rule_reads_the_recorded_provider_inputs() -> None:
    inputs = {
        "instanceRefresh": {"preferences": {"minHealthyPercentage": 90, "maxHealthyPercentage": 200}},
        "instanceMaintenancePolicy": {"minHealthyPercentage": 50, "maxHealthyPercentage": 200},
    }
    problems = autoscaling_group_limit_problems(inputs)
    assert [p.split(":")[0] for p in problems] == ["instanceRefresh.preferences", "instanceMaintenancePolicy"]


# --------------------------------------------------------------------------------------------------
# 3. ELB health on the liveness path; readiness stays the release gate
# --------------------------------------------------------------------------------------------------


def test_target_group_checks_liveness_so_a_database_failover_replaces_no_host(fleet: Recording) -> None:
    health = fleet.one("aws:lb/targetGroup:TargetGroup").inputs["healthCheck"]
    assert (health["path"], health["matcher"]) == ("/alive/", "200")
    assert fleet.one(GROUP).inputs["healthCheckType"] == "ELB"


def test_hosts_answer_the_liveness_probe_and_gate_releases_on_readiness() -> None:
    from djangostack.host import render

    settings = load_from_stack_file(FLEET)
    files = render.render_all(host_context(settings, public_hosts=["shop.example.org"]))
    site = files["/etc/nginx/sites-available/shop.conf"].content
    default_server = site.split("server {", 2)[1]
    assert "default_server" in default_server
    # The load balancer's probe carries the instance address as Host: the default server answers it.
    assert "location = /alive/ {" in default_server, "the ALB health check would get 444"
    assert "location = /ready/ {" in default_server
    release = files["/usr/local/lib/shop/release"].content
    assert "HEALTH_URL=http://localhost/ready/" in release


# --------------------------------------------------------------------------------------------------
# 7. One RDS snapshot in the migrate step, once per release
# --------------------------------------------------------------------------------------------------


def test_snapshot_identifier_is_derived_from_the_release_and_follows_the_rds_rules() -> None:
    identifier = pre_release_snapshot_identifier("shop-prod-db-postgres", RELEASE)
    assert identifier.startswith("shop-prod-db-postgres-pre-release-2027-01-15-rc-3-")
    assert len(identifier.rsplit("-", 1)[1]) == 8
    assert rds_snapshot_identifier_problems(identifier) == []
    # Release ids that differ only in punctuation get different snapshots.
    assert identifier != pre_release_snapshot_identifier("shop-prod-db-postgres", "2027-01-15-rc-3")
    for release in ("A", "9-", "x" * 63, "1..2__3--4", "Z.9"):
        assert rds_snapshot_identifier_problems(pre_release_snapshot_identifier("db-1", release)) == []


@pytest.mark.parametrize(
    ("identifier", "problem"),
    [
        ("", "1-255"),
        ("a" * 256, "1-255"),
        ("1abc", "start with a letter"),
        ("-abc", "start with a letter"),
        ("abc-", "end with a hyphen"),
        ("a--b", "two hyphens in a row"),
        ("a_b", "letters, digits and hyphens"),
        ("a.b", "letters, digits and hyphens"),
    ],
)
def test_snapshot_identifier_rule_rejects_what_rds_rejects(identifier: str, problem: str) -> None:
    problems = rds_snapshot_identifier_problems(identifier)
    assert any(problem in p for p in problems), problems


def test_one_snapshot_per_release_runs_after_the_database_and_before_the_migration(fleet: Recording) -> None:
    snapshot = fleet.named("shop-prod-app-db-snapshot")
    db = fleet.one(RDS)
    migrate = fleet.named("shop-prod-app-migrate")
    assert snapshot.type == "command:local:Command"
    assert migrate.depends_on(snapshot), "the migration must wait for its snapshot"
    assert fleet.depends_transitively(snapshot, db)
    assert snapshot.inputs["triggers"] == [RELEASE], "once per release, not per archive or per update"
    env = snapshot.inputs["environment"]
    identifier = pre_release_snapshot_identifier(db.state["identifier"], RELEASE)
    assert env == {
        "AWS_REGION": "eu-north-1",
        "DB_INSTANCE_ID": db.state["identifier"],
        "SNAPSHOT_ID": identifier,
        "SNAPSHOT_PREFIX": f"{db.state['identifier']}-pre-release-",
        "KEEP": "4",
        "RELEASE_ID": RELEASE,
        "STACK_TAG": "shop-prod-app",
        "TIMEOUT_SECONDS": str(fleet_steps.SNAPSHOT_TIMEOUT_SECONDS),
    }
    assert snapshot.inputs["create"] == snapshot.inputs["update"] == fleet_steps.PRE_RELEASE_SNAPSHOT_SCRIPT
    assert snapshot.options["custom_timeouts"] == {"create": "65m", "update": "65m"}
    assert fleet_steps.SNAPSHOT_TIMEOUT_SECONDS < 65 * 60


def test_no_snapshot_step_without_pre_release_backups_or_on_a_single_instance() -> None:
    rec = evaluate_stack(FLEET, overrides={"backups": {"preRelease": False}})
    assert not [r for r in rec.of_type("command:local:Command") if r.name.endswith("-db-snapshot")]
    single = evaluate_stack(SINGLE)
    assert not [r for r in single.of_type("command:local:Command") if r.name.endswith("-db-snapshot")]


def test_more_kept_snapshots_than_a_quarter_of_the_rds_quota_are_refused() -> None:
    import yaml

    document = yaml.safe_load(FLEET.read_text())
    document["config"]["djangostack:backups"] = {"preRelease": True, "keep": 26}
    path = Path(os.environ.get("TMPDIR", "/tmp")) / "Pulumi.fleet-keep.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        with pytest.raises(SettingsError, match=r"djangostack:backups.keep: 26 .* at most 25"):
            check_settings(load_from_stack_file(path))
    finally:
        path.unlink()


# --------------------------------------------------------------------------------------------------
# 8. The refresh fails the update; the first migration runs once; DNS outputs and alias records
# --------------------------------------------------------------------------------------------------


def test_the_update_waits_for_the_instance_refresh_of_every_new_template_version(fleet: Recording) -> None:
    wait = fleet.named("shop-prod-app-refresh-wait")
    group = fleet.one(GROUP)
    assert wait.depends_on(group)
    assert wait.inputs["triggers"] == [fleet.one(LT).state["latestVersion"]]
    assert wait.inputs["environment"] == {
        "AWS_REGION": "eu-north-1",
        "GROUP_NAME": group.state["name"],
        "RELEASE_ID": RELEASE,
        "TIMEOUT_SECONDS": str(fleet_steps.REFRESH_TIMEOUT_SECONDS),
    }
    assert wait.inputs["create"] == wait.inputs["update"] == fleet_steps.INSTANCE_REFRESH_WAIT_SCRIPT
    assert wait.options["custom_timeouts"] == {"create": "50m", "update": "50m"}
    assert fleet_steps.REFRESH_TIMEOUT_SECONDS < 50 * 60
    assert fleet.outputs["releaseId"] == RELEASE


def _migrate_initial_diffable_inputs(rec: Recording) -> dict[str, Any]:
    initial = rec.named("shop-prod-app-migrate-initial")
    ignored = set(initial.options["ignore_changes"])
    return {k: v for k, v in initial.inputs.items() if k not in ignored}


def test_the_initial_migration_never_runs_again_on_a_later_release(fleet: Recording) -> None:
    later = evaluate_stack(
        FLEET,
        overrides={
            "app": {
                "name": "shop",
                "releaseId": "2027.02.01-1",
                "source": "examples/django_app",
                "healthPath": "/ready/",
                "livenessPath": "/alive/",
            }
        },
    )
    assert later.named("shop-prod-app-migrate").inputs["environment"]["RELEASE_ID"] == "2027.02.01-1"
    # Pulumi diffs the inputs that are not ignored: equal inputs, no update, no re-run.
    assert _migrate_initial_diffable_inputs(later) == _migrate_initial_diffable_inputs(fleet)
    initial = fleet.named("shop-prod-app-migrate-initial")
    assert initial.inputs["create"] != initial.inputs["update"]
    assert initial.inputs["update"].startswith("echo "), "an update of it must not migrate"
    assert not initial.inputs.get("triggers")


def test_load_balancer_dns_name_and_certificate_validation_records_are_exported(fleet: Recording) -> None:
    alb = fleet.one(ALB)
    assert fleet.outputs["loadBalancerDnsName"] == alb.state["dnsName"]
    certificate = fleet.one("aws:acm/certificate:Certificate").state
    expected = [
        {
            "domain": option["domainName"],
            "name": option["resourceRecordName"],
            "type": option["resourceRecordType"],
            "value": option["resourceRecordValue"],
        }
        for option in certificate["domainValidationOptions"]
    ]
    assert [r["domain"] for r in expected] == ["shop.example.org", "www.shop.example.org"]
    assert fleet.outputs["certificateValidationRecords"] == expected


def test_a_single_instance_exports_no_load_balancer_and_no_validation_records() -> None:
    single = evaluate_stack(SINGLE)
    assert single.outputs["loadBalancerDnsName"] == ""
    assert single.outputs["certificateValidationRecords"] == []


def test_every_domain_gets_an_alias_record_to_the_load_balancer_in_the_given_zone(fleet: Recording) -> None:
    alb = fleet.one(ALB)
    # Resources created inside an apply register in whatever order their inputs resolve: order by
    # name (alias-0, alias-1 follow domain.names).
    aliases = sorted(
        (r for r in fleet.of_type("aws:route53/record:Record") if "-alias-" in r.name), key=lambda r: r.name
    )
    assert [(r.inputs["name"], r.inputs["type"], r.inputs["zoneId"]) for r in aliases] == [
        ("shop.example.org", "A", "Z0FLEET0TEST01"),
        ("www.shop.example.org", "A", "Z0FLEET0TEST01"),
    ]
    for record in aliases:
        assert record.inputs["aliases"] == [
            {"name": alb.state["dnsName"], "zoneId": alb.state["zoneId"], "evaluateTargetHealth": True}
        ]
        assert "allowOverwrite" not in record.inputs or record.inputs["allowOverwrite"] is False


def test_no_alias_record_without_a_zone() -> None:
    rec = evaluate_stack(FLEET, overrides={"domain": {"names": ["shop.example.org"], "tls": {"mode": "acm"}}})
    assert not [r for r in rec.of_type("aws:route53/record:Record")]
    assert len(rec.outputs["certificateValidationRecords"]) == 1


# --------------------------------------------------------------------------------------------------
# The two guard scripts, run against a fake AWS CLI
# --------------------------------------------------------------------------------------------------

FAKE_AWS = r"""#!/usr/bin/env bash
# Fake AWS CLI: logs each call, answers from files in $FAKE.
echo "$*" >> "$FAKE/calls"
args="$*"
next() { # pop the first line of $FAKE/$1 (the last line repeats)
    local file="$FAKE/$1" line
    line="$(head -n 1 "$file")"
    if [[ $(wc -l < "$file") -gt 1 ]]; then sed -i 1d "$file"; fi
    printf '%s\n' "$line"
}
case "$args" in
    *"ec2 describe-instances"*) next instances ;;
    *"rds describe-db-instances"*) next db_status ;;
    *"rds describe-db-snapshots --db-snapshot-identifier"*)
        status="$(next snapshot_status)"
        [[ "$status" == missing ]] && { echo "DBSnapshotNotFound" >&2; exit 254; }
        echo "$status" ;;
    *"rds describe-db-snapshots --db-instance-identifier"*) next old_snapshots ;;
    *"rds create-db-snapshot"*|*"rds delete-db-snapshot"*) echo creating ;;
    *"autoscaling describe-instance-refreshes"*) next refreshes ;;
    *) echo "unexpected call: $args" >&2; exit 99 ;;
esac
"""


def _run_script(tmp_path: Path, script: str, env: dict[str, str], answers: dict[str, str]) -> tuple[int, str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sleep").chmod(0o755)
    for name, text in answers.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "calls").write_text("")
    result = subprocess.run(
        ["/bin/bash", "-c", script],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr, (tmp_path / "calls").read_text()


SNAPSHOT_ENV = {
    "AWS_REGION": "eu-north-1",
    "DB_INSTANCE_ID": "shop-prod-db-postgres",
    "SNAPSHOT_ID": "shop-prod-db-postgres-pre-release-r2-0123abcd",
    "SNAPSHOT_PREFIX": "shop-prod-db-postgres-pre-release-",
    "KEEP": "2",
    "RELEASE_ID": "r2",
    "STACK_TAG": "shop-prod-app",
    "TIMEOUT_SECONDS": "600",
}


def test_snapshot_script_waits_for_the_database_snapshots_once_and_prunes_the_oldest(tmp_path: Path) -> None:
    code, output, calls = _run_script(
        tmp_path,
        fleet_steps.PRE_RELEASE_SNAPSHOT_SCRIPT,
        SNAPSHOT_ENV,
        {
            "instances": "3\n",
            "db_status": "backing-up\navailable\n",
            "snapshot_status": "missing\ncreating\navailable\n",
            "old_snapshots": "shop-prod-db-postgres-pre-release-r0-aaaaaaaa\n",
        },
    )
    assert code == 0, output
    lines = calls.splitlines()
    assert all(line.startswith("--region eu-north-1 ") for line in lines), lines
    creates = [line for line in lines if "create-db-snapshot" in line]
    assert creates == [
        "--region eu-north-1 rds create-db-snapshot --db-instance-identifier shop-prod-db-postgres "
        "--db-snapshot-identifier shop-prod-db-postgres-pre-release-r2-0123abcd "
        "--output text --query DBSnapshot.Status"
    ]
    assert lines.index(creates[0]) > max(i for i, ln in enumerate(lines) if "describe-db-instances" in ln), (
        "the snapshot is requested only once the database is available"
    )
    prune_query = next(line for line in lines if "--snapshot-type manual" in line)
    assert "starts_with(DBSnapshotIdentifier, 'shop-prod-db-postgres-pre-release-')" in prune_query
    assert "[2:]" in prune_query
    assert [line for line in lines if "delete-db-snapshot" in line] == [
        "--region eu-north-1 rds delete-db-snapshot --db-snapshot-identifier "
        "shop-prod-db-postgres-pre-release-r0-aaaaaaaa --output text --query DBSnapshot.Status"
    ]


def test_snapshot_script_reuses_the_snapshot_of_a_failed_first_try(tmp_path: Path) -> None:
    code, output, calls = _run_script(
        tmp_path,
        fleet_steps.PRE_RELEASE_SNAPSHOT_SCRIPT,
        SNAPSHOT_ENV,
        {"instances": "2\n", "snapshot_status": "available\n", "old_snapshots": "None\n"},
    )
    assert code == 0, output
    assert "create-db-snapshot" not in calls and "delete-db-snapshot" not in calls
    assert "taken before release r2 first ran" in output


def test_snapshot_script_skips_the_new_database_of_a_first_update(tmp_path: Path) -> None:
    code, output, calls = _run_script(
        tmp_path, fleet_steps.PRE_RELEASE_SNAPSHOT_SCRIPT, SNAPSHOT_ENV, {"instances": "0\n"}
    )
    assert code == 0, output
    assert "rds" not in calls


def test_snapshot_script_fails_the_release_when_the_snapshot_fails(tmp_path: Path) -> None:
    code, output, calls = _run_script(
        tmp_path,
        fleet_steps.PRE_RELEASE_SNAPSHOT_SCRIPT,
        SNAPSHOT_ENV,
        {"instances": "2\n", "db_status": "available\n", "snapshot_status": "missing\nfailed\n"},
    )
    assert code == 1
    assert "is failed; the release does not migrate without it" in output
    assert "delete-db-snapshot" not in calls


WAIT_ENV = {"AWS_REGION": "eu-north-1", "GROUP_NAME": "shop-web-1", "RELEASE_ID": "r2", "TIMEOUT_SECONDS": "600"}


@pytest.mark.parametrize(
    ("answers", "code", "message"),
    [
        ("r-1\tPending\t0\tNone\nr-1\tInProgress\t50\tNone\nr-1\tSuccessful\t100\tNone\n", 0, "finished"),
        ("r-1\tInProgress\t50\tNone\nr-1\tFailed\t50\tInstances failed to pass health checks\n", 1, "ended Failed"),
        ("r-1\tCancelled\t30\tCancelled by a user\n", 1, "Cancelled by a user"),
        ("r-1\tRollbackSuccessful\t0\tNone\n", 1, "ended RollbackSuccessful"),
        ("None\n", 0, "no instance refresh"),
    ],
)
def test_refresh_wait_script_fails_the_update_unless_the_refresh_succeeded(
    tmp_path: Path, answers: str, code: int, message: str
) -> None:
    got, output, calls = _run_script(
        tmp_path, fleet_steps.INSTANCE_REFRESH_WAIT_SCRIPT, WAIT_ENV, {"refreshes": answers}
    )
    assert got == code, output
    assert message in output
    assert calls.splitlines()[0].startswith(
        "--region eu-north-1 autoscaling describe-instance-refreshes "
        "--auto-scaling-group-name shop-web-1 --max-records 1"
    )


def test_refresh_wait_script_times_out_instead_of_waiting_forever(tmp_path: Path) -> None:
    code, output, _ = _run_script(
        tmp_path,
        fleet_steps.INSTANCE_REFRESH_WAIT_SCRIPT,
        {**WAIT_ENV, "TIMEOUT_SECONDS": "0"},
        {"refreshes": "r-1\tInProgress\t10\tNone\n"},
    )
    assert code == 1
    assert "timed out after 0s: instance refresh r-1 is InProgress" in output


# --------------------------------------------------------------------------------------------------
# 9. README: first deploy, retry after a failed migration, teardown with ALB deletion protection
# --------------------------------------------------------------------------------------------------


def _aws_section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("### AWS (`aws-ec2`)")
    return readme[start : readme.index("\n### ", start + 1)]


def test_readme_aws_section_has_first_deploy_retry_and_teardown_commands() -> None:
    section = _aws_section()
    for needed in (
        "pulumi stack init",
        "pulumi up",
        "aws autoscaling describe-instance-refreshes",
        "aws elbv2 modify-load-balancer-attributes",
        "Key=deletion_protection.enabled,Value=false",
        "aws rds modify-db-instance",
        "--no-deletion-protection",
        "pulumi state unprotect",
        "pulumi destroy",
        "aws rds restore-db-instance-from-db-snapshot",
    ):
        assert needed in section, f"README AWS section lacks {needed!r}"
    for heading in ("First deploy", "Retry after a failed migration", "Roll back", "Tear down"):
        assert heading in section, heading


def test_the_guard_scripts_pass_shellcheck(tmp_path: Path) -> None:
    import shutil

    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    paths = []
    for name, script in (
        ("snapshot.sh", fleet_steps.PRE_RELEASE_SNAPSHOT_SCRIPT),
        ("refresh-wait.sh", fleet_steps.INSTANCE_REFRESH_WAIT_SCRIPT),
    ):
        path = tmp_path / name
        path.write_text("#!/usr/bin/env bash\n" + script, encoding="utf-8")
        paths.append(str(path))
    result = subprocess.run(["shellcheck", *paths], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout

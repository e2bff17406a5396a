"""Stack settings: valid stacks resolve, invalid ones fail with one line per problem naming the key."""

from __future__ import annotations

import contextlib
import copy
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from djangostack.cli.main import main as cli
from djangostack.settings.defaults import ENVIRONMENT_DEFAULTS
from djangostack.settings.errors import SettingsError
from djangostack.settings.fields import PROJECT
from djangostack.settings.loading import load_from_stack_file
from djangostack.settings.stack import SECRET_KEYS
from djangostack.targets.hosts import host_context
from djangostack.validation import validate
from tests.harness import fixture_stack

REPO = Path(__file__).resolve().parents[2]
STACKS = sorted((REPO / "stacks").glob("Pulumi.*.yaml"))


def stack_document(name: str) -> dict[str, Any]:
    return yaml.safe_load(fixture_stack(name).read_text())


def write_stack(tmp_path: Path, document: dict[str, Any], name: str = "test") -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def with_setting(stack: str, key: str, value: Any) -> dict[str, Any]:
    """Fixture stack ``stack`` with ``key`` (``section`` or ``section.name``, under ``djangostack:``)
    set to ``value``."""
    document = stack_document(stack)
    section, _, name = key.partition(".")
    if name:
        document["config"][f"djangostack:{section}"][name] = value
    else:
        document["config"][f"djangostack:{section}"] = value
    return document


def errors_for(tmp_path: Path, document: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_from_stack_file(write_stack(tmp_path, document))
    return caught.value.lines


# --------------------------------------------------------------------------------------------------
# Valid stacks
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.name)
def test_every_stack_file_in_stacks_is_valid(path: Path) -> None:
    settings = load_from_stack_file(path)
    assert settings.app.release_id


def test_the_three_environments_use_the_three_targets() -> None:
    kinds = {name: load_from_stack_file(fixture_stack(name)).target.kind for name in ("dev", "staging", "prod")}
    assert kinds["dev"] == "server"
    assert kinds["staging"] == "gcp-cloudrun"
    assert kinds["prod"] == "aws-ec2"


def test_prod_defaults_protect_data_and_dev_defaults_stay_small() -> None:
    prod = load_from_stack_file(fixture_stack("prod"))
    assert prod.database.deletion_protection is True
    assert prod.database.backup_retention_days == ENVIRONMENT_DEFAULTS["prod"].backup_retention_days >= 7
    assert prod.database.multi_az is True
    assert prod.web.hsts_seconds == 31536000

    document = stack_document("prod")
    document["config"]["djangostack:environment"] = "dev"
    document["config"]["djangostack:target"]["instances"] = 1
    document["config"]["djangostack:target"].pop("maxInstances")
    document["config"]["djangostack:domain"]["tls"]["mode"] = "letsencrypt"
    document["config"]["djangostack:domain"]["tls"]["email"] = "ops@example.com"
    dev = validate(
        {k.partition(":")[2]: v for k, v in document["config"].items() if k.startswith(PROJECT)},
        set(),
        set(),
    )
    assert dev.database.deletion_protection is False
    assert dev.database.multi_az is False
    assert dev.web.hsts_seconds == 300
    assert dev.target.kind == "aws-ec2"
    assert dev.target.db_instance_class == "db.t4g.micro"


def test_an_explicit_setting_wins_over_the_environment_default(tmp_path: Path) -> None:
    document = stack_document("prod")
    document["config"]["djangostack:database"]["deletionProtection"] = False
    settings = load_from_stack_file(write_stack(tmp_path, document))
    assert settings.database.deletion_protection is False


def test_secure_values_count_as_present_secrets(tmp_path: Path) -> None:
    document = stack_document("prod")
    document["config"]["djangostack:observability"] = {"sentry": True}
    assert any("sentryDsn: missing secret" in line for line in errors_for(tmp_path, document))
    document["config"]["djangostack:sentryDsn"] = {"secure": "v1:abc:def"}
    settings = load_from_stack_file(write_stack(tmp_path, document))
    assert "sentryDsn" in settings.secrets_present


# --------------------------------------------------------------------------------------------------
# Invalid stacks: named examples from the issue
# --------------------------------------------------------------------------------------------------


def test_an_unknown_key_is_named_with_the_allowed_keys(tmp_path: Path) -> None:
    [line] = errors_for(tmp_path, with_setting("dev", "web.workerz", 3))
    assert line.startswith("djangostack:web.workerz: unknown key (got 3)")
    assert "workers" in line and "timeoutSeconds" in line


def test_a_wrong_type_names_key_value_and_expectation(tmp_path: Path) -> None:
    [line] = errors_for(tmp_path, with_setting("dev", "web.timeoutSeconds", "slow"))
    assert line.startswith("djangostack:web.timeoutSeconds:")
    assert '"slow"' in line and "integer" in line


def test_an_out_of_range_size_says_what_is_allowed(tmp_path: Path) -> None:
    [line] = errors_for(tmp_path, with_setting("prod", "database.storageGb", 5))
    assert line.startswith("djangostack:database.storageGb:")
    assert "greater than or equal to 10" in line and "(got 5)" in line


def test_a_cidr_that_does_not_parse_is_rejected(tmp_path: Path) -> None:
    [line] = errors_for(tmp_path, with_setting("prod", "network.cidr", "10.0.0.0/33"))
    assert line.startswith("djangostack:network.cidr: must be a CIDR block")


def test_a_hostname_that_does_not_parse_is_rejected(tmp_path: Path) -> None:
    [line] = errors_for(tmp_path, with_setting("prod", "domain.names", ["notes..example.com"]))
    assert line.startswith("djangostack:domain.names[0]: must be a fully qualified DNS name")


def test_celery_without_a_broker_is_impossible(tmp_path: Path) -> None:
    lines = errors_for(tmp_path, with_setting("dev", "cache", {"mode": "none"}))
    assert any(line.startswith("djangostack:celery.worker: Celery needs a broker") for line in lines)


def test_more_than_one_instance_on_the_server_target_is_impossible(tmp_path: Path) -> None:
    [line] = errors_for(tmp_path, with_setting("dev", "target.instances", 2))
    assert line.startswith("djangostack:target.instances: 2, but the server target is exactly one host")


def test_a_custom_domain_without_tls_settings_is_impossible(tmp_path: Path) -> None:
    [line] = errors_for(tmp_path, with_setting("dev", "domain", {"names": ["notes.example.com"]}))
    assert line.startswith("djangostack:domain.tls: custom domains ['notes.example.com'] need TLS settings")


def test_an_image_tagged_latest_is_rejected(tmp_path: Path) -> None:
    [line] = errors_for(tmp_path, with_setting("staging", "app.image", "europe-docker.pkg.dev/p/r/app:latest"))
    assert line.startswith("djangostack:app.image:") and "latest" in line


def test_an_aws_instance_type_outside_its_family_is_rejected(tmp_path: Path) -> None:
    [line] = errors_for(tmp_path, with_setting("prod", "target.instanceType", "t3.mega"))
    assert line.startswith("djangostack:target.instanceType: 't3.mega' does not exist in family t3")


def test_a_secret_in_plaintext_is_refused(tmp_path: Path) -> None:
    [line] = errors_for(tmp_path, with_setting("dev", "secretKey", "not-so-secret"))
    assert line.startswith("djangostack:secretKey: is stored in plaintext")
    assert "not-so-secret" not in line


def test_dev_may_not_scale_out(tmp_path: Path) -> None:
    lines = errors_for(tmp_path, with_setting("prod", "environment", "dev"))
    assert any(line.startswith("djangostack:target.instances: 2 is more than dev allows (1)") for line in lines)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    document = stack_document("dev")
    document["config"]["djangostack:web"]["timeoutSeconds"] = 0
    document["config"]["djangostack:target"]["sshPort"] = 70000
    document["config"]["djangostack:colour"] = "blue"
    lines = errors_for(tmp_path, document)
    assert len(lines) == 3, lines


def test_duplicate_keys_in_a_stack_file_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dup.yaml"
    path.write_text("config:\n  djangostack:environment: dev\n  djangostack:environment: prod\n")
    with pytest.raises(SettingsError) as caught:
        load_from_stack_file(path)
    assert "duplicate key" in caught.value.lines[0]


# --------------------------------------------------------------------------------------------------
# Generated bad configurations
# --------------------------------------------------------------------------------------------------

INT_FIELDS = {
    # (config key, field): (minimum, maximum)
    ("web", "workers"): (1, 64),
    ("web", "timeoutSeconds"): (5, 600),
    ("web", "maxUploadMb"): (1, 1024),
    ("web", "backlog"): (64, 65535),
    ("database", "storageGb"): (10, 16384),
    ("database", "backupRetentionDays"): (1, 35),
    ("database", "port"): (1, 65535),
    ("cache", "port"): (1, 65535),
    ("celery", "concurrency"): (1, 64),
    ("backups", "keep"): (1, 365),
}
STRING_FIELDS = {
    ("network", "cidr"),
    ("app", "settingsModule"),
    ("app", "wsgiModule"),
    ("app", "healthPath"),
    ("app", "releaseId"),
    ("app", "name"),
    ("database", "name"),
    ("observability", "logLevel"),
}


@st.composite
def bad_configurations(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid stack with one thing broken, and the config key the error must name."""
    stack = draw(st.sampled_from(["dev", "prod"]))
    document = copy.deepcopy(stack_document(stack))
    config = document["config"]
    kind = draw(st.sampled_from(["unknown-key", "int-range", "int-type", "string", "host", "combination"]))
    if kind == "unknown-key":
        section = draw(st.sampled_from(["web", "database", "cache", "app", "target"]))
        name = draw(st.from_regex(r"[a-z][a-zA-Z]{2,12}", fullmatch=True))
        config.setdefault(f"djangostack:{section}", {})
        if name in config[f"djangostack:{section}"] or name in {
            "workers", "threads", "name", "port", "host", "mode", "kind", "source", "image", "user", "version",
            "region", "replicas", "backlog", "restart", "interface",
        }:  # fmt: skip
            name += "Zz"
        config[f"djangostack:{section}"][name] = draw(st.integers() | st.text(max_size=5))
        return document, f"djangostack:{section}.{name}"
    if kind in ("int-range", "int-type"):
        (section, field), (low, high) = draw(st.sampled_from(sorted(INT_FIELDS.items())))
        if kind == "int-range":
            value: Any = draw(st.integers(max_value=low - 1) | st.integers(min_value=high + 1))
        else:
            value = draw(
                st.text(alphabet="abcxyz-!", min_size=1, max_size=6)
                | st.lists(st.integers(), max_size=2)
                | st.dictionaries(st.text(max_size=2), st.integers(), max_size=1)
                | st.floats(allow_nan=False).filter(lambda f: not f.is_integer())
            )
        config.setdefault(f"djangostack:{section}", {})[field] = value
        return document, f"djangostack:{section}.{field}"
    if kind == "string":
        section, field = draw(st.sampled_from(sorted(STRING_FIELDS)))
        value = draw(st.sampled_from(["", " ", "../etc", "a b", "$(reboot)", "x" * 300, "10.0.0.0/33", "🙂"]))
        config.setdefault(f"djangostack:{section}", {})[field] = value
        return document, f"djangostack:{section}.{field}"
    if kind == "host":
        bad = draw(
            st.sampled_from(["-bad.example.com", "a..b", "no_underscores.example.com", "999.1.2.3", "x" * 70 + ".com"])
        )
        if stack == "dev":
            config["djangostack:target"]["host"] = bad
            return document, "djangostack:target.host"
        config["djangostack:domain"]["names"] = [bad]
        return document, "djangostack:domain.names[0]"
    combination = draw(st.sampled_from(["celery-no-broker", "server-instances", "domain-no-tls"]))
    document = copy.deepcopy(stack_document("dev"))
    config = document["config"]
    if combination == "celery-no-broker":
        config["djangostack:cache"] = {"mode": "none"}
        return document, "djangostack:celery.worker"
    if combination == "server-instances":
        config["djangostack:target"]["instances"] = draw(st.integers(min_value=2, max_value=50))
        return document, "djangostack:target.instances"
    config["djangostack:domain"] = {"names": ["app.example.com"]}
    return document, "djangostack:domain.tls"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=bad_configurations())
def test_every_bad_configuration_gets_a_keyed_message_and_no_traceback(
    tmp_path: Path, case: tuple[dict[str, Any], str]
) -> None:
    document, key = case
    path = write_stack(tmp_path, document, name="generated")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = cli(["check", str(path)])
    err = stderr.getvalue()
    assert status == 1, f"accepted a bad configuration for {key}: {document}"
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith("invalid stack settings")
    problems = lines[1:]
    assert problems and all(line.startswith("djangostack:") for line in problems), problems
    assert any(line.startswith(key + ":") or line.startswith(key + ".") for line in problems), (key, problems)


# --------------------------------------------------------------------------------------------------
# The check command as a user runs it
# --------------------------------------------------------------------------------------------------


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components", "check", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_prints_resolved_settings_and_exits_zero() -> None:
    result = run_check(fixture_stack("prod"))
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout.split("\n", 1)[1].rsplit("secrets:", 1)[0])
    assert resolved["settings"]["database"]["deletionProtection"] is True
    assert resolved["settings"]["target"]["kind"] == "aws-ec2"


def test_check_fails_with_exit_one_and_no_traceback(tmp_path: Path) -> None:
    document = stack_document("dev")
    document["config"]["djangostack:web"]["maxUploadMb"] = "big"
    result = run_check(write_stack(tmp_path, document))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "djangostack:web.maxUploadMb:" in result.stderr and '"big"' in result.stderr


def test_check_never_prints_a_secret_value(tmp_path: Path) -> None:
    document = stack_document("dev")
    document["config"]["djangostack:secretKey"] = {"secure": "v1:c2VjcmV0:ZW5jcnlwdGVk"}
    result = run_check(write_stack(tmp_path, document))
    assert result.returncode == 0, result.stderr
    assert "c2VjcmV0" not in result.stdout
    assert "secretKey=[secret]" in result.stdout


def test_pulumi_yaml_requires_only_what_every_stack_sets_and_lists_every_secret_key() -> None:
    text = (REPO / "Pulumi.yaml").read_text()
    project = yaml.safe_load(text)
    # Pulumi makes every declared key without a default required: only the always-set keys.
    assert set(project["config"]) == {"djangostack:environment", "djangostack:target", "djangostack:app"}
    for key in SECRET_KEYS:
        line = next((ln for ln in text.splitlines() if ln.startswith(f"#   djangostack:{key} ")), "")
        assert " secret " in line, f"Pulumi.yaml does not list {key} as a secret key"
    assert project["stackConfigDir"] == "stacks"


def test_the_readme_documents_every_output_of_the_contract() -> None:
    from djangostack.contract.outputs import CONTRACT

    readme = (REPO / "README.md").read_text()
    for spec in CONTRACT:
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{spec.name}` |")), None)
        assert row is not None, f"README has no row for output {spec.name}"
        assert ("| yes |" in row) == spec.secret, f"README says the wrong secrecy for {spec.name}"


def test_render_writes_every_host_file_and_the_user_data(tmp_path: Path) -> None:
    from djangostack.host.render import render_all

    out = tmp_path / "host"
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli(["render", "--stack", str(fixture_stack("dev")), "--out", str(out)]) == 0
    files = render_all(host_context(load_from_stack_file(fixture_stack("dev"))))
    for path, host_file in files.items():
        assert (out / path.lstrip("/")).read_text() == host_file.content
    assert (out / "cloud-init/user-data.yaml").read_text().startswith("#cloud-config")
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert cli(["render", "--stack", str(fixture_stack("staging")), "--out", str(out)]) == 1
    assert "no host files" in err.getvalue()


def test_a_cidr_overlapping_the_referenced_network_is_caught_by_check(tmp_path: Path) -> None:
    document = stack_document("prod")
    document["config"]["djangostack:network"] = {
        "mode": "reference",
        "cidr": "10.20.0.0/16",
        "reference": {"stack": "acme/network/prod", "cidr": "10.20.128.0/17"},
    }
    lines = errors_for(tmp_path, document)
    assert any(
        line.startswith("djangostack:network.cidr: 10.20.0.0/16 overlaps the referenced network") for line in lines
    )

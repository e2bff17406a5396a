"""How the EC2 hosts get their files: a small loader in the user data, the files in one S3 object.

EC2 refuses more than 16 KB of raw user data ("Work with instance user data", EC2 User Guide); the
rendered host files are several times that. The user data only names an S3 object and its sha256.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from djangostack.host import render
from djangostack.offline.mocking import REPO, Recording, Registered
from djangostack.settings.loading import load_from_stack_file
from djangostack.targets.aws import host_integration as hosts
from djangostack.targets.hosts import host_context
from tests.aws.conftest import SINGLE
from tests.harness import evaluate_stack, fixture_stack

LT = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
USER_DATA_MARGIN_BYTES = 8 * 1024
"""Half of EC2's 16,384-byte limit: the loader has to stay far away from it."""


def _aws_stack_files() -> list[Path]:
    """Every shipped or test stack file whose target is aws-ec2 (found, not listed by hand)."""
    found = []
    for path in sorted([*REPO.glob("stacks/Pulumi.*.yaml"), *REPO.glob("tests/**/Pulumi.*.yaml")]):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        target = (document.get("config") or {}).get("djangostack:target") or {}
        if target.get("kind") == "aws-ec2":
            found.append(path)
    return found


def _user_data_texts(rec: Recording) -> list[tuple[str, str]]:
    texts = []
    for resource in [*rec.of_type(LT), *rec.of_type(INSTANCE)]:
        encoded = resource.inputs.get("userData")
        if encoded:
            texts.append((resource.name, base64.b64decode(encoded).decode("utf-8")))
    return texts


def _loader(rec: Recording) -> str:
    ((_, text),) = [(n, t) for n, t in _user_data_texts(rec) if n.endswith("-web")]
    return text


def _loader_value(loader: str, name: str) -> str:
    match = re.search(rf"^{name}=(\S+)$", loader, re.M)
    assert match, f"the loader sets no {name}"
    return match.group(1).strip("'")


def _bundle_object(rec: Recording) -> Registered:
    (obj,) = [o for o in rec.of_type(OBJECT) if o.name.endswith("-host-files")]
    return obj


def _huge_settings() -> dict[str, Any]:
    """Large settings: 100 extra environment values (the schema's cap) of 450 characters each (~45 KB)."""
    env = {f"EXTRA_SETTING_{i:03d}": "x" * 450 for i in range(100)}
    document = yaml.safe_load(SINGLE.read_text(encoding="utf-8"))
    app = dict(document["config"]["djangostack:app"])
    app["extraEnv"] = env
    return {"app": app}


# --------------------------------------------------------------------------------------------------
# Size
# --------------------------------------------------------------------------------------------------


def test_the_aws_stacks_are_found() -> None:
    names = {p.relative_to(REPO).as_posix() for p in _aws_stack_files()}
    assert {"stacks/Pulumi.prod.yaml", "tests/aws/Pulumi.single.yaml"} <= names


@pytest.mark.parametrize("stack_file", _aws_stack_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_user_data_of_any_aws_stack_comes_near_the_ec2_limit(stack_file: Path) -> None:
    rec = evaluate_stack(stack_file)
    texts = _user_data_texts(rec)
    assert texts, "no user data found"
    for name, text in texts:
        size = len(text.encode("utf-8"))
        assert size < USER_DATA_MARGIN_BYTES, f"{name}: user data is {size} bytes"
        assert size <= hosts.USER_DATA_LIMIT_BYTES


def test_the_user_data_does_not_grow_with_the_settings() -> None:
    small = evaluate_stack(SINGLE)
    huge = evaluate_stack(SINGLE, overrides=_huge_settings())
    assert len(_bundle_object(huge).inputs["content"]) > len(_bundle_object(small).inputs["content"]) + 40_000
    small_size = len(_loader(small).encode())
    huge_size = len(_loader(huge).encode())
    assert huge_size < USER_DATA_MARGIN_BYTES
    assert abs(huge_size - small_size) < 64, "only the key and digest differ"


def _facts(bucket: str) -> hosts.AwsHostFacts:
    """A single host's facts (no release pinned), with ``bucket`` as the media bucket."""
    return hosts.AwsHostFacts(
        public_hosts=("a.example.com",),
        region="eu-central-1",
        app_secret_arn="arn:app",
        db_secret_arn="arn:db",
        db_host="db",
        db_port=5432,
        bucket=bucket,
    )


def test_the_loader_refuses_to_render_when_it_would_come_near_the_limit() -> None:
    settings = load_from_stack_file(SINGLE)
    facts = _facts(bucket="b" * 9000)
    bundle = hosts.HostBundle(content="{}", sha256="0" * 64, key="host-files/x.json")
    with pytest.raises(ValueError, match=r"EC2 user data is \d+ bytes"):
        hosts.loader_user_data(settings.app.name, facts, bundle)


# --------------------------------------------------------------------------------------------------
# The object and the loader agree
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_the_loader_names_the_host_file_object_and_its_sha256(stack: str, request: Any) -> None:
    rec: Recording = request.getfixturevalue(stack)
    loader = _loader(rec)
    obj = _bundle_object(rec)
    content = obj.inputs["content"]
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    assert _loader_value(loader, "BUNDLE_SHA256") == digest
    assert _loader_value(loader, "BUNDLE_KEY") == obj.inputs["key"] == f"host-files/notes-{digest}.json"
    bucket = rec.one("aws:s3/bucket:Bucket").state["bucket"]
    assert _loader_value(loader, "BUNDLE_BUCKET") == obj.inputs["bucket"] == bucket
    assert obj.inputs["serverSideEncryption"] == "AES256"
    assert obj.options["retain_on_delete"], "older template versions must still find their files"
    template = rec.one(LT)
    assert rec.depends_transitively(template, obj), "no host boots before its files are in S3"


def test_the_media_bucket_that_holds_the_host_files_is_private_versioned_and_encrypted(prod: Recording) -> None:
    assert prod.one("aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"]["status"] == (
        "Enabled"
    )
    block = prod.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))


def test_the_bundle_holds_the_host_layers_first_boot_files_and_the_two_aws_files(single: Recording) -> None:
    settings = load_from_stack_file(SINGLE)
    document = json.loads(_bundle_object(single).inputs["content"])
    written = {f["path"]: f for f in document["files"]}
    ctx = host_context(
        settings,
        public_hosts=list(settings.domain.names),
        media_bucket=single.one("aws:s3/bucket:Bucket").state["bucket"],
    )
    expected = {f.path: f for f in render.first_boot_writes(ctx, render.render_all(ctx))}
    assert set(written) == set(expected) | {"/etc/notes/aws.env", "/usr/local/lib/notes/aws-release"}
    for path, f in expected.items():
        assert written[path]["content"] == f.content, path
        assert (written[path]["mode"], written[path]["owner"], written[path]["group"]) == (
            f.mode_text,
            "root",
            "root",
        )
    assert written["/usr/local/lib/notes/aws-release"]["mode"] == "0755"


def test_the_first_boot_writes_are_what_cloud_init_writes_for_the_server_target() -> None:
    settings = load_from_stack_file(SINGLE)
    ctx = host_context(settings, public_hosts=["a.example.com"], media_bucket="bucket")
    files = render.render_all(ctx)
    document = yaml.safe_load(render.render_cloud_init(ctx, files))
    assert document["write_files"] == [
        {"path": f.path, "permissions": f.mode_text, "owner": "root:root", "content": f.content}
        for f in render.first_boot_writes(ctx, files)
    ]


# --------------------------------------------------------------------------------------------------
# A change of host files rolls the fleet; a release on a single instance does not replace it
# --------------------------------------------------------------------------------------------------


def test_a_host_file_change_is_new_user_data(single: Recording) -> None:
    changed = evaluate_stack(SINGLE, overrides={"web": {"workers": 7}})
    assert _loader(changed) != _loader(single)
    assert _bundle_object(changed).inputs["key"] != _bundle_object(single).inputs["key"]
    release = changed.one("command:remote:Command")
    assert release.inputs["triggers"][1] == _loader_value(_loader(changed), "BUNDLE_SHA256")


def test_a_release_on_the_fleet_is_new_user_data_and_on_a_single_instance_is_not(
    prod: Recording, single: Recording
) -> None:
    prod_settings = yaml.safe_load(fixture_stack("prod").read_text())["config"]["djangostack:app"]
    next_prod = evaluate_stack("prod", overrides={"app": {**prod_settings, "releaseId": "2099.01.01-1"}})
    assert _loader(next_prod) != _loader(prod)
    single_settings = yaml.safe_load(SINGLE.read_text())["config"]["djangostack:app"]
    next_single = evaluate_stack(SINGLE, overrides={"app": {**single_settings, "releaseId": "2099.01.01-1"}})
    assert _loader(next_single) == _loader(single)


# --------------------------------------------------------------------------------------------------
# IAM
# --------------------------------------------------------------------------------------------------


def test_the_instance_role_only_reads_the_host_file_prefix(prod: Recording) -> None:
    policy = json.loads(prod.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    bucket_arn = prod.one("aws:s3/bucket:Bucket").state["arn"]
    covering = [
        s
        for s in policy["Statement"]
        if any(
            r in (f"{bucket_arn}/host-files/*", f"{bucket_arn}/*", "*")
            for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        )
    ]
    assert covering == [
        {
            "Sid": "ReadHostFiles",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{bucket_arn}/host-files/*",
        }
    ]


# --------------------------------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "single"])
def test_the_launch_template_tags_instances_volumes_and_interfaces_with_the_stack_tags(
    stack: str, request: Any
) -> None:
    rec: Recording = request.getfixturevalue(stack)
    provider_tags = rec.one("pulumi:providers:aws").inputs["defaultTags"]
    provider_tags = json.loads(provider_tags) if isinstance(provider_tags, str) else provider_tags
    specs = {s["resourceType"]: s["tags"] for s in rec.one(LT).inputs["tagSpecifications"]}
    assert set(specs) == {"instance", "volume", "network-interface"}
    for kind, tags in specs.items():
        for key, value in provider_tags["tags"].items():
            assert tags.get(key) == value, f"{kind} misses the stack tag {key}"
        assert tags["djangostack:role"] == "web"


# --------------------------------------------------------------------------------------------------
# The loader, run for real with a fake AWS CLI and snapd
# --------------------------------------------------------------------------------------------------


def _fake_tools(tmp_path: Path, bundle_source: Path) -> tuple[Path, Path]:
    """``snap`` (seeding, then installing a fake ``aws``) and the ``aws`` it installs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    aws = (
        "#!/bin/bash\n"
        f'echo "aws $* AWS_REGION=$AWS_REGION AWS_DEFAULT_REGION=$AWS_DEFAULT_REGION" >> {log}\n'
        f'cp {bundle_source} "${{@: -1}}"\n'
    )
    snap = (
        "#!/bin/bash\n"
        f'echo "snap $*" >> {log}\n'
        'if [[ "$1" == install ]]; then\n'
        f"  cat > {bin_dir}/aws <<'EOF'\n{aws}EOF\n"
        f"  chmod +x {bin_dir}/aws\n"
        "fi\n"
    )
    (bin_dir / "snap").write_text(snap)
    (bin_dir / "snap").chmod(0o755)
    return bin_dir, log


def _runnable_loader(tmp_path: Path, files: list[dict[str, str]]) -> tuple[str, Path, str]:
    """A loader for a bundle writing into ``tmp_path`` (owned by the current user)."""
    import grp
    import pwd

    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    for f in files:
        f.update(owner=user, group=group)
    content = json.dumps({"format": 1, "files": files}, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(content.encode()).hexdigest()
    bundle = hosts.HostBundle(content=content, sha256=digest, key=f"host-files/notes-{digest}.json")
    facts = _facts(bucket="notes-media")
    loader = hosts.loader_user_data(load_from_stack_file(SINGLE).app.name, facts, bundle)
    boot = tmp_path / "aws-release-boot"
    boot.write_text(f"#!/bin/bash\necho booted >> {tmp_path}/calls.log\n")
    boot.chmod(0o755)
    loader = loader.replace("exec /usr/local/lib/notes/aws-release boot", f"exec {boot}")
    return loader, tmp_path / "downloaded.json", content


def test_the_loader_waits_for_snap_seeding_checks_the_digest_and_writes_the_files(tmp_path: Path) -> None:
    target = tmp_path / "root" / "etc" / "notes" / "aws.env"
    loader, source, content = _runnable_loader(
        tmp_path, [{"path": str(target), "mode": "0640", "content": "REGION=eu-central-1\n"}]
    )
    source.write_text(content)
    bin_dir, log = _fake_tools(tmp_path, source)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "TMPDIR": str(scratch)}
    result = subprocess.run(["bash", "-c", loader], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert not list(scratch.iterdir()), "the downloaded bundle must not outlive the loader"
    assert target.read_text() == "REGION=eu-central-1\n"
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    calls = log.read_text().splitlines()
    assert calls[0] == "snap wait system seed.loaded"
    assert calls[1] == "snap install aws-cli --classic"
    assert "--region eu-central-1" in calls[2]
    assert "AWS_DEFAULT_REGION=eu-central-1" in calls[2]
    assert calls[-1] == "booted"


def test_the_loader_refuses_a_bundle_whose_digest_does_not_match(tmp_path: Path) -> None:
    target = tmp_path / "root" / "payload"
    loader, source, content = _runnable_loader(tmp_path, [{"path": str(target), "mode": "0600", "content": "good"}])
    source.write_text(content.replace("good", "evil"))
    bin_dir, log = _fake_tools(tmp_path, source)
    result = subprocess.run(
        ["bash", "-c", loader], env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "does not match sha256" in result.stderr
    assert not target.exists()
    assert "booted" not in log.read_text()


def test_the_loader_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    loader, _, _ = _runnable_loader(tmp_path, [])
    script = tmp_path / "loader.sh"
    script.write_text(loader)
    result = subprocess.run([shellcheck, "--severity=warning", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout

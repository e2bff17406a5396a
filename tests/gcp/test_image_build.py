"""app.build: validation of every build setting (the settings model, then the files), the
content-derived tag (what Docker sends: .dockerignore honoured), the build-and-push script (run here
with stand-in CLIs that record their arguments; the real build runs in tests/containers, the push
to Artifact Registry cannot run on a machine without one), and the program's wiring under mocks:
every workload runs the pushed digest, after the build."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from djangostack.settings.app import BuildSettings
from djangostack.settings.errors import SettingsError
from djangostack.targets.gcp import image_build as ib
from djangostack.targets.gcp.naming import execution_token
from djangostack.validation import validate
from tests.gcp.support import JOB, SERVICE, WORKER_POOL, container, migrate_job
from tests.harness import Recording, evaluate_stack, fixture_stack

REPO = Path(__file__).resolve().parents[2]
COMMAND = "command:local:Command"
SAMPLE_BUILD = {"context": "examples/django_app", "buildArgs": {"RELEASE_ID": "notes-src"}}


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "app" / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "app" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (root / "app" / "pkg" / "mod.py").write_text("X = 1\n", encoding="utf-8")
    (root / "app" / "pkg" / "__pycache__" / "mod.pyc").write_bytes(b"\0")
    (root / "outside").mkdir()
    (root / "outside" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    return root


def spec_of(raw: dict[str, Any], root: Path) -> ib.BuildSpec:
    return ib.build_spec(BuildSettings.model_validate(raw), root)


def staging_raw(build: dict[str, Any] | None, **app: Any) -> dict[str, Any]:
    """The staging fixture's settings (keys without namespace) with ``app.build`` instead of the image."""
    document = yaml.safe_load(fixture_stack("staging").read_text(encoding="utf-8"))
    raw = {key.split(":", 1)[1]: value for key, value in document["config"].items() if key.startswith("djangostack:")}
    raw["app"] = {k: v for k, v in raw["app"].items() if k not in ("image", "releaseId")} | app
    if build is not None:
        raw["app"]["build"] = build
    return raw


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as err:
        validate(raw, set(), set(), stack="staging")
    return err.value.lines


def test_the_sample_app_is_a_valid_build() -> None:
    settings = validate(staging_raw(SAMPLE_BUILD), set(), set(), stack="staging")
    assert settings.app.build is not None and settings.app.image is None
    assert ib.build_spec(settings.app.build, REPO) == ib.BuildSpec(
        context="examples/django_app",
        dockerfile="examples/django_app/Dockerfile",
        build_args=(("RELEASE_ID", "notes-src"),),
    )


@pytest.mark.parametrize(
    ("build", "line"),
    [
        ({"context": "../etc"}, "djangostack:app.build.context: String should match pattern"),
        ({"context": "/etc"}, "djangostack:app.build.context: String should match pattern"),
        ({"context": "app/../.."}, "djangostack:app.build.context: String should match pattern"),
        ({"context": "nope"}, "djangostack:app.build.context: 'nope' is not an existing directory"),
        ({"context": "examples/django_app", "dockerfile": "../Dockerfile"}, "djangostack:app.build.dockerfile:"),
        (
            {"context": "examples/django_app", "dockerfile": "Missing"},
            "djangostack:app.build.dockerfile: 'Missing' is not",
        ),
        (
            {"context": ".", "buildArgs": {"A B": "x"}},
            'djangostack:app.build.buildArgs["A B"]["[key]"]: String should match',
        ),
        ({"context": ".", "buildArgs": {"$(id)": "x"}}, "djangostack:app.build.buildArgs"),
        (
            {"context": ".", "buildArgs": {"1A": "x"}},
            'djangostack:app.build.buildArgs["1A"]["[key]"]: String should match',
        ),
        ({"context": ".", "buildArgs": {"A": "$(id)"}}, "djangostack:app.build.buildArgs.A: String should match"),
        ({"context": ".", "buildArgs": {"A": "x\ny"}}, "djangostack:app.build.buildArgs.A: String should match"),
        ({"context": ".", "buildArgs": {"A": "a b"}}, "djangostack:app.build.buildArgs.A: String should match"),
        ({"context": ".", "buildArgs": {"A": "`id`"}}, "djangostack:app.build.buildArgs.A: String should match"),
        ({"context": ".", "buildArgs": {"A": "a'b"}}, "djangostack:app.build.buildArgs.A: String should match"),
        ({"context": ".", "buildArgs": {"A": 1}}, "djangostack:app.build.buildArgs.A: Input should be a valid string"),
        ({"context": ".", "buildArgs": {f"A{i}": "x" for i in range(33)}}, "djangostack:app.build.buildArgs:"),
        ({"context": ".", "builder": "sh -c id"}, "djangostack:app.build.builder: Input should be 'docker' or"),
        ({"context": ".", "imageName": "App"}, "djangostack:app.build.imageName: String should match"),
        ({"context": ".", "imageName": "a//b"}, "djangostack:app.build.imageName: String should match"),
        ({"context": ".", "push": True}, "djangostack:app.build.push: unknown key"),
    ],
)
def test_every_build_setting_is_validated(build: dict[str, Any], line: str) -> None:
    found = problems(staging_raw(build))
    assert any(got.startswith(line) for got in found), found
    assert all("\n" not in got for got in found)


def test_image_and_build_are_exclusive_and_one_is_needed() -> None:
    both = problems(staging_raw(SAMPLE_BUILD, image="europe-west1-docker.pkg.dev/p/r/app:1"))
    assert any(line.startswith("djangostack:app.build: app.image and app.build are both set") for line in both), both
    neither = problems(staging_raw(None))
    assert any(line.startswith("djangostack:app.image: the gcp-cloudrun target deploys") for line in neither)


def test_host_targets_refuse_a_build() -> None:
    document = yaml.safe_load(fixture_stack("dev").read_text(encoding="utf-8"))
    raw = {key.split(":", 1)[1]: value for key, value in document["config"].items() if key.startswith("djangostack:")}
    raw["app"] = {**raw.get("app", {}), "build": SAMPLE_BUILD}
    found = problems(raw)
    assert any(line.startswith("djangostack:app.build: only the gcp-cloudrun target builds") for line in found)


def test_a_symlink_out_of_the_project_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "escape").symlink_to(tmp_path)
    (root / "app" / "Evil").symlink_to(root / "outside" / "Dockerfile")
    (root / "app" / "Gone").symlink_to(tmp_path / "Dockerfile-elsewhere")
    (tmp_path / "Dockerfile-elsewhere").write_text("FROM scratch\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"djangostack:app.build.dockerfile: 'Gone' resolves outside the project"):
        spec_of({"context": "app", "dockerfile": "Gone"}, root)
    with pytest.raises(SettingsError, match=r"djangostack:app.build.context: 'escape' resolves outside the project"):
        spec_of({"context": "escape"}, root)
    # Inside the project is fine, even through a symlink.
    assert spec_of({"context": "app", "dockerfile": "Evil"}, root).dockerfile == "app/Evil"
    assert spec_of({"context": ".", "dockerfile": "app/Dockerfile"}, root).dockerfile == "app/Dockerfile"


def test_the_tag_follows_every_input_and_nothing_else(tmp_path: Path) -> None:
    root = project(tmp_path)
    spec = spec_of({"context": "app"}, root)
    tag = ib.content_tag(spec, root)
    assert tag == ib.content_tag(spec, root) and ib.TAG_PATTERN.match(tag)
    (root / "app" / "pkg" / "__pycache__" / "mod.pyc").write_bytes(b"\1")
    assert ib.content_tag(spec, root) == tag, "byte-code changed the tag"
    (root / "outside" / "Dockerfile").write_text("FROM other\n", encoding="utf-8")
    assert ib.content_tag(spec, root) == tag, "a file outside the context changed the tag"
    (root / "app" / "pkg" / "mod.py").write_text("X = 2\n", encoding="utf-8")
    changed = ib.content_tag(spec, root)
    assert changed != tag
    with_arg = spec_of({"context": "app", "buildArgs": {"A": "1"}}, root)
    assert ib.content_tag(with_arg, root) != changed
    (root / "app" / "pkg" / "new.py").write_text("", encoding="utf-8")
    assert ib.content_tag(spec, root) != changed
    before_chmod = ib.content_tag(spec, root)
    os.chmod(root / "app" / "pkg" / "new.py", 0o755)
    assert ib.content_tag(spec, root) != before_chmod
    before_link = ib.content_tag(spec, root)
    (root / "app" / "link").symlink_to("pkg/mod.py")
    assert "link" in ib.context_files(spec, root)
    assert ib.content_tag(spec, root) != before_link


def test_the_tag_honours_the_dockerignore(tmp_path: Path) -> None:
    """What Docker does not send cannot change the image: .dockerignore (anchored at the context),
    and a Dockerfile's own ``<Dockerfile>.dockerignore`` over it."""
    root = project(tmp_path)
    (root / "app" / "media").mkdir()
    (root / "app" / "media" / "upload.png").write_bytes(b"1")
    (root / "app" / "pkg" / "media").mkdir()
    (root / "app" / "pkg" / "media" / "fixture.png").write_bytes(b"1")
    (root / "app" / ".dockerignore").write_text("# local uploads\nmedia\n", encoding="utf-8")
    spec = spec_of({"context": "app"}, root)
    files = ib.context_files(spec, root)
    assert "media/upload.png" not in files and "pkg/media/fixture.png" in files
    tag = ib.content_tag(spec, root)
    (root / "app" / "media" / "upload.png").write_bytes(b"2")
    assert ib.content_tag(spec, root) == tag, "an ignored file changed the tag"
    (root / "app" / "pkg" / "media" / "fixture.png").write_bytes(b"2")
    assert ib.content_tag(spec, root) != tag, "a file the build sees did not change the tag"
    (root / "app" / "Dockerfile.dockerignore").write_text("pkg\n", encoding="utf-8")
    assert "pkg/mod.py" not in ib.context_files(spec, root)
    assert "media/upload.png" in ib.context_files(spec, root)


def test_the_sample_apps_tag_ignores_what_its_dockerignore_leaves_out() -> None:
    spec = ib.build_spec(BuildSettings.model_validate(SAMPLE_BUILD), REPO)
    files = ib.context_files(spec, REPO)
    assert "manage.py" in files and "requirements.txt" in files
    assert not [f for f in files if f.startswith("tests/") or f == "README.md" or "__pycache__" in f]


def test_reference_limits() -> None:
    image = ib.repository_image("europe-west1", "acme", "notes-prod", "app")
    assert image == "europe-west1-docker.pkg.dev/acme/notes-prod/app"
    assert ib.reference_problems(image, "src-" + "a" * 32) == []
    assert "at most 255" in ib.reference_problems(image + "/x" * 120, "t")[0]
    assert "not a valid Docker tag" in ib.reference_problems(image, "-bad")[0]
    assert "not a valid Docker tag" in ib.reference_problems(image, "a" * 129)[0]


def stub_cli(tmp_path: Path, name: str, *, in_registry: bool = False) -> Path:
    """A stand-in for docker/podman that logs its arguments (one per line) and answers like the
    real CLI: pull fails unless the tag is ``in_registry``, podman push writes the digest file,
    docker image inspect prints RepoDigests, podman image inspect prints the digest."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / f"{name}.log"
    script = f"""#!/bin/sh
printf '%s\\n' "$@" >> {log}
echo --- >> {log}
if [ "$1" = pull ]; then exit {0 if in_registry else 1}; fi
if [ "$1" = push ] && [ "$2" = --digestfile ]; then printf 'sha256:{"7" * 64}' > "$3"; fi
if [ "$1" = image ] && [ "$2" = inspect ] && [ "$3" = --format ] && [ "$4" = '{{{{.Digest}}}}' ]; then
  echo "sha256:{"7" * 64}"; exit 0
fi
if [ "$1" = image ] && [ "$2" = inspect ]; then
  echo "other/repo@sha256:{"1" * 64}"
  echo "europe-west1-docker.pkg.dev/acme/notes/app@sha256:{"7" * 64}"
fi
"""
    (bin_dir / name).write_text(script, encoding="utf-8")
    (bin_dir / name).chmod(0o755)
    return log


@pytest.mark.parametrize("builder", ["podman", "docker"])
def test_the_script_builds_pushes_and_prints_the_digest(tmp_path: Path, builder: str) -> None:
    root = project(tmp_path)
    spec = spec_of(
        {"context": "app", "builder": builder, "buildArgs": {"RELEASE_ID": "a@b", "PYTHON_IMAGE": "x:1"}}, root
    )
    reference = "europe-west1-docker.pkg.dev/acme/notes/app:" + ib.content_tag(spec, root)
    log = stub_cli(tmp_path, builder)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    out = subprocess.run(
        ["/bin/sh", "-c", ib.build_script(spec, reference)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ib.pinned_reference(reference, out) == f"europe-west1-docker.pkg.dev/acme/notes/app@sha256:{'7' * 64}"
    calls = [c.strip().splitlines() for c in log.read_text().split("---") if c.strip()]
    assert calls.pop(0) == ["pull", "--quiet", reference]  # not in the registry yet
    assert calls[0] == [
        "build",
        "--file",
        "app/Dockerfile",
        "--tag",
        reference,
        *(["--no-cache"] if builder == "podman" else []),
        "--build-arg",
        "PYTHON_IMAGE=x:1",
        "--build-arg",
        "RELEASE_ID=a@b",
        "app",
    ]
    assert calls[1][0] == "push" and calls[1][-1] == reference


@pytest.mark.parametrize("builder", ["podman", "docker"])
def test_a_tag_already_in_the_registry_is_deployed_without_a_build(tmp_path: Path, builder: str) -> None:
    """An earlier `up` pushed this tag and was interrupted before its state recorded it: the
    immutable repository would refuse a second push, so the script deploys the pushed image."""
    root = project(tmp_path)
    spec = spec_of({"context": "app", "builder": builder}, root)
    reference = "europe-west1-docker.pkg.dev/acme/notes/app:" + ib.content_tag(spec, root)
    log = stub_cli(tmp_path, builder, in_registry=True)
    ran = subprocess.run(
        ["/bin/sh", "-c", ib.build_script(spec, reference)],
        cwd=root,
        env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert ib.pinned_reference(reference, ran.stdout).endswith("@sha256:" + "7" * 64)
    assert "already in the registry" in ran.stderr
    verbs = [c.strip().splitlines()[0] for c in log.read_text().split("---") if c.strip()]
    assert "build" not in verbs and "push" not in verbs, verbs


def test_no_digest_fails_the_command(tmp_path: Path) -> None:
    root = project(tmp_path)
    spec = spec_of({"context": "app", "builder": "docker"}, root)
    stub_cli(tmp_path, "docker")
    reference = "europe-west1-docker.pkg.dev/acme/other/app:src-1"  # the stub knows no digest for it
    proc = subprocess.run(
        ["/bin/sh", "-c", ib.build_script(spec, reference)],
        cwd=root,
        env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "no digest for the pushed image" in proc.stderr
    with pytest.raises(ValueError, match="printed no digest"):
        ib.pinned_reference(reference, "pushed\n")


def test_an_update_that_keeps_the_tag_answers_the_deployed_digest() -> None:
    digest = "sha256:" + "7" * 64
    ran = subprocess.run(
        ["/bin/sh", "-c", ib.UPDATE_SCRIPT],
        env={"PATH": "/usr/bin:/bin", "PULUMI_COMMAND_STDOUT": f"{digest}\n"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout == f"{digest}\n"
    lost = subprocess.run(["/bin/sh", "-c", ib.UPDATE_SCRIPT], env={"PATH": "/usr/bin:/bin"}, capture_output=True)
    assert lost.returncode != 0


# ------------------------------------------------------------------------------ the program, mocked


@pytest.fixture(scope="module")
def built() -> Recording:
    document = yaml.safe_load(fixture_stack("staging").read_text(encoding="utf-8"))
    app = {k: v for k, v in document["config"]["djangostack:app"].items() if k not in ("image", "releaseId")}
    return evaluate_stack("staging", overrides={"app": {**app, "build": SAMPLE_BUILD}})


def test_every_workload_runs_the_pushed_digest_after_the_build(built: Recording) -> None:
    build = built.named("notes-staging-image-build")
    spec = ib.build_spec(BuildSettings.model_validate(SAMPLE_BUILD), REPO)
    reference = f"europe-west1-docker.pkg.dev/acme-notes-staging/notes-staging/app:{ib.content_tag(spec, REPO)}"
    assert build.inputs["triggers"] == [reference]
    assert build.inputs["create"] == ib.build_script(spec, reference)
    assert "dir" not in build.inputs, "an absolute path in the state would re-run the build on another machine"
    assert "triggers" in build.options["replace_on_changes"]
    assert build.options["custom_timeouts"] == {"create": f"{ib.BUILD_TIMEOUT_MINUTES}m"}
    repository = built.one("gcp:artifactregistry/repository:Repository")
    assert build.depends_on(repository), "the push needs the repository"
    pinned = ib.pinned_reference(reference, build.state["stdout"])
    workloads = [*built.of_type(SERVICE), *built.of_type(JOB), *built.of_type(WORKER_POOL)]
    assert {r.name for r in workloads} == {
        "notes-staging-web",
        "notes-staging-migrate",
        "notes-staging-manage",
        "notes-staging-worker",
        "notes-staging-beat",
    }
    for workload in workloads:
        assert container(workload)["image"] == pinned, workload.name
        assert build.urn in workload.property_dependencies["template"], f"{workload.name} does not wait for the build"


def test_the_release_and_the_migration_token_derive_from_the_content_tag(built: Recording) -> None:
    build = built.named("notes-staging-image-build")
    reference = build.inputs["triggers"][0]
    tag = reference.rsplit(":", 1)[1]
    assert built.outputs["releaseId"] == tag
    service_env = {e["name"]: e.get("value") for e in container(built.one(SERVICE))["envs"]}
    assert service_env["RELEASE_ID"] == tag
    assert migrate_job(built).inputs["runExecutionToken"] == execution_token(tag, reference)


def test_a_given_image_builds_nothing(staging: Recording) -> None:
    assert not [r for r in staging.of_type(COMMAND) if r.name.endswith("-image-build")]
    image = "europe-west1-docker.pkg.dev/acme-notes-staging/notes-staging/app:2026.11.25-1"
    assert container(staging.one(SERVICE))["image"] == image

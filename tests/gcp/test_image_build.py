"""app.build: validation of every build setting, the content-derived tag, and the build-and-push
script (run here with stand-in CLIs that record their arguments; the real build runs in
tests/containers, the push to Artifact Registry cannot run on a machine without one)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from djangostack.settings.errors import SettingsError
from djangostack.targets.gcp import image_build as ib

REPO = Path(__file__).resolve().parents[2]


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "app" / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "app" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (root / "app" / "pkg" / "mod.py").write_text("X = 1\n", encoding="utf-8")
    (root / "app" / "pkg" / "__pycache__" / "mod.pyc").write_bytes(b"\0")
    (root / "outside").mkdir()
    (root / "outside" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    return root


def test_the_sample_app_is_a_valid_build() -> None:
    spec = ib.validate_build({"context": "examples/django_app", "buildArgs": {"RELEASE_ID": "notes@abc123"}}, REPO)
    assert spec == ib.BuildSpec(
        context="examples/django_app",
        dockerfile="examples/django_app/Dockerfile",
        build_args=(("RELEASE_ID", "notes@abc123"),),
    )


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        ({"context": "../etc"}, "djangostack:app.build.context: '../etc' leaves its directory"),
        ({"context": "/etc"}, "djangostack:app.build.context: '/etc' is not allowed"),
        ({"context": "app/../.."}, "djangostack:app.build.context: 'app/../..' leaves its directory"),
        ({"context": "nope"}, "djangostack:app.build.context: 'nope' is not an existing directory"),
        (
            {"context": "app", "dockerfile": "../outside/Dockerfile"},
            "djangostack:app.build.dockerfile: '../outside/Dockerfile'",
        ),
        (
            {"context": "app", "dockerfile": "Missing"},
            "djangostack:app.build.dockerfile: 'Missing' is not an existing file",
        ),
        ({"context": "app", "buildArgs": {"A B": "x"}}, "djangostack:app.build.buildArgs: name 'A B' is not allowed"),
        (
            {"context": "app", "buildArgs": {"$(id)": "x"}},
            "djangostack:app.build.buildArgs: name '$(id)' is not allowed",
        ),
        ({"context": "app", "buildArgs": {"1A": "x"}}, "djangostack:app.build.buildArgs: name '1A' is not allowed"),
        ({"context": "app", "buildArgs": {"A": "$(id)"}}, "djangostack:app.build.buildArgs.A: '$(id)' is not allowed"),
        ({"context": "app", "buildArgs": {"A": "x\ny"}}, "djangostack:app.build.buildArgs.A: 'x\\ny' is not allowed"),
        ({"context": "app", "buildArgs": {"A": "a b"}}, "djangostack:app.build.buildArgs.A: 'a b' is not allowed"),
        ({"context": "app", "buildArgs": {"A": "`id`"}}, "djangostack:app.build.buildArgs.A: '`id`' is not allowed"),
        ({"context": "app", "buildArgs": {"A": "a'b"}}, 'djangostack:app.build.buildArgs.A: "a\'b" is not allowed'),
        ({"context": "app", "buildArgs": {"A": 1}}, "djangostack:app.build.buildArgs.A: 1 is not allowed"),
        ({"context": "app", "buildArgs": {f"A{i}": "x" for i in range(33)}}, "33 build args; at most 32"),
        ({"context": "app", "builder": "sh -c id"}, "djangostack:app.build.builder: 'sh -c id' is not allowed"),
        ({"context": "app", "imageName": "App"}, "djangostack:app.build.imageName: 'App' is not allowed"),
        ({"context": "app", "imageName": "a//b"}, "djangostack:app.build.imageName: 'a//b' is not allowed"),
        ({"context": "app", "push": True}, "djangostack:app.build.push: unknown setting"),
    ],
)
def test_every_build_setting_is_validated(tmp_path: Path, raw: dict[str, object], line: str) -> None:
    root = project(tmp_path)
    with pytest.raises(SettingsError) as err:
        ib.validate_build(raw, root)
    assert any(got.startswith(line) or line in got for got in err.value.lines), err.value.lines
    assert all("\n" not in got for got in err.value.lines)


def test_a_symlink_out_of_the_project_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "escape").symlink_to(tmp_path)
    (root / "app" / "Evil").symlink_to(root / "outside" / "Dockerfile")
    (root / "app" / "Gone").symlink_to(tmp_path / "Dockerfile-elsewhere")
    (tmp_path / "Dockerfile-elsewhere").write_text("FROM scratch\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"djangostack:app.build.dockerfile: 'Gone' resolves outside the project"):
        ib.validate_build({"context": "app", "dockerfile": "Gone"}, root)
    with pytest.raises(SettingsError, match=r"djangostack:app.build.context: 'escape' resolves outside the project"):
        ib.validate_build({"context": "escape"}, root)
    # Inside the project is fine, even through a symlink.
    assert ib.validate_build({"context": "app", "dockerfile": "Evil"}, root).dockerfile == "app/Evil"


def test_the_tag_follows_every_input_and_nothing_else(tmp_path: Path) -> None:
    root = project(tmp_path)
    spec = ib.validate_build({"context": "app"}, root)
    tag = ib.content_tag(spec, root)
    assert tag == ib.content_tag(spec, root) and ib.TAG_PATTERN.match(tag)
    (root / "app" / "pkg" / "__pycache__" / "mod.pyc").write_bytes(b"\1")
    assert ib.content_tag(spec, root) == tag, "byte-code changed the tag"
    (root / "app" / "pkg" / "mod.py").write_text("X = 2\n", encoding="utf-8")
    changed = ib.content_tag(spec, root)
    assert changed != tag
    with_arg = ib.validate_build({"context": "app", "buildArgs": {"A": "1"}}, root)
    assert ib.content_tag(with_arg, root) != changed
    (root / "app" / "pkg" / "new.py").write_text("", encoding="utf-8")
    assert ib.content_tag(spec, root) != changed
    os.chmod(root / "app" / "pkg" / "new.py", 0o755)
    assert len({ib.content_tag(spec, root), changed}) == 2


def test_reference_limits() -> None:
    image = ib.repository_image("europe-west1", "acme", "notes-prod", "app")
    assert image == "europe-west1-docker.pkg.dev/acme/notes-prod/app"
    assert ib.reference_problems(image, "src-" + "a" * 32) == []
    assert "at most 255" in ib.reference_problems(image + "/x" * 120, "t")[0]
    assert "not a valid Docker tag" in ib.reference_problems(image, "-bad")[0]
    assert "not a valid Docker tag" in ib.reference_problems(image, "a" * 129)[0]


def stub_cli(tmp_path: Path, name: str) -> Path:
    """A stand-in for docker/podman that logs its arguments (one per line) and answers like the
    real CLI: podman push writes the digest file, docker image inspect prints RepoDigests."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / f"{name}.log"
    script = f"""#!/bin/sh
printf '%s\\n' "$@" >> {log}
echo --- >> {log}
if [ "$1" = push ] && [ "$2" = --digestfile ]; then printf 'sha256:{"7" * 64}' > "$3"; fi
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
    spec = ib.validate_build(
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


def test_no_digest_fails_the_command(tmp_path: Path) -> None:
    root = project(tmp_path)
    spec = ib.validate_build({"context": "app", "builder": "docker"}, root)
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

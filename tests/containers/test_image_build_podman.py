"""app.build's build-and-push script with the real podman, as far as this machine allows: the
sample app's Dockerfile is built by the exact script the command resource runs, and its push goes
to a local directory instead of Artifact Registry (no registry is reachable here; the push to the
registry and its answer are the part that cannot be tested here)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from djangostack.settings.app import BuildSettings
from djangostack.targets.gcp import image_build as ib
from tests.containers import podman

pytestmark = pytest.mark.containers


def podman_shim(tmp_path: Path) -> Path:
    """A `podman` first on PATH: the project's storage and runtime flags, the local base image and
    the machine's CA for pip on `build`, and a local directory as the registry: `push` writes it,
    `pull` reads it back (and fails while nothing was pushed, as a registry without the tag does)."""
    real = shutil.which("podman")
    assert real, "podman is missing: run scripts/setup.sh"
    flags = " ".join(podman.podman_args()[1:])
    ca = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
    out = tmp_path / "pushed"
    shim = tmp_path / "bin" / "podman"
    shim.parent.mkdir()
    shim.write_text(
        f"""#!/bin/sh
build_flags="--network host --pull=never --secret id=pip_ca,src={ca}"
if [ "$1" = build ]; then shift; exec {real} {flags} build $build_flags "$@"; fi
if [ "$1" = push ]; then shift; exec {real} {flags} push "$@" dir:{out}; fi
if [ "$1" = pull ]; then
  [ -f {out}/manifest.json ] || exit 1
  id="$({real} {flags} pull --quiet dir:{out})" && exec {real} {flags} tag "$id" "$3"
fi
exec {real} {flags} "$@"
""",
        encoding="utf-8",
    )
    shim.chmod(0o755)
    return shim.parent


def test_the_build_script_builds_the_sample_app_and_pins_the_pushed_digest(tmp_path: Path) -> None:
    repo = podman.REPO_ROOT
    base = podman.ensure_base_image()
    settings = BuildSettings.model_validate(
        {
            "context": "examples/django_app",
            "builder": "podman",
            "buildArgs": {"PYTHON_IMAGE": base, "RELEASE_ID": "notes-src"},
        }
    )
    spec = ib.build_spec(settings, repo)
    image = ib.repository_image("europe-west1", "acme-notes-ctest", "notes-containers", spec.image_name)
    reference = f"{image}:{ib.content_tag(spec, repo)}"
    assert ib.reference_problems(image, reference.rsplit(":", 1)[1]) == []
    env = {**podman.podman_env(), "PATH": f"{podman_shim(tmp_path)}:{os.environ['PATH']}"}
    proc = subprocess.run(
        ["/bin/sh", "-c", ib.build_script(spec, reference)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    pinned = ib.pinned_reference(reference, proc.stdout)
    assert pinned.startswith(f"{image}@sha256:")
    # The digest is the pushed manifest's: what the registry would answer and Cloud Run would pull.
    manifest = (tmp_path / "pushed" / "manifest.json").read_bytes()
    assert pinned.endswith(hashlib.sha256(manifest).hexdigest()), "the printed digest is not the pushed manifest's"
    # A later update that keeps the tag builds nothing and answers this same digest.
    again = subprocess.run(
        ["/bin/sh", "-c", ib.UPDATE_SCRIPT],
        env={"PATH": os.environ["PATH"], "PULUMI_COMMAND_STDOUT": proc.stdout},
        capture_output=True,
        text=True,
        check=True,
    )
    assert ib.pinned_reference(reference, again.stdout) == pinned
    # An `up` interrupted after the push runs the build again: the immutable repository already has
    # the tag, so the script deploys that image (same digest) and builds and pushes nothing.
    rerun = subprocess.run(
        ["/bin/sh", "-c", ib.build_script(spec, reference)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "already in the registry" in rerun.stderr, rerun.stderr[-3000:]
    assert ib.pinned_reference(reference, rerun.stdout) == pinned
    # The built image is the app's: non-root, with the release id baked in.
    out = podman.podman(
        "run",
        "--rm",
        "--pull=never",
        "--network",
        "none",
        "--entrypoint",
        '["sh"]',
        reference,
        "-c",
        "id -u; echo $RELEASE_ID",
    ).stdout.split()
    assert out[0] != "0" and out[1] == "notes-src", out

"""podman for the container tests: a project-local configuration and storage, and the local base
image made from a debootstrap'd Debian 13 root (no registry is reachable from CI or this machine).

Everything podman stores lives under ``.cache/containers`` (images, containers, the base root), so
these tests never touch the machine's own podman storage or another suite's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Final

from tools.testhost import host as testhost

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
CACHE_DIR: Final = REPO_ROOT / ".cache" / "containers"
CONTAINERS_CONF: Final = Path(__file__).with_name("containers.conf")
APP_DIR: Final = REPO_ROOT / "examples" / "django_app"

# Bump when the way the base image is built changes (part of the cache key).
BASE_VERSION: Final = "1"
BASE_SUITE: Final = "trixie"  # Debian 13: Python 3.13
# What the sample app's Dockerfile needs from its base: `python` (3.12+) with venv and pip's
# certificates; groupadd/useradd come with minbase (passwd).
BASE_PACKAGES: Final[tuple[str, ...]] = ("python3", "python3-venv", "python-is-python3", "ca-certificates")


class PodmanError(RuntimeError):
    """A podman command failed; the message holds its command line and output."""


def base_cache_key() -> str:
    spec = {"version": BASE_VERSION, "suite": BASE_SUITE, "packages": sorted(BASE_PACKAGES)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


BASE_IMAGE: Final = f"localhost/djangostack-base:{base_cache_key()}"


def missing_tools() -> list[str]:
    return [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return env


def podman_args() -> list[str]:
    """podman with the project's own storage (never /var/lib/containers) and runtime."""
    return [
        "podman",
        "--root",
        str(CACHE_DIR / "storage"),
        "--runroot",
        str(CACHE_DIR / "run"),
        "--runtime",
        "runc",
        "--cgroup-manager",
        "cgroupfs",
    ]


def podman(
    *args: str, check: bool = True, timeout: float = 600, input_: str | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [*podman_args(), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=podman_env(), timeout=timeout, input=input_)
    if check and proc.returncode != 0:
        raise PodmanError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def image_exists(ref: str) -> bool:
    return podman("image", "exists", ref, check=False).returncode == 0


def _customise(root: Path, mirror: str, log: IO[str]) -> None:
    """A small image: no apt lists, no docs, the trixie sources for anyone who extends it."""
    (root / "etc/apt/sources.list").write_text(f"deb {mirror} {BASE_SUITE} main\n", encoding="utf-8")
    for junk in ("var/lib/apt/lists", "var/cache/apt/archives", "usr/share/doc", "usr/share/man"):
        path = root / junk
        if path.is_dir():
            shutil.rmtree(path)
            path.mkdir()
    log.write("container base customised\n")


def ensure_base_image() -> str:
    """The local base image (built from a cached debootstrap root, imported once per key)."""
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    root = testhost.build_cached_root(
        CACHE_DIR / "base",
        key=base_cache_key(),
        suite=BASE_SUITE,
        include=BASE_PACKAGES,
        customise=_customise,
    )
    tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE)
    assert tar.stdout is not None
    proc = subprocess.run(
        [*podman_args(), "import", "--change", 'CMD ["python"]', "-", BASE_IMAGE],
        stdin=tar.stdout,
        capture_output=True,
        text=True,
        env=podman_env(),
        timeout=600,
    )
    tar.stdout.close()
    if tar.wait() != 0 or proc.returncode != 0:
        raise PodmanError(f"podman import of {root} failed: {proc.stderr[-2000:]}")
    return BASE_IMAGE


def build_app_image(tag: str, *, build_args: Sequence[str] = ()) -> str:
    """Build examples/django_app/Dockerfile on the local base; return the image id."""
    base = ensure_base_image()
    args = ["build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={base}", "--pull=never"]
    # The machine's CA bundle, for pip behind a TLS-inspecting proxy (a build secret: not in the image).
    ca_bundle = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
    if ca_bundle.is_file():
        args += ["--secret", f"id=pip_ca,src={ca_bundle}"]
    for arg in build_args:
        args += ["--build-arg", arg]
    podman(*args, "-t", tag, str(APP_DIR), timeout=1800)
    return podman("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()

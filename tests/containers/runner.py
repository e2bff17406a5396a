"""Run a recorded container spec with podman the way Cloud Run would, on this machine.

- ``command`` replaces the image's ENTRYPOINT and ``args`` its CMD (Cloud Run's rules); neither
  given: the image's own.
- Plain env as recorded; secret env (``secretKeyRef``) from test values.
- A Cloud SQL volume: the connector's ``<mount>/<instance>`` socket directory is the test
  PostgreSQL's socket directory. A secret volume: its items as files with the recorded mode.
- Host networking (the test PostgreSQL and Redis are on this host); Cloud Run's ``$PORT`` is set
  to a free port for a Service, so two runs never collide.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

from tests.containers import podman
from tests.containers.specs import ContainerSpec


class MismatchError(AssertionError):
    """The recording and the image (or this machine's stand-ins) do not fit together."""


def secret_dir(spec: ContainerSpec, secret_files: dict[str, str], mount_name: str) -> Path:
    """A directory with the secret volume's items (path, mode) holding ``secret_files[secret]``."""
    mount = next(m for m in spec.mounts if m.name == mount_name)
    top = Path(tempfile.mkdtemp(prefix="djangostack-ctest-secret-"))
    top.chmod(0o755)
    for item in mount.secret_files:
        if item.secret not in secret_files:
            raise MismatchError(
                f"{spec.resource}: volume {mount.name} mounts secret {item.secret}, which has no test value"
            )
        path = top / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secret_files[item.secret], encoding="utf-8")
        path.chmod(item.mode)
    return top


def run_args(
    spec: ContainerSpec,
    *,
    name: str,
    secret_values: dict[str, str],
    pg_socket_dir: Path,
    secret_dirs: dict[str, Path],
    extra_env: dict[str, str] | None = None,
    command: list[str] | None = None,
) -> list[str]:
    """``podman run`` arguments (without ``podman``) for ``spec``; ``command`` replaces the recorded
    command and args (for one-off checks inside the same container setup)."""
    args = ["run", "--name", name, "--network", "host", "--pull=never", "--log-driver", "k8s-file"]
    for key, value in spec.env.items():
        args += ["--env", f"{key}={value}"]
    for key, secret in spec.secret_env.items():
        if secret not in secret_values:
            raise MismatchError(f"{spec.resource}: env {key} reads secret {secret}, which the program never stores")
        args += ["--env", f"{key}={secret_values[secret]}"]
    for key, value in (extra_env or {}).items():
        args += ["--env", f"{key}={value}"]
    for mount in spec.mounts:
        if mount.cloudsql_instances:
            for instance in mount.cloudsql_instances:
                target = f"{mount.path.rstrip('/')}/{instance}"
                args += ["--mount", f"type=bind,source={pg_socket_dir},destination={target}"]
        elif mount.secret_files:
            if mount.name not in secret_dirs:
                raise MismatchError(f"{spec.resource}: no test files for secret volume {mount.name}")
            args += ["--mount", f"type=bind,source={secret_dirs[mount.name]},destination={mount.path},ro=true"]
        else:
            raise MismatchError(
                f"{spec.resource}: volume {mount.name} at {mount.path} is of a kind this test cannot map"
            )
    if command is not None:
        args += ["--entrypoint", json.dumps(command[:1]), spec.image, *command[1:]]
    elif spec.command:
        args += ["--entrypoint", json.dumps(list(spec.command)), spec.image, *spec.args]
    else:
        args += [spec.image, *spec.args]
    return args


def unique_name(role: str) -> str:
    return f"djangostack-ctest-{role}-{uuid.uuid4().hex[:8]}"


def remove(name: str) -> None:
    podman.podman("rm", "--force", "--time", "5", name, check=False, timeout=120)


def logs(name: str) -> str:
    proc = podman.podman("logs", name, check=False, timeout=60)
    return (proc.stdout + proc.stderr)[-4000:]

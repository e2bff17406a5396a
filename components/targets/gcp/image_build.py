"""Build the app's image from source during ``pulumi up`` (the optional ``app.build`` setting).

With ``app.build`` set, the program builds the image with the Docker or podman CLI (a
``command.local.Command``: the maintained CLIs, no provider plugin to install), tags it with a tag
derived from the build's inputs (every file of the context, the Dockerfile, the build args), pushes
it to the stack's Artifact Registry repository and deploys it by digest. Without ``app.build`` the
given ``app.image`` is deployed, as before.

The tag is immutable like the repository (``immutable_tags``): the same inputs give the same tag,
so an unchanged source builds nothing (the command's trigger is the tag), and changed inputs give
a new tag, never an overwrite. The digest the registry answers is what the workloads run.

Validation (:func:`validate_build`) refuses, with one line per problem naming the full key:
paths outside the project or missing, build-arg names that are not plain identifiers, build-arg
values with characters outside a conservative set, too many args, and references beyond the
registry's limits. Every string that reaches the shell is also quoted by construction
(:func:`build_script`).

What cannot be tested on a machine without a registry: the push itself and the registry's answer
(the digest). The tests run everything up to the push with podman and a local base image, and the
script's push and digest steps against a podman registry stand-in where one is available.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final, Literal

from ...settings.errors import SettingsError

KEY: Final = "djangostack:app.build"

# Build args: a plain identifier, as Dockerfile ARG names are.
BUILD_ARG_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Values: image references, versions, URLs without credentials. No quotes, spaces, `$`, backslashes
# or control characters: nothing a shell, a Dockerfile's variable expansion or a log line could act on.
BUILD_ARG_VALUE: Final = re.compile(r"^[A-Za-z0-9._:/@+=,%~-]{0,1024}$")
MAX_BUILD_ARGS: Final = 32
# The build reads these: a relative path made of plain components.
RELATIVE_PATH: Final = re.compile(r"^[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*/?$")
# Docker tag: at most 128 characters of [A-Za-z0-9_.-], not starting with . or -
# (https://docs.docker.com/reference/cli/docker/image/tag/).
TAG_MAX: Final = 128
TAG_PATTERN: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# Repository path components: lower-case alphanumerics separated by '.', '_', '__' or '-'; the
# whole name (registry host included) at most 255 characters (distribution reference grammar,
# https://docs.docker.com/reference/cli/docker/image/tag/ and
# https://cloud.google.com/artifact-registry/docs/docker/names).
IMAGE_NAME_COMPONENT: Final = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
NAME_TOTAL_MAX: Final = 255
DIGEST: Final = re.compile(r"^sha256:[0-9a-f]{64}$")
# The build and push together; Pulumi's default create timeout is long, a hung push should not be.
BUILD_TIMEOUT_MINUTES: Final = 60
# Directories never part of an image's inputs: VCS data and byte-code derived from hashed sources.
SKIPPED_DIRS: Final = frozenset({".git", "__pycache__"})

Builder = Literal["docker", "podman"]


@dataclasses.dataclass(frozen=True)
class BuildSpec:
    """A validated ``app.build``: paths relative to the project root."""

    context: str
    dockerfile: str  # relative to the project root (the setting is relative to the context)
    build_args: tuple[tuple[str, str], ...] = ()
    builder: Builder = "docker"
    image_name: str = "app"


def _inside(root: Path, relative: str) -> Path | None:
    """``root/relative`` resolved, when it stays inside ``root`` (symlinks followed)."""
    resolved = (root / relative).resolve()
    try:
        resolved.relative_to(root.resolve())
    except ValueError:
        return None
    return resolved


def _path_problem(key: str, value: object, root: Path, *, want_dir: bool) -> str | None:
    kind = "directory" if want_dir else "file"
    allowed = f"a relative path to a {kind} inside the project (letters, digits, . _ + -; no '..')"
    if not isinstance(value, str) or not RELATIVE_PATH.match(value) or len(value) > 1024:
        return f"{key}: {value!r} is not allowed; expected {allowed}"
    if any(part == ".." for part in value.split("/")):
        return f"{key}: {value!r} leaves its directory; expected {allowed}"
    resolved = _inside(root, value)
    if resolved is None:
        return f"{key}: {value!r} resolves outside the project; expected {allowed}"
    if not (resolved.is_dir() if want_dir else resolved.is_file()):
        return f"{key}: {value!r} is not an existing {kind} under {root}"
    return None


def validate_build(raw: Mapping[str, Any], project_root: Path, key: str = KEY) -> BuildSpec:
    """The ``app.build`` mapping (camelCase keys, as in the stack file) as a :class:`BuildSpec`;
    every problem at once as a :class:`SettingsError`."""
    problems: list[str] = []
    known = {"context", "dockerfile", "buildArgs", "builder", "imageName"}
    for unknown in sorted(set(raw) - known):
        problems.append(f"{key}.{unknown}: unknown setting; allowed: {', '.join(sorted(known))}")
    context = raw.get("context")
    problem = _path_problem(f"{key}.context", context, project_root, want_dir=True)
    if problem:
        problems.append(problem)
    dockerfile = raw.get("dockerfile", "Dockerfile")
    dockerfile_path = ""
    if not problem:
        # Relative to the context, and (symlinks followed) inside the project, not only the context.
        df_problem = _path_problem(f"{key}.dockerfile", dockerfile, project_root / str(context), want_dir=False)
        if df_problem and "resolves outside" in df_problem:
            df_problem = None
        if df_problem is None:
            joined = _inside(project_root, f"{context}/{dockerfile}")
            if joined is None:
                df_problem = f"{key}.dockerfile: {dockerfile!r} resolves outside the project"
            elif not joined.is_file():
                df_problem = f"{key}.dockerfile: {dockerfile!r} is not an existing file under {context}"
        if df_problem:
            problems.append(df_problem)
        else:
            dockerfile_path = f"{str(context).rstrip('/')}/{dockerfile}"
    args = raw.get("buildArgs", {}) or {}
    pairs: list[tuple[str, str]] = []
    if not isinstance(args, Mapping):
        problems.append(f"{key}.buildArgs: {args!r} is not allowed; expected a mapping of NAME: value")
    else:
        if len(args) > MAX_BUILD_ARGS:
            problems.append(f"{key}.buildArgs: {len(args)} build args; at most {MAX_BUILD_ARGS}")
        for name, value in args.items():
            if not isinstance(name, str) or not BUILD_ARG_NAME.match(name):
                problems.append(
                    f"{key}.buildArgs: name {name!r} is not allowed; expected an identifier "
                    "([A-Za-z_][A-Za-z0-9_]*, at most 128 characters)"
                )
                continue
            if not isinstance(value, str) or not BUILD_ARG_VALUE.match(value):
                problems.append(
                    f"{key}.buildArgs.{name}: {value!r} is not allowed; expected at most 1024 of "
                    "A-Z a-z 0-9 . _ : / @ + = , % ~ - (no spaces, quotes, $, backslashes or control characters)"
                )
                continue
            pairs.append((name, value))
    builder = raw.get("builder", "docker")
    if builder not in ("docker", "podman"):
        problems.append(f"{key}.builder: {builder!r} is not allowed; expected 'docker' or 'podman'")
    image_name = raw.get("imageName", "app")
    if not isinstance(image_name, str) or not all(IMAGE_NAME_COMPONENT.match(part) for part in image_name.split("/")):
        problems.append(
            f"{key}.imageName: {image_name!r} is not allowed; expected lower-case path components "
            "([a-z0-9] separated by . _ __ or -), joined by /"
        )
    if problems:
        raise SettingsError(problems)
    return BuildSpec(
        context=str(context).rstrip("/"),
        dockerfile=dockerfile_path,
        build_args=tuple(sorted(pairs)),
        builder=builder,
        image_name=str(image_name),
    )


# ------------------------------------------------------------------------------ tag and reference


def _files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for filename in sorted(filenames):
            yield Path(dirpath) / filename


def content_tag(spec: BuildSpec, project_root: Path) -> str:
    """``src-<hash>`` of every input of the build: each file of the context (path, mode, bytes;
    symlinks by target), the Dockerfile and the build args. Deterministic across machines."""
    digest = hashlib.sha256()
    context = project_root / spec.context
    for path in _files(context):
        rel = path.relative_to(context).as_posix()
        if path.is_symlink():
            data = b"symlink:" + os.readlink(path).encode()
            mode = 0o777
        else:
            data = path.read_bytes()
            mode = path.stat().st_mode & 0o111
        digest.update(f"{rel}\0{mode:o}\0{len(data)}\0".encode())
        digest.update(data)
    digest.update(b"\0dockerfile\0" + spec.dockerfile.encode() + b"\0")
    digest.update((project_root / spec.dockerfile).read_bytes())
    for name, value in spec.build_args:
        digest.update(f"\0arg\0{name}={value}".encode())
    return f"src-{digest.hexdigest()[:32]}"


def repository_image(region: str, project: str, repository: str, image_name: str) -> str:
    """``<region>-docker.pkg.dev/<project>/<repository>/<image>`` (no tag)."""
    return f"{region}-docker.pkg.dev/{project}/{repository}/{image_name}"


def reference_problems(image: str, tag: str) -> list[str]:
    """The registry's limits on a pushed reference (one line each)."""
    problems = []
    if len(image) > NAME_TOTAL_MAX:
        problems.append(f"{KEY}: image name {image!r} is {len(image)} characters; at most {NAME_TOTAL_MAX}")
    if len(tag) > TAG_MAX or not TAG_PATTERN.match(tag):
        problems.append(f"{KEY}: tag {tag!r} is not a valid Docker tag (at most {TAG_MAX} of A-Z a-z 0-9 _ . -)")
    return problems


# ---------------------------------------------------------------------------------- the command


def build_script(spec: BuildSpec, reference: str) -> str:
    """The shell script of the build command: build, push, print the pushed digest (one line,
    ``sha256:<hex>``). Runs in the project root; every value is quoted here."""
    q = shlex.quote
    cli = spec.builder
    build = [cli, "build", "--file", spec.dockerfile, "--tag", reference]
    if cli == "podman":
        # buildah's layer cache ignores build args that only an ENV reads (podman 4.3), so a cached
        # layer could carry an old value into a new tag. The build runs only when the tag changes.
        build.append("--no-cache")
    for name, value in spec.build_args:
        build += ["--build-arg", f"{name}={value}"]
    build.append(spec.context)
    lines = ["set -eu", " ".join(q(part) for part in build) + " >&2"]
    if cli == "podman":
        lines += [
            'digest_file="$(mktemp)"',
            "trap 'rm -f \"$digest_file\"' EXIT",
            f'podman push --digestfile "$digest_file" {q(reference)} >&2',
            'digest="$(cat "$digest_file")"',
        ]
    else:
        repo = reference.rsplit(":", 1)[0]
        lines += [
            f"docker push {q(reference)} >&2",
            "digest=\"$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "
            f'{q(reference)} | sed -n "s|^{repo}@||p" | head -n 1)"',
        ]
    lines += [
        'case "$digest" in sha256:*) ;; *) echo "no digest for the pushed image: $digest" >&2; exit 1 ;; esac',
        'printf "%s\\n" "$digest"',
    ]
    return "\n".join(lines) + "\n"


def pinned_reference(reference: str, stdout: str) -> str:
    """``<image>@sha256:...`` from the tagged reference and the command's output."""
    digest = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    if not DIGEST.match(digest):
        raise ValueError(f"the image build printed no digest (got {digest!r})")
    return f"{reference.rsplit(':', 1)[0]}@{digest}"


def build_image(
    name: str,
    spec: BuildSpec,
    *,
    project_root: Path,
    region: str,
    project: str,
    repository: str,
    opts: Any = None,
) -> Any:
    """The ``command.local.Command`` that builds and pushes, and the digest-pinned reference
    (``pulumi.Output[str]``) the workloads deploy. Re-runs only when the content tag changes."""
    import pulumi
    from pulumi_command import local

    image = repository_image(region, project, repository, spec.image_name)
    tag = content_tag(spec, project_root)
    problems = reference_problems(image, tag)
    if problems:
        raise SettingsError(problems)
    reference = f"{image}:{tag}"
    command = local.Command(
        f"{name}-image-build",
        create=build_script(spec, reference),
        interpreter=["/bin/sh", "-c"],
        dir=str(project_root),
        triggers=[reference],
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=f"{BUILD_TIMEOUT_MINUTES}m")),
        ),
    )
    return command, command.stdout.apply(lambda out: pinned_reference(reference, out))

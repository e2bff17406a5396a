"""Build the app's image from source during ``pulumi up`` (the optional ``app.build`` setting).

With ``app.build`` set, the program builds the image with the Docker or podman CLI (a
``command.local.Command``: the maintained CLIs, no provider plugin to install), tags it with a tag
derived from the build's inputs (every file of the context, the Dockerfile, the build args), pushes
it to the stack's Artifact Registry repository and deploys it by digest. Without ``app.build`` the
given ``app.image`` is deployed, as before.

The tag is immutable like the repository (``immutable_tags``): the same inputs give the same tag,
so an unchanged source builds nothing (the command's trigger is the tag, and a new tag replaces
the command), and changed inputs give a new tag, never an overwrite. Any other change of the
command (another builder) runs its update, which answers the digest already deployed. The digest
the registry answers is what the workloads run: an output of the command, so every workload waits
for the build.

Validation: the settings model (``settings.app.BuildSettings``) refuses paths with ``..`` or
odd characters, build-arg names that are not plain identifiers, build-arg values outside a
conservative set and more than 32 args; :func:`path_problems` (run by the gcp rules) refuses a
context or Dockerfile that is missing or resolves outside the project, and references beyond the
registry's limits. Every problem is one line naming the full key. Every string that reaches the
shell is also quoted by construction (:func:`build_script`).

The tag hashes what the build reads: the files of the context that Docker sends (its
``.dockerignore``, or the Dockerfile's own ``<Dockerfile>.dockerignore``, applied with the release
artifact's matcher, ``host.artifact.select_sources``), less VCS data and byte-code.

What cannot be tested on a machine without a registry: the push to Artifact Registry itself and
the registry's answer (the digest). ``tests/containers/test_image_build_podman.py`` runs this
module's exact script with the real podman and a local base image, its push going to a local
directory (whose manifest digest the script must print); ``tests/gcp/test_image_build.py`` runs it
with stand-in CLIs for docker and podman, and checks the wiring under mocks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from ...host.artifact import select_sources
from ...settings.errors import SettingsError

if TYPE_CHECKING:
    from ...settings.app import BuildSettings
    from ...settings.targets import GcpCloudRunTarget

KEY: Final = "djangostack:app.build"

# Docker tag: at most 128 characters of [A-Za-z0-9_.-], not starting with . or -
# (https://docs.docker.com/reference/cli/docker/image/tag/).
TAG_MAX: Final = 128
TAG_PATTERN: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# The whole image name (registry host included) at most 255 characters (distribution reference
# grammar, https://docs.docker.com/reference/cli/docker/image/tag/ and
# https://cloud.google.com/artifact-registry/docs/docker/names).
NAME_TOTAL_MAX: Final = 255
DIGEST: Final = re.compile(r"^sha256:[0-9a-f]{64}$")
# The build and push together; Pulumi's default create timeout is long, a hung push should not be.
BUILD_TIMEOUT_MINUTES: Final = 60
BUILD_DEFAULT_EXCLUDES: Final = (".git/", "__pycache__/", "*.py[cod]")
"""Never part of an image's inputs: VCS data, and byte-code derived from the hashed sources."""

Builder = Literal["docker", "podman"]


@dataclasses.dataclass(frozen=True)
class BuildSpec:
    """A checked ``app.build``: paths relative to the project root."""

    context: str
    dockerfile: str  # relative to the project root (the setting is relative to the context)
    build_args: tuple[tuple[str, str], ...] = ()
    builder: Builder = "docker"
    image_name: str = "app"

    @property
    def dockerfile_in_context(self) -> str:
        """The Dockerfile relative to the context (what Docker's ``<Dockerfile>.dockerignore`` uses)."""
        if self.context == ".":
            return self.dockerfile
        return self.dockerfile[len(self.context) + 1 :]


def _inside(root: Path, relative: str) -> Path | None:
    """``root/relative`` resolved, when it stays inside ``root`` (symlinks followed)."""
    resolved = (root / relative).resolve()
    try:
        resolved.relative_to(root.resolve())
    except ValueError:
        return None
    return resolved


def _join(context: str, relative: str) -> str:
    return relative if context == "." else f"{context.rstrip('/')}/{relative}"


def path_problems(build: BuildSettings, project_root: Path) -> list[str]:
    """The context and the Dockerfile exist and (symbolic links followed) stay inside the project;
    one line per problem naming the key. The settings model already refused ``..`` and odd names."""
    found: list[str] = []
    context = _inside(project_root, build.context)
    if context is None:
        return [f"{KEY}.context: {build.context!r} resolves outside the project {project_root}"]
    if not context.is_dir():
        return [f"{KEY}.context: {build.context!r} is not an existing directory under {project_root}"]
    dockerfile = _inside(project_root, _join(build.context, build.dockerfile))
    if dockerfile is None:
        found.append(f"{KEY}.dockerfile: {build.dockerfile!r} resolves outside the project {project_root}")
    elif not dockerfile.is_file():
        found.append(f"{KEY}.dockerfile: {build.dockerfile!r} is not an existing file under {build.context}")
    return found


def build_spec(build: BuildSettings, project_root: Path) -> BuildSpec:
    """The checked :class:`BuildSpec` of ``app.build`` (``SettingsError`` when a path is wrong)."""
    problems = path_problems(build, project_root)
    if problems:
        raise SettingsError(problems)
    context = build.context.rstrip("/") or "."
    return BuildSpec(
        context=context,
        dockerfile=_join(context, build.dockerfile),
        build_args=tuple(sorted(build.build_args.items())),
        builder=build.builder,
        image_name=build.image_name,
    )


def build_problems(build: BuildSettings, target: GcpCloudRunTarget, prefix: str, project_root: Path) -> list[str]:
    """Every ``app.build`` problem the gcp rules report: the paths, and the pushed reference's
    length within the registry's limits."""
    found = path_problems(build, project_root)
    image = repository_image(target.region, target.project, prefix, build.image_name)
    found.extend(reference_problems(image, "src-" + "0" * 32))
    return found


# ------------------------------------------------------------------------------ tag and reference


def context_files(spec: BuildSpec, project_root: Path) -> tuple[str, ...]:
    """The files of the context the build sees, relative to it: what Docker sends (its ignore file
    applied; symbolic links as links) less VCS data and byte-code."""
    ignore_files = (f"{spec.dockerfile_in_context}.dockerignore", ".dockerignore")
    selection = select_sources(
        project_root / spec.context,
        defaults=BUILD_DEFAULT_EXCLUDES,
        ignore_files=ignore_files,
        keep_symlinks=True,
        skip_virtualenvs=False,
    )
    return selection.files


def content_tag(spec: BuildSpec, project_root: Path) -> str:
    """``src-<hash>`` of every input of the build: each file of the context the build sees (path,
    executable bit, bytes; symlinks by target), the Dockerfile and the build args. The same on
    every machine."""
    digest = hashlib.sha256()
    context = project_root / spec.context
    for rel in context_files(spec, project_root):
        path = context / rel
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
    ``sha256:<hex>``); a tag the registry already holds is pulled and deployed instead. Runs in the
    project root; every value is quoted here."""
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
    ref = q(reference)
    # The repository's tags are immutable: when an earlier run pushed this tag but its `pulumi up`
    # was interrupted before the state recorded it, a second push is refused. The tag is derived
    # from every input, so the image already there is the one this build would make: deploy it.
    lines = [
        "set -eu",
        f"if {cli} pull --quiet {ref} >/dev/null 2>&1; then",
        "    echo " + q(f"{reference} is already in the registry (pushed by an earlier run): deploying it") + " >&2",
    ]
    if cli == "podman":
        lines += [
            f"    digest=\"$(podman image inspect --format '{{{{.Digest}}}}' {ref})\"",
            "else",
            "    " + " ".join(q(part) for part in build) + " >&2",
            '    digest_file="$(mktemp)"',
            "    trap 'rm -f \"$digest_file\"' EXIT",
            f'    podman push --digestfile "$digest_file" {ref} >&2',
            '    digest="$(cat "$digest_file")"',
            "fi",
        ]
    else:
        repo = reference.rsplit(":", 1)[0]
        lines += [
            "else",
            "    " + " ".join(q(part) for part in build) + " >&2",
            f"    docker push {ref} >&2",
            "fi",
            "digest=\"$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "
            f'{ref} | sed -n "s|^{repo}@||p" | head -n 1)"',
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


UPDATE_SCRIPT: Final = """set -eu
digest="$(printf '%s\\n' "${PULUMI_COMMAND_STDOUT:-}" | grep -o 'sha256:[0-9a-f]\\{64\\}' | tail -n 1 || true)"
case "$digest" in sha256:*) ;; *) echo "no digest from the previous build: $digest" >&2; exit 1 ;; esac
printf '%s\\n' "$digest"
"""
"""The command's update: a change that keeps the tag (another builder, say) builds nothing and
pushes nothing (the repository's tags are immutable); it answers the digest already deployed."""


def build_image(
    name: str,
    spec: BuildSpec,
    *,
    project_root: Path,
    region: str,
    project: str,
    repository: str,
    opts: Any = None,
) -> tuple[Any, str, Any]:
    """The ``command.local.Command`` that builds and pushes, the tagged reference it pushes, and
    the digest-pinned reference (``pulumi.Output[str]``) the workloads deploy.

    A new tag (changed content, Dockerfile or args) replaces the command, so its create runs: build,
    push, digest. Any other change runs :data:`UPDATE_SCRIPT`. The command runs where Pulumi runs the
    program, the project directory (no ``dir``: an absolute path in the state would differ between
    machines and re-run the command)."""
    import pulumi
    from pulumi_command import local

    if project_root.resolve() != Path.cwd().resolve():
        raise SettingsError([f"{KEY}: run `pulumi up` in the project directory {project_root} (now in {Path.cwd()})"])
    image = repository_image(region, project, repository, spec.image_name)
    tag = content_tag(spec, project_root)
    problems = reference_problems(image, tag)
    if problems:
        raise SettingsError(problems)
    reference = f"{image}:{tag}"
    command = local.Command(
        f"{name}-image-build",
        create=build_script(spec, reference),
        update=UPDATE_SCRIPT,
        interpreter=["/bin/sh", "-c"],
        triggers=[reference],
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                replace_on_changes=["triggers"],
                custom_timeouts=pulumi.CustomTimeouts(create=f"{BUILD_TIMEOUT_MINUTES}m"),
            ),
        ),
    )
    pinned: pulumi.Output[str] = command.stdout.apply(lambda out: pinned_reference(reference, out))
    return command, reference, pinned

"""``app``: the Django application and the release being deployed."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)

from .fields import (
    BuildCommand,
    DebianPackage,
    EnvName,
    EnvValue,
    Image,
    PythonChoice,
    PythonModule,
    PythonTarget,
    RelativePath,
    ReleaseId,
    SettingsModel,
    Slug,
    UrlPath,
)

ReleaseFolder = Annotated[
    str,
    Field(
        max_length=200,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}(/[A-Za-z0-9_][A-Za-z0-9._-]{0,63}){0,3}$",
    ),
]
"""A folder inside the project (release): relative, 1-4 plain segments, none starting with a dot."""

CheckId = Annotated[
    str, Field(max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\.[CEWID][0-9]{3}$")
]
"""A Django system check id: security.W005, fields.E304."""

_BUILD_SEGMENT = r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,127}"
BuildContext = Annotated[str, Field(max_length=1024, pattern=rf"^(\.|{_BUILD_SEGMENT}(/{_BUILD_SEGMENT}){{0,15}})$")]
"""A directory of the project, relative to its root: ``.`` or plain segments (no segment starting
with a dot, so never ``..``). Whether it exists and stays inside the project (symbolic links
followed) is checked against the files (``targets.gcp.image_build.path_problems``)."""
BuildFile = Annotated[str, Field(max_length=1024, pattern=rf"^{_BUILD_SEGMENT}(/{_BUILD_SEGMENT}){{0,15}}$")]
"""A file below the build context, relative to it (plain segments, no ``..``)."""
BuildArgName = Annotated[str, Field(max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
"""A Dockerfile ``ARG`` name: letters, digits and underscores, not starting with a digit."""
BuildArgValue = Annotated[str, Field(max_length=1024, pattern=r"^[A-Za-z0-9._:/@+=,%~-]*$")]
"""A build-arg value: image references, versions, URLs without credentials. No spaces, quotes,
``$``, backslashes or control characters: nothing a shell, the Dockerfile's variable expansion or a
log line could act on. Secrets never go here (build args are kept in the image's history)."""
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
ImageName = Annotated[str, Field(max_length=128, pattern=rf"^{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*$")]
"""An image name inside a registry repository: lower-case path components (distribution grammar)."""


class BuildSettings(SettingsModel):
    """``app.build``: build the image from source during ``pulumi up`` (gcp-cloudrun).

    The program builds the context with the Docker or podman CLI, tags the image with a tag derived
    from everything the build reads, pushes it to the stack's Artifact Registry repository and
    deploys it by digest. Unset: ``app.image`` is deployed as it is."""

    context: BuildContext
    """The build context: a directory of the project, relative to its root (``examples/django_app``)."""
    dockerfile: BuildFile = "Dockerfile"
    """The Dockerfile, relative to the context."""
    # 32 args: far more than a Dockerfile's handful of ARGs, small enough to read in a plan.
    build_args: Annotated[dict[BuildArgName, BuildArgValue], Field(max_length=32)] = {}
    """``--build-arg NAME=value`` pairs (part of the content tag). Never secrets: build args stay
    readable in the image's history."""
    builder: Literal["docker", "podman"] = "docker"
    """The CLI that builds and pushes, on the machine running ``pulumi up`` (logged in to the
    registry: ``gcloud auth configure-docker <region>-docker.pkg.dev``)."""
    image_name: ImageName = "app"
    """The image's name inside the stack's Artifact Registry repository."""


ADAPTER_MODULE = "djangostack_settings"
"""``app.adaptSettings``: the settings module each release gets at its root (DJANGO_SETTINGS_MODULE)."""


class DeployCheckSettings(SettingsModel):
    """``manage.py check --deploy``, run before every release on the host targets."""

    fail_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING"
    """The release stops on messages of this level or above."""
    silence: Annotated[list[CheckId], Field(max_length=50)] = []
    """Check ids added to the app's own SILENCED_SYSTEM_CHECKS for that check (e.g. security.W005)."""


class AppSettings(SettingsModel):
    """The Django application and the release being deployed."""

    name: Slug = "django"
    """Short name: the unix user, /srv/<name>, unit names and resource name prefix."""
    release_id: ReleaseId | None = None
    """Names the code being deployed; a change runs a release. Unset: derived from what is deployed,
    so a code change deploys and nothing else does: on host targets from the artifact's content
    (``src-`` + 16 hex digits, ``host.artifact.source_release_id``), on Cloud Run from the image
    (its digest, or its immutable tag: ``targets.gcp.naming.image_release_id``; a built image's
    content tag, ``src-`` + 32 hex digits)."""
    source: RelativePath = "examples/django_app"
    """Host targets: directory of the Django project, relative to the Pulumi project root."""
    image: Image | None = None
    """Container targets: image reference, pinned by digest or an immutable tag (never latest)."""
    build: BuildSettings | None = None
    """gcp-cloudrun: build the image from source during ``pulumi up`` instead of deploying
    ``image`` (set one of the two)."""
    interface: Literal["wsgi", "asgi"] = "wsgi"
    """How the app is served: WSGI (Gunicorn workers) or ASGI (uvicorn workers)."""
    wsgi_module: PythonTarget = "project.wsgi:application"
    """The WSGI application, as module:attribute."""
    asgi_module: PythonTarget = "project.asgi:application"
    """The ASGI application, as module:attribute."""
    settings_module: PythonModule = "project.settings"
    """DJANGO_SETTINGS_MODULE."""
    health_path: UrlPath = "/readyz"
    """Readiness endpoint: checks database and cache; gates releases and load balancers."""
    liveness_path: UrlPath = "/healthz"
    """Liveness endpoint: cheap, touches neither database nor cache."""
    # 100 names of at most 4096 characters: far below Cloud Run's 1000 variables per container
    # (https://cloud.google.com/run/quotas) and small enough for an env file and user data.
    extra_env: Annotated[dict[EnvName, EnvValue], Field(max_length=100)] = {}
    """Extra non-secret environment for the app (secrets never go here). Names that change how
    root, the shell or the interpreter behave, and names the targets set, are refused
    (``djangostack.settings.rules``)."""
    env_names: Annotated[dict[EnvName, EnvName], Field(max_length=30)] = {}
    """The names the app reads, by contract name (``SECRET_KEY: DJANGO_SECRET_KEY``); the value
    goes under the app's name only, and a secret stays a secret (components/contract/app_env.py)."""
    static_root: ReleaseFolder = "static"
    """Host targets: the project folder collectstatic writes to (where the app's STATIC_ROOT
    points when its code fixes it); Nginx serves /static/ from it."""
    media_root: ReleaseFolder | None = None
    """Host targets, local media: the project folder where the app's code fixes MEDIA_ROOT; each
    release links it to the shared media folder."""
    adapt_settings: bool = False
    """Host targets, for a project whose settings read nothing from the environment (a starter's
    output, a packaged app): each release gets a settings module of djangostack's that imports
    ``settingsModule`` and then sets what the stack provides (SECRET_KEY, DEBUG off, the hosts and
    CSRF origins, the PostgreSQL database, static and media paths, HTTPS behind Nginx, the stack's
    Redis as the cache when the app sets no CACHES) and answers ``healthPath`` and
    ``livenessPath``; the venv gets a PostgreSQL driver and the redis client when the app's
    requirements bring none. The app's files are not changed."""
    deploy_check: DeployCheckSettings = DeployCheckSettings()
    """Host targets: fail level and silenced ids of ``check --deploy`` before each release."""
    python: PythonChoice = "system"
    """Host targets: the app's Python. ``system``: the host OS's python3 (debian-12: 3.11, debian-13:
    3.13, ubuntu-22.04: 3.10, ubuntu-24.04: 3.12); ``3.N``: that CPython, installed by uv at bootstrap
    when the OS ships another (3.9 to 3.15). Container targets: set in the image's Dockerfile."""
    system_packages: Annotated[list[DebianPackage], Field(max_length=100)] = []
    """Host targets: extra Debian/Ubuntu packages the app needs (gettext, libjpeg-dev), installed by the
    bootstrap; package names only (no options, versions or :arch), at most 100."""
    build_commands: Annotated[list[BuildCommand], Field(max_length=20)] = []
    """Host targets: steps run in each new release before ``check --deploy``, as the app user, with the
    app's environment and the venv first on PATH; each a list of words (no shell, every word
    quoted), e.g. ``[["python", "manage.py", "compilemessages"]]``. At most 20 commands of 32 words
    of 512 characters."""
    remove_data_on_destroy: bool = False
    """Host targets: ``pulumi destroy`` also drops the local database and role and removes media,
    backups and host secrets. Off: they stay on the host (nothing but this setting deletes data)."""

    @property
    def release(self) -> str:
        """The release id once the target has resolved it (``with_release_id``)."""
        if self.release_id is None:
            raise RuntimeError("app.releaseId is unresolved: the target derives it before building anything")
        return self.release_id

    def with_release_id(self, release_id: str) -> AppSettings:
        """A copy naming ``release_id`` (the value derived for an unset ``releaseId``)."""
        return self.model_copy(update={"release_id": release_id})

    @model_validator(mode="after")
    def _image_is_immutable(self) -> AppSettings:
        if self.image is not None and self.build is not None:
            raise ValueError(
                "build: app.image and app.build are both set; deploy a given image (image) or build one "
                "from source (build), not both"
            )
        if self.image is not None:
            ref = self.image
            if "@sha256:" not in ref:
                tag = ref.rsplit("/", 1)[-1].partition(":")[2]
                if not tag:
                    raise ValueError(f"image: {ref!r} has no tag; pin it by digest (@sha256:...) or an immutable tag")
                if tag == "latest":
                    raise ValueError(f"image: {ref!r} uses the mutable tag 'latest'; pin a digest or a release tag")
        return self

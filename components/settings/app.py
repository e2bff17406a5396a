"""``app``: the Django application and the release being deployed."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)

from .fields import (
    EnvName,
    EnvValue,
    Image,
    PythonModule,
    PythonTarget,
    RelativePath,
    ReleaseId,
    SettingsModel,
    Slug,
    UrlPath,
)


class AppSettings(SettingsModel):
    """The Django application and the release being deployed."""

    name: Slug = "django"
    """Short name: the unix user, /srv/<name>, unit names and resource name prefix."""
    release_id: ReleaseId
    """Identifies the code being deployed (a version or artifact hash); a change runs a release."""
    source: RelativePath = "examples/django_app"
    """Host targets: directory of the Django project, relative to the Pulumi project root."""
    image: Image | None = None
    """Container targets: image reference, pinned by digest or an immutable tag (never latest)."""
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
    remove_data_on_destroy: bool = False
    """Host targets: ``pulumi destroy`` also drops the local database and role and removes media,
    backups and host secrets. Off: they stay on the host (nothing but this setting deletes data)."""

    @model_validator(mode="after")
    def _image_is_immutable(self) -> AppSettings:
        if self.image is not None:
            ref = self.image
            if "@sha256:" not in ref:
                tag = ref.rsplit("/", 1)[-1].partition(":")[2]
                if not tag:
                    raise ValueError(f"image: {ref!r} has no tag; pin it by digest (@sha256:...) or an immutable tag")
                if tag == "latest":
                    raise ValueError(f"image: {ref!r} uses the mutable tag 'latest'; pin a digest or a release tag")
        return self

"""``web``: Gunicorn and the HTTP edge."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)

from .fields import SettingsModel


class WebSettings(SettingsModel):
    """Gunicorn and the HTTP edge (Nginx or the platform's front end)."""

    workers: Annotated[int, Field(ge=1, le=64)] | None = None
    """Gunicorn workers; unset means 2 x CPU + 1 on hosts, 2 on Cloud Run."""
    threads: Annotated[int, Field(ge=1, le=32)] = 1
    """Threads per Gunicorn worker (more than 1 needs workerClass gthread)."""
    worker_class: Literal["sync", "gthread", "uvicorn"] = "sync"
    """Gunicorn worker class."""
    timeout_seconds: Annotated[int, Field(ge=5, le=600)] = 30
    """Gunicorn worker timeout, in seconds: a request running longer is killed."""
    graceful_timeout_seconds: Annotated[int, Field(ge=1, le=600)] = 30
    """Seconds workers get to finish their requests on restart."""
    keepalive_seconds: Annotated[int, Field(ge=1, le=75)] = 2
    """Seconds Gunicorn keeps an idle keep-alive connection open."""
    max_requests: Annotated[int, Field(ge=0, le=1_000_000)] = 1000
    """Requests after which a worker is restarted (0: never)."""
    max_requests_jitter: Annotated[int, Field(ge=0, le=100_000)] = 100
    """Random spread added to maxRequests so workers do not restart together."""
    backlog: Annotated[int, Field(ge=64, le=65535)] = 2048
    """Gunicorn's listen backlog: pending connections queued."""
    max_upload_mb: Annotated[int, Field(ge=1, le=1024)] = 10
    """Largest request body in MiB (Nginx client_max_body_size); larger uploads get 413."""
    static_cache_days: Annotated[int, Field(ge=0, le=365)] = 7
    """Days browsers may cache static files (Cache-Control max-age)."""
    hsts_seconds: Annotated[int, Field(ge=0, le=63072000)] | None = None
    """HSTS max-age; unset: 300 outside prod (staged), one year in prod."""
    x_frame_options: Literal["DENY", "SAMEORIGIN"] = "DENY"
    """X-Frame-Options header sent with every response."""
    restart: Literal["on-failure", "always"] = "on-failure"
    """systemd Restart= policy of the app services on hosts."""

    @model_validator(mode="after")
    def _jitter_below_max_requests(self) -> WebSettings:
        if self.max_requests and self.max_requests_jitter >= self.max_requests:
            raise ValueError(
                f"maxRequestsJitter: {self.max_requests_jitter} must be below maxRequests ({self.max_requests})"
            )
        if self.threads > 1 and self.worker_class == "sync":
            raise ValueError(
                f"threads: {self.threads} threads need workerClass 'gthread' (sync workers ignore threads)"
            )
        return self

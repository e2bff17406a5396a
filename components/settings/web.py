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
    worker_class: Literal["sync", "gthread", "uvicorn"] = "sync"
    timeout_seconds: Annotated[int, Field(ge=5, le=600)] = 30
    graceful_timeout_seconds: Annotated[int, Field(ge=1, le=600)] = 30
    keepalive_seconds: Annotated[int, Field(ge=1, le=75)] = 2
    max_requests: Annotated[int, Field(ge=0, le=1_000_000)] = 1000
    max_requests_jitter: Annotated[int, Field(ge=0, le=100_000)] = 100
    backlog: Annotated[int, Field(ge=64, le=65535)] = 2048
    max_upload_mb: Annotated[int, Field(ge=1, le=1024)] = 10
    """Largest request body in MiB (Nginx client_max_body_size); larger uploads get 413."""
    static_cache_days: Annotated[int, Field(ge=0, le=365)] = 7
    hsts_seconds: Annotated[int, Field(ge=0, le=63072000)] | None = None
    """HSTS max-age; unset: 300 outside prod (staged), one year in prod."""
    x_frame_options: Literal["DENY", "SAMEORIGIN"] = "DENY"
    restart: Literal["on-failure", "always"] = "on-failure"

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

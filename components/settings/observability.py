"""``observability``: logs, Sentry, tracing."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
)

from .fields import SettingsModel


class ObservabilitySettings(SettingsModel):
    """Logs and error reporting."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    """Log level of the app."""
    sentry: bool = False
    """Report errors to Sentry; needs the secret key sentryDsn."""
    traces_sample_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    """Share of requests Sentry traces (0 to 1)."""
    log_retention_days: Annotated[int, Field(ge=1, le=3650)] = 14
    """Days the platform keeps logs (CloudWatch, Cloud Logging)."""

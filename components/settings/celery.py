"""``celery``: worker and beat."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    model_validator,
)

from .fields import PythonModule, SettingsModel

QueueName = Annotated[str, Field(max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]


class CelerySettings(SettingsModel):
    """Celery worker and beat."""

    worker: bool = False
    """Run a Celery worker."""
    beat: bool = False
    """Run Celery beat (needs worker)."""
    app: PythonModule = "project"
    """The module holding the Celery app (celery -A)."""
    concurrency: Annotated[int, Field(ge=1, le=64)] = 2
    """Worker processes."""
    queues: Annotated[list[QueueName], Field(max_length=20)] = ["celery"]
    """Queues the worker consumes."""

    @model_validator(mode="after")
    def _beat_needs_worker(self) -> CelerySettings:
        if self.beat and not self.worker:
            raise ValueError("beat: beat schedules tasks that only a worker runs; set worker: true too")
        if not self.queues:
            raise ValueError("queues: must name at least one queue (got [])")
        return self

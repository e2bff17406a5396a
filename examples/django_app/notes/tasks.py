import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from .models import TaskRun

logger = logging.getLogger(__name__)


@shared_task(name="notes.record_ping")
def record_ping(run_id: str) -> None:
    """Mark a TaskRun as done. Idempotent, so acks_late redelivery is harmless."""
    updated = TaskRun.objects.filter(pk=run_id, done_at__isnull=True).update(done_at=timezone.now())
    logger.info("ping task finished", extra={"task_run": run_id, "updated": updated})


HEARTBEAT_CACHE_KEY = "notes:beat-heartbeat"


@shared_task(name="notes.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Scheduled by beat (CELERY_BEAT_SCHEDULE): the time of the last run, kept in the cache for a day."""
    cache.set(HEARTBEAT_CACHE_KEY, timezone.now().isoformat(), timeout=86400)

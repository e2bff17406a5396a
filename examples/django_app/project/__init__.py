"""Sample Django project implementing the deployment app contract.

The Celery app is imported here so that ``celery -A project worker`` finds it
and ``@shared_task`` functions bind to it when Django starts.
"""

from .celery import app as celery_app

__all__ = ("celery_app",)

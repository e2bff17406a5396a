"""Celery application ``project``.

All Celery configuration lives in Django settings under the ``CELERY_`` prefix,
so the worker reads exactly the same environment as the web process.
"""

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**kwargs: object) -> None:
    """Let Django's LOGGING (JSON lines on stdout, level from LOG_LEVEL) drive the worker too.

    Connecting this signal stops Celery from installing its own handlers and from
    resetting the root level to the worker's ``--loglevel``.
    """
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)

"""Settings used by the test run: the real project settings, fed test values.

The environment is filled in *before* project.settings is imported, exactly the
way a deployment provides it. Tests talk to a real PostgreSQL and Redis:

    TEST_DATABASE_URL  default postgres://django:django@127.0.0.1:5432/django
                       (pytest-django creates and drops test_<name> next to it)
    TEST_REDIS_URL     default redis://127.0.0.1:6379/0
"""

import atexit
import os
import shutil
import tempfile
import uuid

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgres://django:django@127.0.0.1:5432/django")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

_tmp = tempfile.mkdtemp(prefix="django-app-tests-")
atexit.register(shutil.rmtree, _tmp, ignore_errors=True)

# Forced rather than defaulted: a DATABASE_URL / REDIS_URL left in the shell
# must never point the test suite at a real deployment.
os.environ.update(
    {
        "SECRET_KEY": "test-only-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "DJANGO_DEBUG": "false",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": "https://testserver",
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        # A queue of our own, so a concurrent run or another app using the same
        # Redis never consumes our messages (and we never consume theirs).
        "CELERY_TASK_DEFAULT_QUEUE": "test-" + uuid.uuid4().hex[:12],
        "MEDIA_STORAGE": "local",
        "MEDIA_ROOT": os.path.join(_tmp, "media"),
        "STATIC_ROOT": os.path.join(_tmp, "static"),
        "RELEASE_ID": "test-release",
        "LOG_LEVEL": "WARNING",
    }
)
for _name in ("CELERY_BROKER_URL", "SENTRY_DSN", "SECURE_SSL_REDIRECT", "USE_X_FORWARDED_HOST"):
    os.environ.pop(_name, None)

from project.settings import *  # noqa: E402,F403

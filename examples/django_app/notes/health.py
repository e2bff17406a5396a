"""Liveness and readiness endpoints.

/healthz  -- the process is up and can serve a request. Touches nothing else,
             so a database outage never gets healthy web processes restarted.
/readyz   -- this instance can do useful work: the database answers SELECT 1
             and the cache completes a set/get round trip. 503 otherwise.
"""

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


def _error(exc: BaseException) -> str:
    # Only the exception class: messages can contain hosts, users or passwords.
    return f"error: {type(exc).__name__}"


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            row = cursor.fetchone()
        if row != (1,):
            return "error: UnexpectedResult"
    except Exception as exc:  # any failure means "not ready"
        return _error(exc)
    return "ok"


def check_cache() -> str:
    key = f"readyz:{uuid.uuid4().hex}"
    token = uuid.uuid4().hex
    try:
        cache.set(key, token, timeout=10)
        value = cache.get(key)
        cache.delete(key)
        if value != token:
            return "error: CacheMiss"
    except Exception as exc:  # any failure means "not ready"
        return _error(exc)
    return "ok"


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": check_database(), "cache": check_cache()}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "release": settings.RELEASE_ID, "checks": checks},
        status=200 if healthy else 503,
    )

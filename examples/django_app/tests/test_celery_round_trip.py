"""POST /tasks/ping/ -> Redis -> a real Celery worker -> PostgreSQL -> GET /tasks/<id>/."""

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from notes.models import TaskRun
from tests.conftest import APP_DIR, database_url_for, production_env

WORKER_START_TIMEOUT = 60
ROUND_TRIP_TIMEOUT = 60


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """`celery -A project worker --pool=solo` against the real Redis and the test database.

    Depends on transactional_db so rows are committed and visible to the worker
    process, and so the worker is stopped before the tables are flushed.
    """
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    env = production_env(
        DATABASE_URL=database_url_for(connection.settings_dict["NAME"]),
        CELERY_TASK_DEFAULT_QUEUE=queue,
        LOG_LEVEL="INFO",
    )
    log_path = tmp_path / "celery-worker.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "project",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-Q",
            queue,
            "--hostname",
            f"pytest-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=APP_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while b"ready." not in log_path.read_bytes():
            if proc.poll() is not None:
                pytest.fail(f"celery worker exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"celery worker not ready after {WORKER_START_TIMEOUT}s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield proc, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.mark.celery_worker
def test_task_round_trip_through_a_real_worker(celery_worker):
    proc, log_path = celery_worker
    # The automation flow from README: GET / for the cookie, then POST with the token.
    api = Client(enforce_csrf_checks=True, HTTP_X_FORWARDED_PROTO="https")
    token = api.get("/").cookies["csrftoken"].value
    response = api.post("/tasks/ping/", HTTP_X_CSRFTOKEN=token, HTTP_REFERER="https://testserver/")
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    assert str(uuid.UUID(run_id)) == run_id
    assert TaskRun.objects.filter(pk=run_id).exists()

    deadline = time.monotonic() + ROUND_TRIP_TIMEOUT
    while True:
        status = api.get(f"/tasks/{run_id}/")
        assert status.status_code == 200
        body = status.json()
        assert body["id"] == run_id
        if body["done"] is True:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"task {run_id} not done; worker log:\n{log_path.read_text()}")
        time.sleep(0.25)

    assert TaskRun.objects.get(pk=run_id).done_at is not None
    # The worker logs through the project's JSON logging, like the web process.
    finished = [
        json.loads(line)
        for line in log_path.read_text().splitlines()
        if line.startswith("{") and "ping task finished" in line
    ]
    assert finished, log_path.read_text()
    assert finished[-1]["task_run"] == run_id
    assert finished[-1]["updated"] == 1


@pytest.mark.django_db
def test_task_status_unknown_id_is_404(client):
    assert client.get(f"/tasks/{uuid.uuid4()}/").status_code == 404
    assert client.get("/tasks/not-a-uuid/").status_code == 404


@pytest.mark.django_db
def test_task_status_reports_not_done(client):
    run = TaskRun.objects.create()
    assert client.get(f"/tasks/{run.pk}/").json() == {"id": str(run.pk), "done": False}


@pytest.mark.django_db
def test_task_ping_requires_post_and_csrf():
    api = Client(enforce_csrf_checks=True, HTTP_X_FORWARDED_PROTO="https")
    assert api.get("/tasks/ping/").status_code == 405
    # No token: rejected.
    assert api.post("/tasks/ping/", HTTP_REFERER="https://testserver/").status_code == 403
    # Token but a foreign Referer: rejected (HTTPS requests get a strict Referer check).
    token = api.get("/").cookies["csrftoken"].value
    response = api.post("/tasks/ping/", HTTP_X_CSRFTOKEN=token, HTTP_REFERER="https://evil.example/")
    assert response.status_code == 403
    assert TaskRun.objects.count() == 0


def test_queue_is_isolated_for_the_test_run():
    assert os.environ["CELERY_TASK_DEFAULT_QUEUE"].startswith("test-")

"""An unset ``app.releaseId`` is derived from what is deployed: the artifact's content on the host
targets, the image on Cloud Run. A code change deploys; nothing else does (issue 16, problem 11:
a code change without a new release id used to upload the artifact and deploy nothing)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from djangostack.host.artifact import source_release_id
from tests.harness import Recording, evaluate_dev_with_pulumi_command, evaluate_stack

REPO = Path(__file__).resolve().parents[2]
AWS_SINGLE = REPO / "tests" / "aws" / "Pulumi.single.yaml"
GCP_PROD = REPO / "tests" / "gcp" / "Pulumi.prod.yaml"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    copy = tmp_path / "app"
    shutil.copytree(REPO / "examples/django_app", copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


def server(source: Path, release_id: str | None = None) -> Recording:
    app: dict[str, Any] = {"name": "notes", "source": str(source)}
    if release_id is not None:
        app["releaseId"] = release_id
    return evaluate_dev_with_pulumi_command(overrides={"app": app})


def touch_code(app: Path) -> None:
    views = app / "notes" / "views.py"
    views.write_text(views.read_text(encoding="utf-8") + "\n# a code change\n", encoding="utf-8")


def test_server_without_a_release_id_names_the_release_after_the_artifact(app: Path) -> None:
    recording = server(app)
    release = recording.named("host-release")
    derived = source_release_id(app)
    assert re.fullmatch(r"src-[0-9a-f]{16}", derived)
    assert release.inputs["triggers"] == [derived]
    assert f" deploy {derived} " in release.inputs["create"]


def test_server_a_code_change_changes_the_release_trigger(app: Path) -> None:
    before = server(app).named("host-release").inputs
    touch_code(app)
    after = server(app).named("host-release").inputs
    assert after["triggers"] != before["triggers"]
    assert after["triggers"] == [source_release_id(app)]


def test_server_an_unchanged_tree_changes_nothing(app: Path) -> None:
    before = server(app)
    # New times and byte-code change no shipped file.
    for path in app.rglob("*.py"):
        os.utime(path, (1_000_000, 1_000_000))
    (app / "notes" / "__pycache__").mkdir(exist_ok=True)
    (app / "notes" / "__pycache__" / "views.cpython-311.pyc").write_bytes(b"\0")
    after = server(app)
    changed = {r.name for r in after.resources if r.inputs != before.named(r.name).inputs}
    assert changed == set()


def test_server_an_explicit_release_id_still_decides(app: Path) -> None:
    before = server(app, "v1").named("host-release").inputs
    assert before["triggers"] == ["v1"]
    touch_code(app)
    assert server(app, "v1").named("host-release").inputs["triggers"] == ["v1"]
    assert server(app, "v2").named("host-release").inputs["triggers"] == ["v2"]


def aws(source: Path) -> Recording:
    return evaluate_stack(AWS_SINGLE, overrides={"app": {"name": "notes", "source": str(source)}})


def test_aws_without_a_release_id_uploads_and_releases_the_derived_id(app: Path) -> None:
    recording = aws(app)
    derived = source_release_id(app)
    release = recording.one("command:remote:Command")
    assert release.inputs["triggers"][0] == derived
    assert f"aws-release release {derived} releases/{derived}.tar.gz" in release.inputs["create"]
    [archive] = [o for o in recording.of_type("aws:s3/bucketObjectv2:BucketObjectv2") if o.name.endswith("-archive")]
    assert archive.inputs["key"] == f"releases/{derived}.tar.gz"


def test_aws_a_code_change_changes_the_release_trigger_and_an_unchanged_tree_does_not(app: Path) -> None:
    first = aws(app).one("command:remote:Command").inputs
    assert aws(app).one("command:remote:Command").inputs == first
    touch_code(app)
    assert aws(app).one("command:remote:Command").inputs["triggers"][0] != first["triggers"][0]


def gcp(image: str) -> Recording:
    return evaluate_stack(GCP_PROD, overrides={"app": {"name": "notes", "image": image}})


def test_cloud_run_without_a_release_id_releases_the_image() -> None:
    one = "europe-west1-docker.pkg.dev/acme-notes-prod/notes-prod/app@sha256:" + "a" * 64
    two = "europe-west1-docker.pkg.dev/acme-notes-prod/notes-prod/app@sha256:" + "b" * 64
    jobs = [
        next(r for r in gcp(image).of_type("gcp:cloudrunv2/job:Job") if r.name.endswith("-migrate"))
        for image in (one, one, two)
    ]
    assert jobs[0].inputs["runExecutionToken"] == jobs[1].inputs["runExecutionToken"]
    assert jobs[0].inputs["runExecutionToken"] != jobs[2].inputs["runExecutionToken"]
    env = {e["name"]: e.get("value") for e in jobs[0].inputs["template"]["template"]["containers"][0]["envs"]}
    assert env["RELEASE_ID"] == "img-aaaaaaaaaaaaaaaa"

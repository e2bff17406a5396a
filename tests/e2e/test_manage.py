"""One-off management commands on the real test host, through the same path a user takes:
``manage()`` builds the SSH command from stack settings and runs ``release manage`` on the live
release as the app user, with the app's environment.

Also the artifact on a real host: a fixture directory named ``media`` deep inside the app arrives
(the old artifact dropped it) and its data-loading command works.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from djangostack.one_off import Request
from djangostack.settings.loading import read_stack_file
from djangostack.settings.stack import StackSettings
from djangostack.targets.hosts import host_context
from djangostack.validation import validate
from tests.e2e.realapps import create_superuser, run_manage
from tests.e2e.test_host_release import bootstrap, release
from tests.harness import fixture_stack
from tools.testhost import TestHost, distro

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples/django_app"
PASSWORD = "correct horse $(battery) staple"  # a space and a $( ), which no shell may read


def settings_for(host: TestHost) -> StackSettings:
    """The dev stack's settings pointed at this test host (its OS, ``TESTHOST_SUITE``), its host key
    pinned."""
    raw, secrets, plaintext = read_stack_file(fixture_stack("dev"))
    host_key = (host.root / "etc/ssh/ssh_host_ed25519_key.pub").read_text(encoding="utf-8").split()[:2]
    raw = {
        **raw,
        "target": {
            **raw["target"],
            "host": host.host,
            "sshPort": host.port,
            "sshUser": host.user,
            "sshKeyFile": host.private_key_path.name,
            "sshHostKey": " ".join(host_key),
            "os": distro().host_os,
        },
    }
    return validate(raw, secrets, plaintext, "dev")


def app_with_fixtures(tmp: Path) -> Path:
    """The sample app plus a fixture and an image under a nested ``media`` directory."""
    copy = tmp / "app"
    shutil.copytree(APP, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    fixtures = copy / "notes" / "fixtures"
    (fixtures / "media" / "demo").mkdir(parents=True)
    (fixtures / "media" / "demo" / "pixel.png").write_bytes(b"\x89PNG\r\n\x1a\n fixture image")
    (fixtures / "demo.json").write_text(
        json.dumps(
            [
                {
                    "model": "notes.note",
                    "pk": 9001,
                    "fields": {"text": "from the demo fixture", "created_at": "2026-01-01T00:00:00Z"},
                }
            ]
        ),
        encoding="utf-8",
    )
    return copy


@pytest.fixture(scope="module")
def live(test_host: TestHost, tmp_path_factory: pytest.TempPathFactory) -> Request:
    settings = settings_for(test_host)
    ctx = host_context(settings)
    bootstrap(test_host, ctx)
    release(test_host, ctx, "m1", app_with_fixtures(tmp_path_factory.mktemp("manage")))
    return Request(settings=settings, stack="dev", args=(), tty=False, project_dir=test_host.work_dir)


def test_createsuperuser_noinput_with_the_password_from_env(live: Request) -> None:
    create_superuser(live, PASSWORD)
    check = (
        "from django.contrib.auth import get_user_model; "
        "u = get_user_model().objects.get(username='admin'); "
        f"print(u.is_superuser, u.check_password({PASSWORD!r}))"
    )
    code, out, err = run_manage(live, "shell", "--no-imports", "-c", check)
    assert (code, out.strip()) == (0, "True True"), err


def test_the_command_runs_as_the_app_user_in_the_live_release_with_the_apps_environment(live: Request) -> None:
    probe = (
        "import os, pwd, json; "
        "print(json.dumps([pwd.getpwuid(os.getuid()).pw_name, os.path.basename(os.getcwd()), "
        "os.environ.get('RELEASE_ID'), bool(os.environ.get('DATABASE_URL'))]))"
    )
    code, out, err = run_manage(live, "shell", "--no-imports", "-c", probe)
    assert code == 0, err
    ctx = host_context(live.settings)
    assert json.loads(out.strip().splitlines()[-1]) == [ctx.user, "m1", "m1", True]


def test_a_fixture_with_nested_media_loads_and_its_image_arrived(live: Request) -> None:
    code, out, err = run_manage(live, "loaddata", "demo")
    assert code == 0, err
    assert "Installed 1 object" in out
    check = (
        "import os; from notes.models import Note; "
        "print(Note.objects.get(pk=9001).text, os.path.exists('notes/fixtures/media/demo/pixel.png'))"
    )
    code, out, err = run_manage(live, "shell", "--no-imports", "-c", check)
    assert (code, out.strip()) == (0, "from the demo fixture True"), err


def test_data_on_stdin_reaches_the_command(live: Request) -> None:
    fixture = json.dumps(
        [{"model": "notes.note", "pk": 9002, "fields": {"text": "from stdin", "created_at": "2026-01-01T00:00:00Z"}}]
    )
    code, out, err = run_manage(live, "loaddata", "--format=json", "-", stdin=fixture)
    assert code == 0, err
    code, out, err = run_manage(
        live, "shell", "--no-imports", "-c", "from notes.models import Note; print(Note.objects.get(pk=9002))"
    )
    assert (code, out.strip()) == (0, "from stdin"), err


def test_hostile_arguments_arrive_as_they_were_given(live: Request) -> None:
    text = "$(touch /tmp/pwned) `id` ; rm -rf / # \"quoted\" 'single' \\ * a,b"
    code, out, err = run_manage(live, "shell", "--no-imports", "-c", f"import sys; sys.stdout.write({text!r})")
    assert code == 0, err
    assert out == text


def test_a_failing_command_passes_its_exit_code_on(live: Request) -> None:
    code, _out, _err = run_manage(live, "shell", "--no-imports", "-c", "import sys; sys.exit(3)")
    assert code == 3
    code, _out, err = run_manage(live, "loaddata", "no-such-fixture")
    assert code == 1
    assert "No fixture named 'no-such-fixture' found" in err

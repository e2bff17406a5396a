"""The host layer on a real systemd host: the same bootstrap and release code DjangoHost runs.

One booted Debian container (systemd as PID 1, reached over SSH) is configured with the dev
stack's settings, then serves the sample app through Nginx -> Gunicorn with real PostgreSQL
and Redis. The tests run in file order: they share the host and build on each other's releases.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import json
import shutil
import ssl
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from djangostack.host.artifact import pack_source
from djangostack.host.context import HostContext
from djangostack.host.django_host import env_prelude, release_command, upload_script
from djangostack.host.render import render_all
from djangostack.settings.loading import load_from_stack_file
from djangostack.settings.stack import StackSettings
from djangostack.targets.hosts import host_context
from tests.e2e.web import Browser
from tests.harness import fixture_stack
from tools.testhost import TestHost, distro

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples/django_app"
ARCHIVE = "/var/tmp/notes-artifacts/source.tar.gz"


@pytest.fixture(scope="module")
def settings() -> StackSettings:
    return load_from_stack_file(fixture_stack("dev"))


@pytest.fixture(scope="module")
def ctx(settings: StackSettings) -> HostContext:
    # The test host's distribution (TESTHOST_SUITE) is the stack's host OS.
    return dataclasses.replace(host_context(settings), host_os=distro().host_os)


def bootstrap(host: TestHost, ctx: HostContext) -> str:
    """Run the bootstrap on ``host``; its output."""
    script = env_prelude({"CERTBOT_SKIP": "1"}) + upload_script(ctx, render_all(ctx))
    result = host.ssh("sudo -n bash -s", input=script, timeout=900, check=False)
    assert result.returncode == 0, f"bootstrap failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def with_migration(tmp: Path, name: str, operation: str) -> Path:
    """A copy of the sample app with one extra migration."""
    copy = tmp / name
    shutil.copytree(APP, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "media", "staticfiles"))
    migrations = sorted((copy / "notes/migrations").glob("0*.py"))
    last = migrations[-1].stem
    number = int(last[:4]) + 1
    (copy / f"notes/migrations/{number:04d}_{name}.py").write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('notes', '{last}')]\n"
        f"    operations = [{operation}]\n"
    )
    return copy


def release(
    host: TestHost, ctx: HostContext, release_id: str, source: Path = APP, check: bool = True
) -> subprocess.CompletedProcess[str]:
    archive = pack_source(source)
    encoded = base64.b64encode(archive).decode()
    host.ssh(f"mkdir -p {Path(ARCHIVE).parent} && base64 -d > {ARCHIVE}", input=encoded)
    sha256 = hashlib.sha256(archive).hexdigest()
    result = host.ssh(release_command(ctx, release_id, ARCHIVE, sha256), timeout=900, check=False)
    if check:
        assert result.returncode == 0, f"release {release_id} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def deployed(test_host: TestHost, ctx: HostContext) -> TestHost:
    bootstrap(test_host, ctx)
    release(test_host, ctx, "r1")
    return test_host


@pytest.fixture
def browser(ctx: HostContext) -> Browser:
    return Browser(host=ctx.primary_host, port=ctx.https_port, http_port=ctx.http_port)


def live_release(browser: Browser) -> str:
    response = browser.get("/readyz")
    assert response.status == 200, response.text
    return str(response.json()["release"])


def live_color(host: TestHost, ctx: HostContext) -> str:
    """The Gunicorn color Nginx connects to (the target of its socket link): blue or green."""
    target = host.ssh(f"readlink {ctx.socket_path}").stdout.strip()
    assert target.startswith(f"/run/{ctx.runtime_dir_name}/"), target
    return target.rsplit("/", 1)[1].removesuffix(".sock")


def color_units(ctx: HostContext, color: str) -> str:
    return f"{ctx.gunicorn_unit}@{color}.socket {ctx.gunicorn_unit}@{color}.service"


def unit_states(host: TestHost, units: str) -> list[str]:
    return host.ssh(f"systemctl is-active {units}", check=False).stdout.split()


def test_health_reports_database_and_cache(deployed: TestHost, browser: Browser) -> None:
    response = browser.get("/readyz")
    assert response.status == 200, response.text
    body = response.json()
    assert body["checks"] == {"database": "ok", "cache": "ok"}
    assert body["release"] == "r1"
    assert browser.get("/healthz").json() == {"status": "ok"}


def test_a_page_writes_and_reads_the_database(deployed: TestHost, browser: Browser) -> None:
    text = f"written through nginx at {time.time()}"
    response = browser.post_form("/", {"text": text})
    assert response.status == 302, response.text
    assert text in browser.get("/").text


def test_a_celery_task_round_trips(deployed: TestHost, browser: Browser) -> None:
    response = browser.post_json("/tasks/ping/")
    assert response.status == 202, response.text
    run_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if browser.get(f"/tasks/{run_id}/").json()["done"]:
            return
        time.sleep(1)
    pytest.fail("the Celery worker did not run the task within 60 s")


def test_static_files_come_from_nginx_even_when_gunicorn_is_down(
    deployed: TestHost, browser: Browser, ctx: HostContext
) -> None:
    units = color_units(ctx, live_color(deployed, ctx))
    deployed.ssh(f"sudo -n systemctl stop {units}")
    try:
        static = browser.get("/static/notes/site.css")
        assert static.status == 200
        assert static.headers["content-type"].startswith("text/css")
        assert "public" in static.headers.get("cache-control", "")
        assert browser.get("/healthz").status == 502
    finally:
        deployed.ssh(f"sudo -n systemctl start {units}")
    assert browser.get("/healthz").status == 200


def test_an_upload_lands_in_media_and_is_served(deployed: TestHost, browser: Browser, ctx: HostContext) -> None:
    content = b"uploaded through nginx " + str(time.time()).encode()
    response = browser.post_file("/upload/", "file", "hello.txt", content)
    assert response.status == 302, response.text[:500]
    detail = browser.get(response.headers["location"])
    url = next(part.split('"')[0] for part in detail.text.split('href="')[1:] if part.startswith("/media/"))
    served = browser.get(url)
    assert served.status == 200
    assert served.body == content
    on_disk = deployed.ssh(f"sudo -n find {ctx.media_dir} -name 'hello*.txt' | head -1").stdout.strip()
    assert on_disk.startswith(ctx.media_dir)


def test_an_oversize_upload_gets_413_from_nginx_not_502(deployed: TestHost, browser: Browser, ctx: HostContext) -> None:
    response = browser.post_file("/upload/", "file", "big.bin", b"x" * ((ctx.max_upload_mb + 1) * 1024 * 1024))
    assert response.status == 413
    assert "nginx" in response.text.lower()


def answer_for_host(browser: Browser, host: str, *, secure: bool) -> str:
    """What Nginx does with a request for ``host``: an HTTP status, or how the connection ended."""
    try:
        return str(browser.get("/", secure=secure, host=host).status)
    except (http.client.RemoteDisconnected, ConnectionError) as exc:  # 444: closed without a reply
        return f"closed ({type(exc).__name__})"
    except ssl.SSLError as exc:  # ssl_reject_handshake
        return f"handshake refused ({exc.reason})"


def test_an_unknown_host_header_is_refused(deployed: TestHost, browser: Browser) -> None:
    for secure in (False, True):
        answer = answer_for_host(browser, "evil.example.com", secure=secure)
        assert not answer.isdigit() or answer in ("400", "421"), (secure, answer)
    assert answer_for_host(browser, browser.origin.split("//")[1], secure=True) == "200"


def test_gunicorn_is_not_reachable_except_through_its_socket(deployed: TestHost, ctx: HostContext) -> None:
    listeners = deployed.ssh("sudo -n ss -ltnpH").stdout
    assert "gunicorn" not in listeners
    # The live color's socket, through the link Nginx connects to.
    mode = deployed.ssh(f"sudo -n stat -L -c '%a %U %G' {ctx.socket_path}").stdout.split()
    assert mode == ["660", ctx.user, "www-data"] or mode[0] == "660", mode


class Load:
    """Requests in a loop from several threads, counting failures, while something else happens:
    ``threads`` open a connection per request, ``keepalive`` more reuse one connection as long as
    Nginx keeps it open (a connection closed under a request in flight is a failure, as for wrk)."""

    def __init__(self, browser: Browser, paths: list[str], threads: int = 4, keepalive: int = 2) -> None:
        self.browser, self.paths, self.threads, self.keepalive = browser, paths, threads, keepalive
        self.results: Counter[str] = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def _run(self, index: int) -> None:
        own = Browser(self.browser.host, self.browser.port, self.browser.http_port)
        i = index
        while not self._stop.is_set():
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                status = own.get(path).status
                self.results[str(status)] += 1
                if status != 200:
                    self.errors.append(f"{path}: HTTP {status}")
            except Exception as exc:  # every failure counts
                self.results["error"] += 1
                self.errors.append(f"{path}: {type(exc).__name__}: {exc}")

    def _run_keepalive(self, index: int) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        host = self.browser.origin.split("//", 1)[1]
        conn = http.client.HTTPSConnection("127.0.0.1", self.browser.port, timeout=30, context=context)
        i = index
        try:
            while not self._stop.is_set():
                path = self.paths[i % len(self.paths)]
                i += 1
                try:
                    conn.request("GET", path, headers={"Host": host})
                    response = conn.getresponse()
                    response.read()
                    self.results[str(response.status)] += 1
                    if response.status != 200:
                        self.errors.append(f"{path} (keep-alive): HTTP {response.status}")
                except Exception as exc:  # every failure counts
                    self.results["error"] += 1
                    self.errors.append(f"{path} (keep-alive): {type(exc).__name__}: {exc}")
                    conn.close()
        finally:
            conn.close()

    def __enter__(self) -> Load:
        targets = [self._run] * self.threads + [self._run_keepalive] * self.keepalive
        for index, target in enumerate(targets):
            worker = threading.Thread(target=target, args=(index,), daemon=True)
            worker.start()
            self._workers.append(worker)
        time.sleep(1)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(1)
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=60)


def test_a_release_under_load_drops_no_request(
    deployed: TestHost, browser: Browser, ctx: HostContext, tmp_path: Path
) -> None:
    source = with_migration(
        tmp_path, "e2e_marker", "migrations.RunSQL('CREATE TABLE e2e_marker (id int)', 'DROP TABLE e2e_marker')"
    )
    before = live_color(deployed, ctx)
    with Load(browser, ["/", "/healthz", "/static/notes/site.css"]) as load:
        release(deployed, ctx, "r2", source)
    total = sum(load.results.values())
    assert total > 50, f"the load generator made too few requests to mean anything: {load.results}"
    assert not load.errors, f"{len(load.errors)} failed of {total}: {load.errors[:10]}"
    assert live_release(browser) == "r2"
    # The overlap: the new release runs on the other color, the old one drained and stopped.
    after = live_color(deployed, ctx)
    assert after != before
    assert unit_states(deployed, color_units(ctx, after)) == ["active", "active"]
    assert "active" not in unit_states(deployed, color_units(ctx, before))
    enabled = deployed.ssh(f"systemctl is-enabled {color_units(ctx, before)}", check=False).stdout.split()
    assert enabled == ["disabled", "disabled"], "the old color would start at boot"
    tables = deployed.ssh(
        f"sudo -n -u postgres psql -p {ctx.db_port} -d {ctx.db_name} -Atc \"select to_regclass('e2e_marker')\""
    )
    assert tables.stdout.strip() == "e2e_marker", "the release's migration did not run"


def test_an_unchanged_requirements_release_reuses_the_venv(deployed: TestHost, ctx: HostContext) -> None:
    """What makes such a release fast, checked by what it did (its time is a benchmark's figure,
    benchmarks/host_bench.py, never a test's): no venv is built, nothing is installed."""
    before = deployed.ssh(f"readlink {ctx.current_link}/.venv").stdout.strip()
    result = release(deployed, ctx, "r3")
    assert "dependencies unchanged: reusing the venv" in result.stdout, result.stdout[-3000:]
    assert "into the venv" not in result.stdout, "nothing is installed"
    assert deployed.ssh(f"readlink {ctx.releases_dir}/r3/.venv").stdout.strip() == before, "the same venv"


def note_count(host: TestHost, ctx: HostContext) -> int:
    out = host.ssh(f"sudo -n -u postgres psql -p {ctx.db_port} -d {ctx.db_name} -Atc 'select count(*) from notes_note'")
    return int(out.stdout.strip())


def test_a_failing_migration_keeps_the_old_release_serving_and_loses_no_rows(
    deployed: TestHost, browser: Browser, ctx: HostContext, tmp_path: Path
) -> None:
    browser.post_form("/", {"text": "row that must survive"})
    before = note_count(deployed, ctx)
    broken = with_migration(
        tmp_path, "broken", "migrations.RunSQL('ALTER TABLE notes_note ADD COLUMN broken nosuchtype')"
    )
    result = release(deployed, ctx, "r4-broken", broken, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "nosuchtype" in output, output[-3000:]
    assert live_release(browser) == "r3"
    assert note_count(deployed, ctx) == before
    # The live color was never touched; the failed release never started a Gunicorn.
    assert "starting Gunicorn" not in output
    # Issue 16 (10): the failed release's folder (its venv is hundreds of MB) is not left behind.
    assert "removed the folder of the failed release r4-broken" in output, output[-3000:]
    assert deployed.ssh(f"sudo -n test ! -e {ctx.releases_dir}/r4-broken", check=False).returncode == 0


def test_a_release_that_fails_its_health_check_never_touches_the_live_color(
    deployed: TestHost, browser: Browser, ctx: HostContext, tmp_path: Path
) -> None:
    live, color = live_release(browser), live_color(deployed, ctx)
    source = tmp_path / "unhealthy"
    shutil.copytree(APP, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "media", "staticfiles"))
    # Imports fine (check --deploy, collectstatic and --check-config pass); every request fails.
    (source / "project/wsgi.py").write_text(
        (source / "project/wsgi.py").read_text()
        + "\n\ndef application(environ, start_response):  # noqa: F811\n"
        + "    start_response('503 Service Unavailable', [('Content-Type', 'text/plain')])\n"
        + "    return [b'this release is broken on purpose\\n']\n"
    )
    with Load(browser, ["/", "/healthz"]) as load:
        result = release(deployed, ctx, "r4-unhealthy", source, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "the last answer was HTTP 503" in output and "this release is broken on purpose" in output, output[-3000:]
    assert f"release r4-unhealthy failed before the switch; {live} stays live" in output
    assert not load.errors, f"{len(load.errors)} failed of {sum(load.results.values())}: {load.errors[:10]}"
    assert live_release(browser) == live and live_color(deployed, ctx) == color
    assert "active" not in unit_states(deployed, color_units(ctx, "green" if color == "blue" else "blue"))


def test_rollback_returns_to_the_previous_release(deployed: TestHost, browser: Browser, ctx: HostContext) -> None:
    assert live_release(browser) == "r3"
    color = live_color(deployed, ctx)
    with Load(browser, ["/", "/healthz"]) as load:
        result = deployed.ssh(f"sudo -n {ctx.release_script} rollback", timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not load.errors, f"{len(load.errors)} failed of {sum(load.results.values())}: {load.errors[:10]}"
    assert live_release(browser) == "r2"
    assert live_color(deployed, ctx) != color
    assert "active" not in unit_states(deployed, color_units(ctx, color))


def test_every_service_comes_back_after_a_restart(deployed: TestHost, browser: Browser, ctx: HostContext) -> None:
    deployed.restart()
    deadline = time.monotonic() + 120
    last = ""
    while time.monotonic() < deadline:
        try:
            response = browser.get("/readyz")
            if response.status == 200 and response.json()["checks"] == {"database": "ok", "cache": "ok"}:
                break
            last = response.text
        except OSError as exc:
            last = str(exc)
        time.sleep(2)
    else:
        pytest.fail(f"the app did not come back after a restart: {last}")
    color = live_color(deployed, ctx)
    units = [
        f"{ctx.gunicorn_unit}@{color}.socket",
        f"{ctx.gunicorn_unit}@{color}.service",
        f"{ctx.celery_worker_unit}.service",
        f"{ctx.celery_beat_unit}.service",
    ]
    states = deployed.ssh("systemctl is-active " + " ".join(units), check=False).stdout.split()
    assert states == ["active"] * len(units), dict(zip(units, states, strict=False))
    assert json.loads(browser.get("/healthz").text) == {"status": "ok"}


# --------------------------------------------------------------------------------------------------
# Issue 11 items 4 and 6, issue 12 AWS 2 and 7: privilege, idempotence, order, pg_dump, certbot
# --------------------------------------------------------------------------------------------------


def table_exists(host: TestHost, ctx: HostContext, table: str) -> bool:
    out = host.ssh(f"sudo -n -u postgres psql -p {ctx.db_port} -d {ctx.db_name} -Atc \"select to_regclass('{table}')\"")
    return out.stdout.strip() == table


def test_the_live_release_id_again_succeeds(deployed: TestHost, browser: Browser, ctx: HostContext) -> None:
    live = live_release(browser)
    result = release(deployed, ctx, live, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert f"release {live} is already live and healthy: nothing to do" in output
    assert live_release(browser) == live


def test_root_owns_what_root_reads_and_the_app_user_built_the_release(deployed: TestHost, ctx: HostContext) -> None:
    stat = deployed.ssh(
        f"sudo -n stat -c '%n %a %U %G' {ctx.env_file} {ctx.cache_dir} {ctx.incoming_dir} "
        f"$(readlink -f {ctx.current_link})/.venv $(readlink -f {ctx.current_link})/static"
    ).stdout.split("\n")
    modes = dict((line.split()[0], line.split()[1:]) for line in stat if line)
    assert modes[ctx.env_file] == ["640", "root", ctx.group], modes
    assert modes[ctx.cache_dir][1] == ctx.user, modes
    assert modes[ctx.incoming_dir] == ["700", "root", "root"], modes
    venv = next(k for k in modes if k.endswith("/.venv"))
    assert modes[venv][1:] == ["root", "root"], modes  # sealed after the app user built it
    built_by = deployed.ssh(f"sudo -n find {ctx.cache_dir} -mindepth 1 -printf '%u\\n' | sort -u").stdout.split()
    assert built_by == [ctx.user], built_by


def test_a_tampered_archive_is_refused(deployed: TestHost, browser: Browser, ctx: HostContext) -> None:
    live = live_release(browser)
    encoded = base64.b64encode(pack_source(APP)).decode()
    deployed.ssh(f"mkdir -p {Path(ARCHIVE).parent} && base64 -d > {ARCHIVE}", input=encoded)
    result = deployed.ssh(release_command(ctx, "r-tampered", ARCHIVE, "0" * 64), timeout=300, check=False)
    assert result.returncode == 1
    assert "does not match sha256" in result.stdout + result.stderr
    assert live_release(browser) == live


def test_a_failing_collectstatic_leaves_the_schema_unmigrated(
    deployed: TestHost, browser: Browser, ctx: HostContext, tmp_path: Path
) -> None:
    live = live_release(browser)
    source = with_migration(
        tmp_path, "static_guard", "migrations.RunSQL('CREATE TABLE static_guard (id int)', 'DROP TABLE static_guard')"
    )
    (source / "notes/static/notes/broken.css").write_text('body { background: url("no-such-image.png"); }\n')
    result = release(deployed, ctx, "r5-badstatic", source, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "no-such-image.png" in output, output[-3000:]
    assert not table_exists(deployed, ctx, "static_guard"), "migrate ran before collectstatic failed"
    assert live_release(browser) == live


def test_a_pg_dump_older_than_the_server_stops_the_release_before_migrate(
    deployed: TestHost, browser: Browser, ctx: HostContext, tmp_path: Path
) -> None:
    live = live_release(browser)
    version = deployed.ssh("ls /usr/lib/postgresql | sort -V | tail -1").stdout.strip()
    real = f"/usr/lib/postgresql/{version}/bin/pg_dump"
    older = f"{int(version) - 1}.0"  # one major below the server, whatever the host OS ships
    fake = f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {older}'\nexit 1\n"
    deployed.ssh(
        f"sudo -n mv {real} {real}.real && sudo -n tee {real} >/dev/null && sudo -n chmod 0755 {real}", input=fake
    )
    try:
        source = with_migration(
            tmp_path, "dump_guard", "migrations.RunSQL('CREATE TABLE dump_guard (id int)', 'DROP TABLE dump_guard')"
        )
        result = release(deployed, ctx, "r6-olddump", source, check=False)
    finally:
        deployed.ssh(f"sudo -n mv -f {real}.real {real}")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert f"no pg_dump for PostgreSQL {version} on this host (installed: {older})" in output, output[-3000:]
    assert f"install postgresql-client-{version}" in output.lower()
    assert not table_exists(deployed, ctx, "dump_guard")
    assert live_release(browser) == live


def test_a_failed_certificate_issuance_keeps_the_site_up_and_retries(
    deployed: TestHost, browser: Browser, ctx: HostContext
) -> None:
    le = dataclasses.replace(ctx, tls_mode="letsencrypt", letsencrypt_email="ops@example.com")
    stub = "#!/bin/sh\necho 'Challenge failed for domain: DNS problem: NXDOMAIN' >&2\nexit 1\n"
    deployed.ssh(
        "sudo -n tee /usr/local/bin/certbot >/dev/null && sudo -n chmod 0755 /usr/local/bin/certbot", input=stub
    )
    try:
        script = upload_script(le, render_all(le))
        result = deployed.ssh("sudo -n bash -s", input=script, timeout=900, check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert "WARNING: certificate issuance failed" in output, output[-3000:]
        timer = deployed.ssh(f"systemctl is-enabled {le.certbot_retry_unit}.timer", check=False).stdout.strip()
        assert timer == "enabled"
        assert browser.get("/healthz").status == 200
    finally:
        deployed.ssh(
            f"sudo -n systemctl disable --now {le.certbot_retry_unit}.timer; sudo -n rm -f /usr/local/bin/certbot "
            f"/etc/systemd/system/{le.certbot_retry_unit}.timer /etc/systemd/system/{le.certbot_retry_unit}.service",
            check=False,
        )
        bootstrap(deployed, ctx)

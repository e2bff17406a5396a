"""Two apps on one host, each with its own PostgreSQL cluster and Redis instance.

The old layout gave every app a drop-in in the host's one PostgreSQL cluster and an include in the
host's one Redis, each setting ``port`` (and Redis's ``requirepass``): the last one won, so the
second app's bootstrap moved the first app's database port and replaced its Redis password. Here
two apps with different ports and passwords are bootstrapped on the session's test host, the first
one again after the second, and both serve with a healthy database and cache. Then one is destroyed
with its data kept (its ports close, its data stays), deployed again (its rows are back), and both
are destroyed with their data (nothing of them listens any more).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from djangostack.host.artifact import pack_source
from djangostack.host.context import HostContext
from djangostack.host.django_host import env_prelude, release_command, uninstall_script, upload_script
from djangostack.host.render import render_all
from djangostack.settings.loading import read_stack_file
from djangostack.targets.hosts import host_context
from djangostack.validation import validate
from tests.e2e.web import Browser
from tests.harness import fixture_stack
from tools.testhost import TestHost, distro

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
APP_SOURCE = REPO / "examples/django_app"


@dataclasses.dataclass(frozen=True)
class App:
    ctx: HostContext
    db_password: str
    redis_password: str

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.ctx.http_port, self.ctx.https_port, self.ctx.db_port, self.ctx.redis_port)

    @property
    def browser(self) -> Browser:
        return Browser(host=self.ctx.primary_host, port=self.ctx.https_port, http_port=self.ctx.http_port)


def make_app(name: str, http: int, https: int, db: int, redis: int, celery: bool) -> App:
    """The dev stack as app ``name`` on its own ports (validated like any stack)."""
    raw, stack_secrets, plaintext = read_stack_file(fixture_stack("dev"))
    raw = {
        **raw,
        "target": {**raw["target"], "httpPort": http, "httpsPort": https},
        "app": {**raw["app"], "name": name},
        "database": {**raw["database"], "port": db},
        "cache": {**raw["cache"], "port": redis},
        "celery": {"worker": celery, "beat": celery},
    }
    settings = validate(raw, stack_secrets, plaintext, "dev")
    ctx = dataclasses.replace(host_context(settings), host_os=distro().host_os)
    return App(ctx, f"{name}-db-{secrets.token_hex(12)}", f"{name}-redis-{secrets.token_hex(12)}")


SHOP = make_app("shop", 8280, 8643, 5491, 6491, celery=True)
BLOG = make_app("blog", 8281, 8644, 5492, 6492, celery=False)


def bootstrap(host: TestHost, app: App) -> str:
    env = {"CERTBOT_SKIP": "1", "DB_PASSWORD": app.db_password, "REDIS_PASSWORD": app.redis_password}
    script = env_prelude(env) + upload_script(app.ctx, render_all(app.ctx))
    result = host.ssh("sudo -n bash -s", input=script, timeout=900, check=False)
    output = result.stdout[-3000:] + "\n" + result.stderr[-3000:]
    assert result.returncode == 0, f"bootstrap of {app.ctx.app_name} failed:\n{output}"
    return result.stdout


def release(host: TestHost, app: App, release_id: str) -> None:
    archive = pack_source(APP_SOURCE)
    remote = f"/var/tmp/{app.ctx.app_name}-artifacts/source.tar.gz"
    host.ssh(f"mkdir -p {Path(remote).parent} && base64 -d > {remote}", input=base64.b64encode(archive).decode())
    command = release_command(app.ctx, release_id, remote, hashlib.sha256(archive).hexdigest())
    result = host.ssh(command, timeout=900, check=False)
    output = result.stdout[-3000:] + "\n" + result.stderr[-3000:]
    assert result.returncode == 0, f"release of {app.ctx.app_name} failed:\n{output}"


def destroy(host: TestHost, app: App, *, remove_data: bool) -> str:
    script = uninstall_script(app.ctx, remove_data=remove_data)
    result = host.ssh("sudo -n bash -s", input=script, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def listening(host: TestHost, ports: tuple[int, ...]) -> list[int]:
    out = host.ssh("ss -ltnH", check=False).stdout
    open_ports = {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip()}
    return sorted(set(ports) & open_ports)


def healthy(app: App) -> dict[str, object]:
    response = app.browser.get("/readyz")
    assert response.status == 200, f"{app.ctx.app_name}: {response.text[:2000]}"
    return dict(response.json())


def psql(host: TestHost, app: App, sql: str) -> str:
    result = host.ssh(f'sudo -n -u postgres psql -p {app.ctx.db_port} -d {app.ctx.db_name} -Atc "{sql}"', check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def both(test_host: TestHost) -> Iterator[TestHost]:
    busy = listening(test_host, SHOP.ports + BLOG.ports)
    assert not busy, f"ports of this test are taken on this machine: {busy}"
    try:
        bootstrap(test_host, SHOP)
        release(test_host, SHOP, "s1")
        bootstrap(test_host, BLOG)
        release(test_host, BLOG, "b1")
        # The old layout's failure: the first app's bootstrap after the second's won the port and password.
        bootstrap(test_host, SHOP)
        yield test_host
    finally:
        for app in (SHOP, BLOG):
            uninstall = uninstall_script(app.ctx, remove_data=True)
            test_host.ssh("sudo -n bash -s", input=uninstall, timeout=300, check=False)


def test_both_apps_serve_with_their_own_database_and_cache(both: TestHost) -> None:
    assert healthy(SHOP) == {**healthy(SHOP), "checks": {"database": "ok", "cache": "ok"}, "release": "s1"}
    assert healthy(BLOG) == {**healthy(BLOG), "checks": {"database": "ok", "cache": "ok"}, "release": "b1"}


def test_each_app_has_its_own_cluster_and_redis_instance(both: TestHost) -> None:
    clusters = {
        line.split()[1]: line.split()
        for line in both.ssh("pg_lsclusters --no-header", check=False).stdout.splitlines()
        if line.strip()
    }
    for app in (SHOP, BLOG):
        row = clusters[app.ctx.pg_cluster]
        assert row[2] == str(app.ctx.db_port) and row[3] == "online", row
        assert both.ssh(f"systemctl is-active {app.ctx.redis_unit}", check=False).stdout.strip() == "active"
    # The host's own main cluster is not either app's.
    assert clusters["main"][2] not in {str(SHOP.ctx.db_port), str(BLOG.ctx.db_port)}, clusters["main"]


def test_one_apps_password_does_not_open_the_other_apps_redis(both: TestHost) -> None:
    def ping(port: int, password: str) -> str:
        result = both.ssh(f"REDISCLI_AUTH={password} redis-cli -p {port} ping", check=False)
        return (result.stdout + result.stderr).strip()

    assert ping(SHOP.ctx.redis_port, SHOP.redis_password) == "PONG"
    assert ping(BLOG.ctx.redis_port, BLOG.redis_password) == "PONG"
    assert "PONG" not in ping(BLOG.ctx.redis_port, SHOP.redis_password)
    assert "PONG" not in ping(SHOP.ctx.redis_port, BLOG.redis_password)


def test_a_destroy_that_keeps_the_data_frees_the_ports_and_a_deploy_brings_it_back(both: TestHost) -> None:
    marker = f"kept across a destroy {secrets.token_hex(4)}"
    psql(both, BLOG, f"insert into notes_note (text, created_at) values ('{marker}', now())")
    out = destroy(both, BLOG, remove_data=False)
    assert f"the PostgreSQL cluster {BLOG.ctx.pg_cluster}" in out and BLOG.ctx.redis_data_dir in out, out
    assert listening(both, BLOG.ports) == [], "a destroyed app's service still listens"
    assert both.ssh(f"sudo -n test -d /var/lib/postgresql/*/{BLOG.ctx.pg_cluster}", check=False).returncode == 0
    assert both.ssh(f"sudo -n test -d {BLOG.ctx.redis_data_dir}", check=False).returncode == 0
    assert healthy(SHOP)["checks"] == {"database": "ok", "cache": "ok"}, "the other app must not notice"

    bootstrap(both, BLOG)
    release(both, BLOG, "b2")
    assert healthy(BLOG)["checks"] == {"database": "ok", "cache": "ok"}
    assert marker in psql(both, BLOG, "select text from notes_note")


def test_a_destroy_with_the_data_leaves_nothing_of_the_app_listening(both: TestHost) -> None:
    destroy(both, BLOG, remove_data=True)
    assert listening(both, BLOG.ports) == []
    clusters = both.ssh("pg_lsclusters --no-header", check=False).stdout
    assert f" {BLOG.ctx.pg_cluster} " not in clusters, clusters
    assert both.ssh(f"sudo -n test ! -e {BLOG.ctx.redis_data_dir}", check=False).returncode == 0
    assert healthy(SHOP)["checks"] == {"database": "ok", "cache": "ok"}

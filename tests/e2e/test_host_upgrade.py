"""A host set up before the two Gunicorn colors upgrades in place, under load: the next bootstrap
links Nginx's socket path to the old single Gunicorn, starts the blue color next to it, switches
once blue is healthy, drains the old Gunicorn and removes its units. That layout kept the database
in the host's shared cluster, so the same bootstrap also moves it into the app's own (the app
stopped meanwhile: 502s and no other failure, every row kept); the next release then overlaps
without a failed request.

The host is first set up by the bootstrap and release script of ``SINGLE_GUNICORN`` (the last
commit with ``gunicorn-<app>.socket`` + ``.service``), rendered from that commit's own code
(``tools.previous_host``). The module starts from a clean host (the app is uninstalled first, data
included), so it does not depend on what other modules of the session left behind.
"""

from __future__ import annotations

import shlex

import pytest

from djangostack.host.context import HostContext
from djangostack.host.django_host import uninstall_script
from tests.e2e.test_host_release import (
    Load,
    bootstrap,
    browser,
    color_units,
    ctx,
    live_color,
    live_release,
    release,
    settings,
    unit_states,
)
from tests.e2e.web import Browser
from tests.harness import fixture_stack
from tools.previous_host import SINGLE_GUNICORN, previous_upload_script
from tools.testhost import TestHost, distro

pytestmark = pytest.mark.e2e

__all__ = ["browser", "ctx", "settings"]  # module fixtures reused from the release tests


@pytest.fixture(scope="module")
def single_gunicorn_host(test_host: TestHost, ctx: HostContext) -> TestHost:
    """The app as SINGLE_GUNICORN set it up and released it (r1)."""
    test_host.ssh(f"sudo -n bash -c {shlex.quote(uninstall_script(ctx, remove_data=True))}", timeout=300, check=False)
    script = previous_upload_script(SINGLE_GUNICORN, fixture_stack("dev"), distro().host_os, {"CERTBOT_SKIP": "1"})
    result = test_host.ssh("sudo -n bash -s", input=script, timeout=900, check=False)
    assert result.returncode == 0, f"the earlier bootstrap failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    release(test_host, ctx, "r1")
    return test_host


def notes_count(host: TestHost, ctx: HostContext) -> str:
    query = "select count(*) from notes_note"
    result = host.ssh(
        f"sudo -n runuser -u postgres -- psql -p {ctx.db_port} -d {ctx.db_name} -Atc {shlex.quote(query)}"
    )
    return result.stdout.strip()


def test_the_single_gunicorn_is_replaced_by_a_color_under_load(
    single_gunicorn_host: TestHost, browser: Browser, ctx: HostContext
) -> None:
    host = single_gunicorn_host
    legacy = f"{ctx.gunicorn_unit}.socket {ctx.gunicorn_unit}.service"
    assert unit_states(host, legacy) == ["active", "active"], "the earlier layout is not running"
    assert live_release(browser) == "r1"
    # Requests on fresh connections only: this bootstrap changes the Nginx site (its socket path),
    # and the one reload that takes closes the clients' idle keep-alive connections (which HTTP
    # clients retry). Releases and environment changes no longer reload Nginx.
    # That layout also kept the database in the host's shared `main` cluster: this bootstrap moves
    # it into the app's own cluster, with the app's services stopped while the dump is restored and
    # checked (a one-time maintenance window, README). Nginx answers 502 then and nothing else
    # fails; the rows survive; the colors' own switches are checked without any failure below.
    before = notes_count(host, ctx)
    with Load(browser, ["/", "/healthz", "/static/notes/site.css"], keepalive=0) as load:
        output = bootstrap(host, ctx)
    total = sum(load.results.values())
    assert total > 50, f"too few requests to mean anything: {load.results}"
    assert "row counts checked" in output, output[-3000:]
    unexpected = [error for error in load.errors if not error.endswith(": HTTP 502")]
    assert not unexpected, f"{len(unexpected)} failed other than during the move: {unexpected[:10]}"
    assert notes_count(host, ctx) == before, "the move lost rows"
    assert live_color(host, ctx) == "blue"
    assert unit_states(host, color_units(ctx, "blue")) == ["active", "active"]
    assert "active" not in unit_states(host, legacy), "the single Gunicorn still runs"
    left = host.ssh(
        f"ls /etc/systemd/system/{ctx.gunicorn_unit}.socket /etc/systemd/system/{ctx.gunicorn_unit}.service",
        check=False,
    )
    assert left.stdout.strip() == "", f"the single Gunicorn's units are still installed: {left.stdout}"
    assert live_release(browser) == "r1"


def test_the_next_release_overlaps_under_load(
    single_gunicorn_host: TestHost, browser: Browser, ctx: HostContext
) -> None:
    host = single_gunicorn_host
    with Load(browser, ["/", "/healthz", "/static/notes/site.css"]) as load:
        release(host, ctx, "r2")
    assert not load.errors, f"{len(load.errors)} failed of {sum(load.results.values())}: {load.errors[:10]}"
    assert live_release(browser) == "r2"
    assert live_color(host, ctx) == "green"
    assert "active" not in unit_states(host, color_units(ctx, "blue"))

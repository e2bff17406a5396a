"""The app contract on a real host: security headers once, the public port in Host (CSRF without
CSRF_TRUSTED_ORIGINS), and an environment change applied under load by the overlap (the idle
Gunicorn color starts with it and is switched to once healthy), with no failed request; a change
that makes the app unhealthy never reaches the live Gunicorn.

Shares the session's test host; bootstraps and releases the dev stack itself (module fixtures),
then changes the environment and puts it back.
"""

from __future__ import annotations

import dataclasses
import http.client
import ssl
from urllib.parse import urlencode

import pytest

from djangostack.host.context import HostContext
from djangostack.host.django_host import env_prelude, upload_script
from djangostack.host.render import render_all
from tests.e2e.test_host_release import (
    Load,
    bootstrap,
    browser,
    color_units,
    ctx,
    deployed,
    live_color,
    settings,
    unit_states,
)
from tests.e2e.web import Browser
from tools.testhost import TestHost

pytestmark = pytest.mark.e2e

__all__ = ["browser", "ctx", "deployed", "settings"]  # module fixtures reused from the release tests

SECURITY_HEADERS = ("x-frame-options", "x-content-type-options", "referrer-policy", "strict-transport-security")


def header_counts(browser: Browser, path: str) -> dict[str, list[str]]:
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", browser.port, context=tls, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": browser.origin.split("//", 1)[1]})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)
        headers = response.getheaders()
    finally:
        conn.close()
    return {name: [v for k, v in headers if k.lower() == name] for name in SECURITY_HEADERS}


@pytest.mark.parametrize("path", ["/", "/healthz", "/static/notes/site.css"])
def test_security_headers_are_sent_once(deployed: TestHost, browser: Browser, path: str) -> None:
    counts = header_counts(browser, path)
    assert all(len(values) == 1 for values in counts.values()), counts


def gunicorn_main_pid(host: TestHost, ctx: HostContext) -> str:
    unit = f"{ctx.gunicorn_unit}@{live_color(host, ctx)}.service"
    pid = host.ssh(f"systemctl show --property MainPID --value {unit}").stdout.strip()
    assert pid not in ("", "0"), "gunicorn is not running"
    return pid


def post_note(browser: Browser, text: str) -> int:
    headers = browser.csrf_headers()
    headers["Origin"] = browser.origin
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return browser.request("POST", "/", urlencode({"text": text}).encode(), headers).status


def test_an_environment_change_restarts_gunicorn_side_by_side_without_a_failed_request(
    deployed: TestHost, browser: Browser, ctx: HostContext
) -> None:
    """The app stops seeing CSRF_TRUSTED_ORIGINS (app.envNames moves it to a name the app does not
    read): bootstrap writes the new env file and starts the other Gunicorn color with it, switches
    to it once healthy and drains the old one, while requests keep coming."""
    color, before = live_color(deployed, ctx), gunicorn_main_pid(deployed, ctx)
    moved = dataclasses.replace(ctx, env_names=(("CSRF_TRUSTED_ORIGINS", "UNREAD_CSRF_TRUSTED_ORIGINS"),))
    try:
        with Load(browser, ["/", "/healthz", "/readyz"]) as load:
            bootstrap(deployed, moved)
        total = sum(load.results.values())
        assert total > 50, f"too few requests to mean anything: {load.results}"
        assert not load.errors, f"{len(load.errors)} failed of {total}: {load.errors[:10]}"
        assert live_color(deployed, ctx) != color, "the environment change did not go through the overlap"
        assert gunicorn_main_pid(deployed, ctx) != before
        assert "active" not in unit_states(deployed, color_units(ctx, color)), "the old color still runs"
        env = deployed.ssh(f"sudo -n grep -c '^UNREAD_CSRF_TRUSTED_ORIGINS=' {ctx.env_file}").stdout.strip()
        assert env == "1"
        # A POST from the non-443 public port passes Django's CSRF origin check with the Host alone.
        assert ctx.https_port != 443
        assert post_note(browser, "posted without CSRF_TRUSTED_ORIGINS") == 302
    finally:
        with Load(browser, ["/", "/healthz"]) as back:
            bootstrap(deployed, ctx)
    assert not back.errors, f"{len(back.errors)} failed of {sum(back.results.values())}: {back.errors[:10]}"
    assert live_color(deployed, ctx) == color


def test_an_environment_that_breaks_the_app_never_reaches_the_live_gunicorn(
    deployed: TestHost, browser: Browser, ctx: HostContext
) -> None:
    """A settings module that does not exist: the new color never answers its health check, the
    bootstrap fails and says so, and the live color serves every request meanwhile."""
    color, pid = live_color(deployed, ctx), gunicorn_main_pid(deployed, ctx)
    broken = dataclasses.replace(ctx, settings_module="project.no_such_settings")
    try:
        with Load(browser, ["/", "/healthz"]) as load:
            result = deployed.ssh(
                "sudo -n bash -s",
                input=env_prelude({"CERTBOT_SKIP": "1"}) + upload_script(broken, render_all(broken)),
                timeout=900,
                check=False,
            )
        output = result.stdout + result.stderr
        assert result.returncode == 1, output[-3000:]
        assert "Gunicorn did not start healthy with the new settings; the live one keeps serving" in output
        assert "no_such_settings" in output, output[-3000:]
        assert not load.errors, f"{len(load.errors)} failed of {sum(load.results.values())}: {load.errors[:10]}"
        assert live_color(deployed, ctx) == color and gunicorn_main_pid(deployed, ctx) == pid
        other = "green" if color == "blue" else "blue"
        assert "active" not in unit_states(deployed, color_units(ctx, other))
    finally:
        bootstrap(deployed, ctx)
    assert browser.get("/healthz").status == 200

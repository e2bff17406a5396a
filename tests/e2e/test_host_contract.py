"""The app contract on a real host: security headers once, the public port in Host (CSRF without
CSRF_TRUSTED_ORIGINS), and an environment change applied by a reload under load, with no failed
request and the same Gunicorn master.

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
from tests.e2e.test_host_release import Load, bootstrap, browser, ctx, deployed, settings
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
    pid = host.ssh(f"systemctl show --property MainPID --value {ctx.gunicorn_unit}.service").stdout.strip()
    assert pid not in ("", "0"), "gunicorn is not running"
    return pid


def post_note(browser: Browser, text: str) -> int:
    headers = browser.csrf_headers()
    headers["Origin"] = browser.origin
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return browser.request("POST", "/", urlencode({"text": text}).encode(), headers).status


def test_an_environment_change_reloads_gunicorn_without_a_failed_request(
    deployed: TestHost, browser: Browser, ctx: HostContext
) -> None:
    """The app stops seeing CSRF_TRUSTED_ORIGINS (app.envNames moves it to a name the app does not
    read): bootstrap writes the new env file and reloads Gunicorn while requests keep coming."""
    before = gunicorn_main_pid(deployed, ctx)
    moved = dataclasses.replace(ctx, env_names=(("CSRF_TRUSTED_ORIGINS", "UNREAD_CSRF_TRUSTED_ORIGINS"),))
    try:
        with Load(browser, ["/", "/healthz", "/readyz"]) as load:
            bootstrap(deployed, moved)
        total = sum(load.results.values())
        assert total > 50, f"too few requests to mean anything: {load.results}"
        assert not load.errors, f"{len(load.errors)} failed of {total}: {load.errors[:10]}"
        assert gunicorn_main_pid(deployed, ctx) == before, "Gunicorn was restarted, not reloaded"
        env = deployed.ssh(f"sudo -n grep -c '^UNREAD_CSRF_TRUSTED_ORIGINS=' {ctx.env_file}").stdout.strip()
        assert env == "1"
        # A POST from the non-443 public port passes Django's CSRF origin check with the Host alone.
        assert ctx.https_port != 443
        assert post_note(browser, "posted without CSRF_TRUSTED_ORIGINS") == 302
    finally:
        bootstrap(deployed, ctx)
    assert gunicorn_main_pid(deployed, ctx) == before

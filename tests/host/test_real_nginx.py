"""The rendered Nginx site served by a real Nginx, in front of a stand-in for Gunicorn.

The stand-in answers on the unix socket the site proxies to, echoes the Host and X-Forwarded-Host
it received, and sends the security headers Django's middleware sends (``/app``) or none
(``/bare``). Ports are free ones picked at run time; Nginx runs from a temporary prefix.
"""

from __future__ import annotations

import http.client
import http.server
import json
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from djangostack.host import render
from djangostack.host.context import HostContext
from tests.host.conftest import dev_context
from tests.host.nginx_sandbox import nginx_sandbox

pytestmark = pytest.mark.artifacts

DJANGO_HEADERS = {
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class _Upstream(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    def address_string(self) -> str:
        return "upstream"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"host": self.headers.get("Host"), "xfh": self.headers.get("X-Forwarded-Host")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.path.startswith("/app"):
            for name, value in DJANGO_HEADERS.items():
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def served(tmp_path: Path) -> Iterator[HostContext]:
    """dev_context() served on free ports (HTTPS port not 443) by a real Nginx."""
    nginx = shutil.which("nginx")
    if nginx is None or shutil.which("openssl") is None or not Path("/etc/nginx/mime.types").exists():
        pytest.skip("needs nginx (with /etc/nginx/mime.types) and openssl")
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.css").write_text("body{}\n")
    ctx = replace(
        dev_context(),
        http_port=_free_port(),
        https_port=_free_port(),
        socket_path=str(tmp_path / "gunicorn.sock"),
        static_dir=str(static),
        listen_ipv6=False,
    )
    upstream = _Upstream(ctx.socket_path, _Handler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    cert, key = _self_signed(tmp_path)
    conf = nginx_sandbox(render.render_nginx_site(ctx), tmp_path, ctx, cert, key, serve=True)
    check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    server = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", ctx.https_port), timeout=0.1).close()
                break
            except OSError:
                threading.Event().wait(0.05)
        yield ctx
    finally:
        server.terminate()
        server.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()


def _get(ctx: HostContext, path: str) -> http.client.HTTPResponse:
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", ctx.https_port, context=tls, timeout=10)
    # What a browser sends on a non-443 port: the port is part of Host.
    conn.request("GET", path, headers={"Host": f"{ctx.primary_host}:{ctx.https_port}"})
    response = conn.getresponse()
    response.read()
    return response


def _values(response: http.client.HTTPResponse, name: str) -> list[str]:
    return [value for key, value in response.getheaders() if key.lower() == name.lower()]


def test_the_app_sees_the_public_port_in_host_and_forwarded_host(served: HostContext) -> None:
    conn_tls = ssl.create_default_context()
    conn_tls.check_hostname = False
    conn_tls.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", served.https_port, context=conn_tls, timeout=10)
    conn.request("GET", "/app/", headers={"Host": f"{served.primary_host}:{served.https_port}"})
    seen = json.loads(conn.getresponse().read())
    public = f"{served.primary_host}:{served.https_port}"
    assert seen == {"host": public, "xfh": public}
    # Consistent with what the app is told to trust for CSRF.
    assert f"https://{public}" in render.env_values(served)["CSRF_TRUSTED_ORIGINS"].split(",")


def test_security_headers_are_sent_once_and_the_apps_value_wins(served: HostContext) -> None:
    response = _get(served, "/app/")
    assert response.status == 200
    for name, value in DJANGO_HEADERS.items():
        assert _values(response, name) == [value], (name, response.getheaders())
    assert len(_values(response, "Strict-Transport-Security")) <= 1


def test_nginx_supplies_the_headers_where_the_app_sent_none(served: HostContext) -> None:
    for path in ("/bare/", "/static/app.css"):
        response = _get(served, path)
        assert response.status == 200, path
        assert _values(response, "X-Frame-Options") == [served.x_frame_options], path
        assert _values(response, "X-Content-Type-Options") == ["nosniff"], path
        assert _values(response, "Referrer-Policy") == ["strict-origin-when-cross-origin"], path


@pytest.mark.parametrize("field", ["health_path", "liveness_path"])
def test_a_health_path_on_the_home_page_is_never_rendered(field: str) -> None:
    """Nginx's readiness location is private-only: on `/` it would hide the home page."""
    with pytest.raises(ValueError, match="is the site's home page"):
        render.render_nginx_site(replace(dev_context(), **{field: "/"}))

"""Real Django projects we did not write, deployed unchanged (only a stack file of ours).

Each project is made at test time by its framework's own starter, installed from PyPI on the test
host itself (the host's Python is the one the project runs on), copied back here, packed like any
``app.source`` and released with the same bootstrap and release code ``DjangoHost`` runs. Each
test module boots its own host of the distribution its project needs, on ports of its own
(``tests/e2e/real_stacks/<name>.yaml``), independent of ``TESTHOST_SUITE``.
"""

from __future__ import annotations

import base64
import io
import re
import secrets
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from djangostack.host.context import HostContext
from djangostack.one_off import Request, manage
from djangostack.settings.loading import read_stack_file
from djangostack.settings.stack import StackSettings
from djangostack.targets.hosts import host_context
from djangostack.validation import validate
from tests.e2e.test_host_release import bootstrap, release
from tests.e2e.web import Browser
from tools.testhost import DEFAULT_CACHE_DIR, TestHost, build_base_root, distro, require_test_host

STACKS = Path(__file__).resolve().parent / "real_stacks"
PASSWORD = "real apps, unchanged $(and quoted)"


def boot(suite: str, port: int) -> Iterator[TestHost]:
    """A fresh test host of ``suite`` on ssh ``port``, stopped afterwards."""
    require_test_host()
    cache = DEFAULT_CACHE_DIR
    host = TestHost(
        cache / "machines" / f"realapps-{suite}-{port}", port, base_root=build_base_root(cache, suite=suite)
    )
    host.prepare()
    host.start()
    try:
        yield host
    finally:
        host.stop()


def settings_for(name: str, host: TestHost) -> StackSettings:
    """``tests/e2e/real_stacks/<name>.yaml`` pointed at ``host`` (its key file, its host key)."""
    raw, secrets, plaintext = read_stack_file(STACKS / f"{name}.yaml")
    assert raw["target"]["sshPort"] == host.port, "the stack file names this module's ssh port"
    host_key = (host.root / "etc/ssh/ssh_host_ed25519_key.pub").read_text(encoding="utf-8").split()[:2]
    raw = {
        **raw,
        "target": {**raw["target"], "sshKeyFile": host.private_key_path.name, "sshHostKey": " ".join(host_key)},
    }
    return validate(raw, secrets, plaintext, name)


def context(settings: StackSettings, suite: str) -> HostContext:
    """The stack's host description; its ``target.os`` must be the test host's distribution."""
    ctx = host_context(settings)
    assert ctx.host_os == distro(suite).host_os, f"the stack says target.os {ctx.host_os}, the test host runs {suite}"
    return ctx


def generate(host: TestHost, uv: str, packages: list[str], command: list[str], into: Path) -> Path:
    """Install ``packages`` from PyPI into a throwaway venv on the host, run the starter ``command``
    there (in an empty directory) and copy what it wrote into ``into``; returns ``into``."""
    script = (
        "set -euo pipefail\n"
        "work=$(mktemp -d)\n"
        "cd $work\n"
        f"UV_SYSTEM_CERTS=1 UV_CACHE_DIR=/var/tmp/realapps-uv {uv} venv -q --python /usr/bin/python3 starter >&2\n"
        f"UV_SYSTEM_CERTS=1 UV_CACHE_DIR=/var/tmp/realapps-uv {uv} pip install -q --python starter/bin/python "
        + " ".join(f"'{p}'" for p in packages)
        + " >&2\n"
        "mkdir out && cd out\n"
        f"../starter/bin/{' '.join(command)} >&2\n"
        "tar -czf - . | base64 -w0\n"
        "rm -rf $work\n"
    )
    result = host.ssh("sudo -n bash -s", input=script, timeout=900, check=False)
    assert result.returncode == 0, f"the starter failed:\n{result.stderr[-3000:]}"
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(result.stdout)), mode="r:gz") as archive:
        archive.extractall(into, filter="data")
    return into


@dataclass
class Site:
    """A real project made by its starter and released once on its own test host."""

    host: TestHost
    ctx: HostContext
    request: Request
    source: Path
    first_release: str


def deploy_site(
    host: TestHost,
    suite: str,
    name: str,
    into: Path,
    *,
    packages: list[str],
    starter: list[str],
    project: str,
    release_id: str,
    added: dict[str, str] | None = None,
) -> Site:
    """Bootstrap the host from ``real_stacks/<name>.yaml``, run the ``starter`` command (from
    ``packages``) there, write the ``added`` files into its ``project`` and release it."""
    settings = settings_for(name, host)
    ctx = context(settings, suite)
    bootstrap(host, ctx)
    source = generate(host, ctx.uv_bin, packages, starter, into) / project
    for relative, text in (added or {}).items():
        (source / relative).write_text(text, encoding="utf-8")
    result = release(host, ctx, release_id, source)
    return Site(host, ctx, manage_request(settings, name, host), source, result.stdout)


def manage_request(settings: StackSettings, name: str, host: TestHost) -> Request:
    return Request(settings=settings, stack=name, args=(), tty=False, project_dir=host.work_dir)


def run_manage(
    request: Request, *args: str, stdin: str = "", env: tuple[tuple[str, str], ...] = ()
) -> tuple[int, str, str]:
    """``djangostack manage`` (the CLI's own code) with the final ssh's output captured (the CLI
    lets it inherit the terminal)."""
    results: list[subprocess.CompletedProcess[str]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if "capture_output" not in kwargs:
            kwargs = {**kwargs, "capture_output": True, "text": True, "input": stdin, "timeout": 300}
        result = subprocess.run(argv, **kwargs)
        results.append(result)
        return result

    code = manage(Request(**{**request.__dict__, "args": args, "env": env}), run)
    return code, results[-1].stdout, results[-1].stderr


def last_line(out: str) -> str:
    """The command's own last line (Django 5.2+'s shell first reports what it imported)."""
    lines = out.strip().splitlines()
    return lines[-1] if lines else ""


def create_superuser(request: Request, password: str = PASSWORD) -> None:
    """``createsuperuser --noinput`` as ``admin``, the password from DJANGO_SUPERUSER_PASSWORD."""
    code, _, err = run_manage(
        request,
        "createsuperuser",
        "--noinput",
        "--username",
        "admin",
        "--email",
        "admin@example.com",
        env=(("DJANGO_SUPERUSER_PASSWORD", password),),
    )
    assert code == 0, err


def browser_for(ctx: HostContext) -> Browser:
    return Browser(host=ctx.primary_host, port=ctx.https_port, http_port=ctx.http_port)


def live_release(ctx: HostContext) -> str:
    response = browser_for(ctx).get(ctx.health_path)
    assert response.status == 200, response.text[:500]
    body = response.json()
    # The adapter's readiness: the database, and the stack's Redis when it is the app's cache.
    assert body["checks"] in ({"database": "ok"}, {"database": "ok", "cache": "ok"}), body
    return str(body["release"])


def cache_is_shared(request: Request) -> None:
    """A value one process caches, another reads: the stack's Redis, not Django's per-process
    memory (app.adaptSettings sets it for a project without CACHES; readiness then checks it)."""
    token = secrets.token_hex(8)
    code, _, err = run_manage(
        request, "shell", "-c", f"from django.core.cache import cache; cache.set('e2e-shared', {token!r}, 300)"
    )
    assert code == 0, err
    code, out, err = run_manage(
        request,
        "shell",
        "-c",
        "from django.conf import settings; from django.core.cache import cache; "
        "print(settings.CACHES['default']['BACKEND'], cache.get('e2e-shared'))",
    )
    assert (code, last_line(out)) == (0, f"django.core.cache.backends.redis.RedisCache {token}"), out + err


def log_in(browser: Browser, path: str, extra: dict[str, str] | None = None) -> str:
    """Log in through the admin's own form; returns where it redirected to."""
    page = browser.get(path)
    assert page.status == 200, page.text[:500]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "no CSRF token in the login form"
    fields = {"csrfmiddlewaretoken": token.group(1), "username": "admin", "password": PASSWORD, **(extra or {})}
    response = browser.post_form(path, fields)
    assert response.status == 302, f"login failed (HTTP {response.status}): {response.text[:800]}"
    return response.headers["location"]


def static_urls(html: str) -> list[str]:
    return sorted(set(re.findall(r'(?:href|src)="(/static/[^"?#]+)', html)))


def check_static(browser: Browser, html: str) -> str:
    """Every stylesheet or script a page names under /static/ is served (by Nginx, cacheable)."""
    urls = static_urls(html)
    assert urls, "the page names no static file"
    for url in urls:
        response = browser.get(url)
        assert response.status == 200, f"{url}: HTTP {response.status}"
        assert "public" in response.headers.get("cache-control", ""), (url, response.headers)
    return next((u for u in urls if u.endswith(".css")), urls[0])

#!/usr/bin/env python3
"""Host benchmark: our generated Nginx + Gunicorn setup against Gunicorn alone, in one run.

Boots the systemd test host (``tools/testhost/``) on ssh port 2250, bootstraps it with
``benchmarks/Pulumi.bench.yaml`` (the dev stack on ports of its own), deploys ``examples/django_app``
and measures, with ``wrk``:

1. a database-backed page (``/``, 50 notes from PostgreSQL): Nginx (TLS) -> Gunicorn socket, as we
   configure it, against ``gunicorn project.wsgi:application`` with Gunicorn's defaults (1 sync
   worker) over plain HTTP, same release, same environment file, same user;
2. a static file (``/static/notes/site.css``): Nginx directly against Gunicorn + WhiteNoise alone;
3. failed requests and latency while a release runs under load (wrk on ``/`` during the second
   release), and the same on the single socket-activated Gunicorn of ``SINGLE_GUNICORN`` (before
   the two colors overlapped): that commit's own bootstrap and release script set up the host again
   from scratch, release under the same load, then this bootstrap upgrades it under load;
4. wall seconds of the first release, of the second and third (unchanged requirements: the venv
   is reused) and of a fourth with one changed dependency;
5. one venv build of the sample app's requirements with pip (current pip, setuptools, wheel)
   against uv, each with an empty cache and with the cache it filled.

The machines are noisy: only the ratios of one run are meant to be quoted. Needs root (nspawn).

    sudo .venv/bin/python benchmarks/host_bench.py [--keep] [--out FILE]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Final

REPO: Final = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `tools` importable
    sys.path.insert(0, str(REPO))

from djangostack.host.artifact import pack_source  # noqa: E402
from djangostack.host.context import HostContext  # noqa: E402
from djangostack.host.django_host import env_prelude, release_command, uninstall_script, upload_script  # noqa: E402
from djangostack.host.render import render_all  # noqa: E402
from djangostack.settings.loading import load_from_stack_file  # noqa: E402
from djangostack.targets.hosts import host_context  # noqa: E402
from tools.previous_host import SINGLE_GUNICORN, PreviousRenderError, previous_upload_script  # noqa: E402
from tools.testhost import DEFAULT_CACHE_DIR, TestHost, TestHostError, build_base_root  # noqa: E402

STACK_FILE: Final = REPO / "benchmarks/Pulumi.bench.yaml"
APP: Final = REPO / "examples/django_app"
SSH_PORT: Final = 2250
WORK_DIR: Final = DEFAULT_CACHE_DIR / "machines" / f"bench-{SSH_PORT}"
ALONE_PORT: Final = 7999
ALONE_UNIT: Final = "bench-gunicorn-alone"
PAGE: Final = "/"
STATIC: Final = "/static/notes/site.css"
SEED_SQL: Final = (
    "INSERT INTO notes_note (text, created_at) "
    "SELECT 'benchmark note ' || g, now() - g * interval '1 minute' FROM generate_series(1, 50) AS g"
)
"""50 notes: the page lists at most 50, so every request renders a full page."""
WRK_THREADS: Final = 2
WRK_CONNECTIONS: Final = 16
RELEASE_LOAD_TIMEOUT: Final = "30s"
"""wrk's per-request timeout during the release: Gunicorn's own worker timeout. wrk's default (2 s)
would count a request that waits for the restarted workers as failed although it succeeds."""

# Prints wrk's summary as one JSON line (no parsing of its human-readable units).
WRK_REPORT_LUA: Final = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


class BenchError(RuntimeError):
    """A precondition or a step of the benchmark failed; the message says which and why."""


def log(message: str) -> None:
    print(f"[host_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ wrk


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    """wrk's "Non-2xx or 3xx responses" (status >= 400)."""
    connect: int
    read: int
    write: int
    timeout: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def socket_errors(self) -> int:
        return self.connect + self.read + self.write + self.timeout

    @property
    def failed(self) -> int:
        return self.non_2xx + self.socket_errors


class Wrk:
    """Runs wrk against one URL with fixed headers; the Lua report is written once per run."""

    def __init__(self, script_dir: Path) -> None:
        self.script = script_dir / "report.lua"
        self.script.write_text(WRK_REPORT_LUA, encoding="utf-8")

    def argv(self, url: str, headers: dict[str, str], duration: str, *, timeout: str | None = None) -> list[str]:
        argv = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{duration}", "--latency", "-s", str(self.script)]
        if timeout is not None:
            argv += ["--timeout", timeout]
        for key, value in headers.items():
            argv += ["-H", f"{key}: {value}"]
        return [*argv, url]

    def run(self, url: str, headers: dict[str, str], duration: str) -> WrkResult:
        argv = self.argv(url, headers, duration)
        log(f"$ {shlex.join(argv)}")
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        return self.parse(proc.returncode, proc.stdout, proc.stderr, argv)

    @contextlib.contextmanager
    def background(self, url: str, headers: dict[str, str]) -> Iterator[list[WrkResult]]:
        """wrk for as long as the block runs (SIGINT ends it and it prints its summary)."""
        argv = self.argv(url, headers, "3600s", timeout=RELEASE_LOAD_TIMEOUT)
        log(f"$ {shlex.join(argv)} &")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        results: list[WrkResult] = []
        try:
            time.sleep(2)
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise BenchError(f"wrk stopped at once ({proc.returncode}):\n{out}\n{err}")
            yield results
            time.sleep(2)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
        results.append(self.parse(proc.returncode, out, err, argv))

    @staticmethod
    def parse(returncode: int, stdout: str, stderr: str, argv: Sequence[str]) -> WrkResult:
        line = next((ln for ln in stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
        if line is None:
            raise BenchError(f"wrk gave no summary (exit {returncode}): {shlex.join(argv)}\n{stdout}\n{stderr}")
        data = json.loads(line.removeprefix("WRK_JSON "))
        return WrkResult(
            requests=int(data["requests"]),
            seconds=data["duration_us"] / 1e6,
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            max_ms=data["max_us"] / 1000,
            non_2xx=int(data["status"]),
            connect=int(data["connect"]),
            read=int(data["read"]),
            write=int(data["write"]),
            timeout=int(data["timeout"]),
        )


# ------------------------------------------------------------------------------------- the host


def bootstrap(host: TestHost, ctx: HostContext, script: str | None = None) -> None:
    """What DjangoHost's bootstrap step runs (as in tests/e2e/test_host_release.py), or ``script``."""
    if script is None:
        script = env_prelude({"CERTBOT_SKIP": "1"}) + upload_script(ctx, render_all(ctx))
    result = host.ssh("sudo -n bash -s", input=script, timeout=900, check=False)
    if result.returncode != 0:
        raise BenchError(f"bootstrap failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def release(host: TestHost, ctx: HostContext, release_id: str, source: Path = APP) -> float:
    """Upload the app and run the release script; return the release's wall seconds."""
    archive = f"/var/tmp/{ctx.app_name}-artifacts/source.tar.gz"
    packed = pack_source(source)
    encoded = base64.b64encode(packed).decode()
    host.ssh(f"mkdir -p {shlex.quote(str(Path(archive).parent))} && base64 -d > {shlex.quote(archive)}", input=encoded)
    log(f"release {release_id}")
    started = time.monotonic()
    sha256 = hashlib.sha256(packed).hexdigest()
    result = host.ssh(release_command(ctx, release_id, archive, sha256), timeout=1800, check=False)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise BenchError(f"release {release_id} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    log(f"release {release_id} took {seconds:.1f}s")
    return seconds


def psql(host: TestHost, ctx: HostContext, sql: str) -> str:
    argv = ["sudo", "-n", "-u", "postgres", "psql", "-p", str(ctx.db_port), "-d", ctx.db_name]
    return host.ssh(shlex.join([*argv, "-v", "ON_ERROR_STOP=1", "-Atc", sql])).stdout.strip()


def seed_notes(host: TestHost, ctx: HostContext) -> int:
    psql(host, ctx, SEED_SQL)
    return int(psql(host, ctx, "SELECT count(*) FROM notes_note"))


def gunicorn_workers(host: TestHost, ctx: HostContext) -> int:
    color = host.ssh(f"readlink {shlex.quote(ctx.socket_path)}", check=False).stdout.strip()
    unit = f"{ctx.gunicorn_unit}@{color.rsplit('/', 1)[-1].removesuffix('.sock')}.service"
    pid = host.ssh(f"systemctl show -p MainPID --value {shlex.quote(unit)}").stdout.strip()
    if not pid or pid == "0":
        raise BenchError(f"{unit} is not running")
    return int(host.ssh(f"pgrep -c -P {pid}", check=False).stdout.strip() or 0)


def start_gunicorn_alone(host: TestHost, ctx: HostContext) -> str:
    """``gunicorn <wsgi> --bind 127.0.0.1:7999`` with Gunicorn's defaults, as the app user, in the
    live release with the app's environment (a transient systemd unit, so it is easy to stop)."""
    release_dir = host.ssh(f"readlink -f {shlex.quote(ctx.current_link)}").stdout.strip()
    argv = [
        "sudo", "-n", "systemd-run", f"--unit={ALONE_UNIT}", "--collect",
        "-p", f"User={ctx.user}", "-p", f"Group={ctx.web_group}",
        "-p", f"WorkingDirectory={release_dir}",
        "-p", f"EnvironmentFile={ctx.env_file}", "-p", f"EnvironmentFile={release_dir}/.release.env",
        "-E", f"HOME={ctx.base_dir}",
        f"{release_dir}/.venv/bin/gunicorn", ctx.wsgi_app, "--bind", f"127.0.0.1:{ALONE_PORT}",
    ]  # fmt: skip
    host.ssh(shlex.join(argv))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            status = http_get(f"127.0.0.1:{ALONE_PORT}", "/healthz", ctx, secure=False)
            if status == 200:
                return release_dir
        time.sleep(0.5)
    journal = host.ssh(f"sudo -n journalctl -u {ALONE_UNIT} --no-pager -n 30 -o cat", check=False).stdout
    raise BenchError(f"Gunicorn alone did not answer on 127.0.0.1:{ALONE_PORT} within 60 s:\n{journal}")


def stop_gunicorn_alone(host: TestHost) -> None:
    host.ssh(f"sudo -n systemctl stop {ALONE_UNIT}", check=False)


# ------------------------------------------------------------------------------------ requests


def site_headers(ctx: HostContext) -> dict[str, str]:
    return {"Host": f"{ctx.primary_host}{ctx.public_origin_port_suffix}"}


def alone_headers(ctx: HostContext) -> dict[str, str]:
    # Behind Nginx, X-Forwarded-Proto tells Django the request was HTTPS; without it
    # SECURE_SSL_REDIRECT answers every plain-HTTP request with a 301.
    return {**site_headers(ctx), "X-Forwarded-Proto": "https"}


def http_get(address: str, path: str, ctx: HostContext, *, secure: bool) -> int:
    host, port = address.rsplit(":", 1)
    conn: http.client.HTTPConnection
    if secure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, int(port), timeout=10, context=context)
        headers = site_headers(ctx)
    else:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = alone_headers(ctx)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def expect_200(address: str, path: str, ctx: HostContext, *, secure: bool) -> None:
    status = http_get(address, path, ctx, secure=secure)
    if status != 200:
        scheme = "https" if secure else "http"
        raise BenchError(f"{scheme}://{address}{path} answered {status}, not 200: measuring it would mean nothing")


# ----------------------------------------------------------------------------------- preflight


def preflight() -> None:
    if os.geteuid() != 0:
        raise BenchError("run as root: the test host is a systemd-nspawn container (sudo .venv/bin/python ...)")
    tools = {
        "wrk": "wrk",
        "systemd-nspawn": "systemd-container",
        "ssh": "openssh-client",
        "ssh-keygen": "openssh-client",
    }
    missing = sorted({pkg for tool, pkg in tools.items() if shutil.which(tool) is None})
    if missing:
        raise BenchError(f"missing tools; install them with: apt-get install -y {' '.join(missing)}")
    if not STACK_FILE.is_file():
        raise BenchError(f"{STACK_FILE} is missing")


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def check_ports_free(ctx: HostContext) -> None:
    """The container shares this machine's network: its services need these ports free."""
    wanted = {
        "http": ctx.http_port,
        "https": ctx.https_port,
        "postgres": ctx.db_port,
        "redis": ctx.redis_port,
        "gunicorn alone": ALONE_PORT,
    }
    busy = {name: port for name, port in wanted.items() if port_in_use(port)}
    if busy:
        listed = ", ".join(f"{port} ({name})" for name, port in busy.items())
        raise BenchError(f"ports already in use on 127.0.0.1: {listed}; stop what holds them (ss -ltnp)")


# --------------------------------------------------------------------------------------- builds

CHANGED_DEPENDENCY: Final = ("whitenoise==6.12.0", "whitenoise==6.11.0")
"""r4 changes one pin of the sample app's requirements (a different version of one package)."""

BUILD_SCRIPT: Final = """
set -euo pipefail
req=$1 tool=$2 cache=$3 venv=$(mktemp -d /var/tmp/bench-venv.XXXXXX)
start=$(date +%s.%N)
if [[ $tool == pip ]]; then
    python3 -m venv --upgrade-deps "$venv" >/dev/null
    PIP_CACHE_DIR=$cache PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install -q wheel
    PIP_CACHE_DIR=$cache PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install -q -r "$req"
else
    # System certificates, as the release script's uv uses them (a proxy's own CA, say).
    UV_CACHE_DIR=$cache UV_LINK_MODE=copy UV_SYSTEM_CERTS=1 "$UV" venv -q --python /usr/bin/python3 "$venv"
    UV_CACHE_DIR=$cache UV_LINK_MODE=copy UV_SYSTEM_CERTS=1 "$UV" pip install -q --python "$venv/bin/python" -r "$req"
fi
end=$(date +%s.%N)
rm -rf "$venv"
echo "BUILD_SECONDS $(python3 -c "print($end - $start)")"
"""
"""One venv build of the release's requirements on the host: pip (current pip, setuptools and
wheel, as `venv --upgrade-deps` gives) or uv, with the given cache directory."""


def build_seconds(host: TestHost, ctx: HostContext, tool: str, cache: str) -> float:
    # The live release's (r1 may be pruned by then: releasesToKeep).
    requirements = f"{ctx.current_link}/requirements.txt"
    command = f"sudo -n env UV={shlex.quote(ctx.uv_bin)} bash -s -- {requirements} {tool} {shlex.quote(cache)}"
    result = host.ssh(command, input=BUILD_SCRIPT, timeout=1800, check=False)
    if result.returncode != 0:
        raise BenchError(f"{tool} build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    seconds = float(result.stdout.split("BUILD_SECONDS", 1)[1].split()[0])
    log(f"  {tool} build ({cache}): {seconds:.1f}s")
    return seconds


def measure_builds(host: TestHost, ctx: HostContext) -> dict[str, float]:
    """pip against uv, each with an empty cache, then again with the cache it filled."""
    out: dict[str, float] = {}
    for tool in ("pip", "uv"):
        cache = f"/var/tmp/bench-cache-{tool}"
        host.ssh(f"sudo -n rm -rf {cache}")
        out[f"{tool} cold"] = build_seconds(host, ctx, tool, cache)
        out[f"{tool} warm"] = build_seconds(host, ctx, tool, cache)
        host.ssh(f"sudo -n rm -rf {cache}")
    return out


def with_changed_dependency(tmp: Path) -> Path:
    copy = tmp / "changed-dependency"
    shutil.copytree(APP, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "media", "staticfiles"))
    requirements = copy / "requirements.txt"
    old, new = CHANGED_DEPENDENCY
    text = requirements.read_text(encoding="utf-8")
    if old not in text:
        raise BenchError(f"{requirements} no longer pins {old}; update CHANGED_DEPENDENCY")
    requirements.write_text(text.replace(old, new), encoding="utf-8")
    return copy


# -------------------------------------------------------------------------------------- report


@dataclass
class Results:
    cpus: int
    load_before: str
    load_after: str
    workers_ours: int
    notes: int
    page_ours: WrkResult
    page_alone: WrkResult
    static_ours: WrkResult
    static_alone: WrkResult
    under_load: WrkResult
    before_load: WrkResult
    """During a release on SINGLE_GUNICORN's single Gunicorn (restarted behind its socket)."""
    upgrade_load: WrkResult
    """During this bootstrap on SINGLE_GUNICORN's host (the single Gunicorn replaced by a color)."""
    release_seconds: dict[str, float]
    duration: str
    builds: dict[str, float]


def ratio(ours: float, alone: float) -> str:
    return f"{ours / alone:.2f}" if alone else "n/a"


def render(r: Results, ctx: HostContext) -> str:
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    wrk = f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{r.duration} --latency"
    lines = [
        f"## Host benchmark, {today}",
        "",
        f"One run. Machine: {r.cpus} CPUs (the test host container shares them); load average before "
        f"{r.load_before}, after {r.load_after}. Load: `{wrk}` from the same machine.",
        f"Ours: Nginx TLS on 127.0.0.1:{ctx.https_port} -> Gunicorn socket, {r.workers_ours} sync workers "
        f"(2 x CPU + 1). Alone: `gunicorn {ctx.wsgi_app} --bind 127.0.0.1:{ALONE_PORT}` "
        "(defaults: 1 sync worker), plain HTTP. Same release, environment and user.",
        "",
        "| measurement | ours | Gunicorn alone | ratio ours / alone |",
        "|---|---:|---:|---:|",
    ]
    for label, ours, alone in (
        (f"`{PAGE}` ({r.notes} notes from PostgreSQL)", r.page_ours, r.page_alone),
        (f"`{STATIC}`", r.static_ours, r.static_alone),
    ):
        lines += [
            f"| {label} requests/s | {ours.rps:.0f} | {alone.rps:.0f} | {ratio(ours.rps, alone.rps)} |",
            f"| {label} p50 latency ms | {ours.p50_ms:.1f} | {alone.p50_ms:.1f} | {ratio(ours.p50_ms, alone.p50_ms)} |",
            f"| {label} p99 latency ms | {ours.p99_ms:.1f} | {alone.p99_ms:.1f} | {ratio(ours.p99_ms, alone.p99_ms)} |",
            f"| {label} failed (non-2xx + socket errors) | {ours.failed} of {ours.requests} "
            f"| {alone.failed} of {alone.requests} | |",
        ]
    u = r.under_load
    first = r.release_seconds["r1"]
    lines += [
        "",
        "| release | requirements | wall s | ratio to first release |",
        "|---|---|---:|---:|",
        f"| r1 (first) | empty uv cache: downloaded | {first:.1f} | 1.00 |",
        f"| r2 (under the wrk load below) | unchanged (venv reused) | {r.release_seconds['r2']:.1f} "
        f"| {ratio(r.release_seconds['r2'], first)} |",
        f"| r3 (idle) | unchanged (venv reused) | {r.release_seconds['r3']:.1f} "
        f"| {ratio(r.release_seconds['r3'], first)} |",
        f"| r4 (idle) | one changed: {' -> '.join(CHANGED_DEPENDENCY)} | {r.release_seconds['r4']:.1f} "
        f"| {ratio(r.release_seconds['r4'], first)} |",
        "",
        "Building a venv of the sample app's requirements on the host (the release's build step alone):",
        "",
        "| build | wall s | ratio to pip, empty cache |",
        "|---|---:|---:|",
        *(
            f"| {name} cache | {seconds:.1f} | {ratio(seconds, r.builds['pip cold'])} |"
            for name, seconds in r.builds.items()
        ),
        "",
        f"Requests to `{PAGE}` through Nginx while r2 ran (wrk from 2 s before to 2 s after the release, "
        f"--timeout {RELEASE_LOAD_TIMEOUT}):",
        "",
        "| during | total requests | non-2xx | socket errors (connect / read / write / timeout) | p99 ms | max ms |",
        "|---|---:|---:|---|---:|---:|",
        *(
            f"| {label} | {w.requests} | {w.non_2xx} | {w.socket_errors} "
            f"({w.connect} / {w.read} / {w.write} / {w.timeout}) | {w.p99_ms:.0f} | {w.max_ms:.0f} |"
            for label, w in (
                ("r2: two colors overlap (this commit)", u),
                (f"b2: one Gunicorn restarted behind its socket ({SINGLE_GUNICORN[:7]})", r.before_load),
                (f"the bootstrap upgrading {SINGLE_GUNICORN[:7]}'s host", r.upgrade_load),
            )
        ),
        "",
        f"During a release, overlap / restart: p99 {ratio(u.p99_ms, r.before_load.p99_ms)}, "
        f"max {ratio(u.max_ms, r.before_load.max_ms)}.",
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- main


def measure(host: TestHost, ctx: HostContext, wrk: Wrk, duration: str, load_before: str) -> Results:
    releases: dict[str, float] = {}
    log("bootstrapping the host")
    bootstrap(host, ctx)
    releases["r1"] = release(host, ctx, "r1")
    notes = seed_notes(host, ctx)
    workers = gunicorn_workers(host, ctx)
    log(f"{notes} notes in the database; Gunicorn runs {workers} workers")

    ours_address = f"127.0.0.1:{ctx.https_port}"
    alone_address = f"127.0.0.1:{ALONE_PORT}"
    ours_url = f"https://{ours_address}"
    alone_url = f"http://{alone_address}"
    expect_200(ours_address, PAGE, ctx, secure=True)
    expect_200(ours_address, STATIC, ctx, secure=True)

    def timed(url: str, headers: dict[str, str]) -> WrkResult:
        wrk.run(url, headers, "3s")  # warm-up: workers imported, connections to PostgreSQL open
        result = wrk.run(url, headers, duration)
        log(f"  {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, failed {result.failed}")
        return result

    page_ours = timed(ours_url + PAGE, site_headers(ctx))
    static_ours = timed(ours_url + STATIC, site_headers(ctx))

    start_gunicorn_alone(host, ctx)
    try:
        expect_200(alone_address, PAGE, ctx, secure=False)
        expect_200(alone_address, STATIC, ctx, secure=False)
        page_alone = timed(alone_url + PAGE, alone_headers(ctx))
        static_alone = timed(alone_url + STATIC, alone_headers(ctx))
    finally:
        stop_gunicorn_alone(host)

    with wrk.background(ours_url + PAGE, site_headers(ctx)) as under_load:
        releases["r2"] = release(host, ctx, "r2")
    load = under_load[0]
    log(
        f"  during r2: {load.requests} requests, {load.non_2xx} non-2xx, {load.socket_errors} socket errors, "
        f"p99 {load.p99_ms:.0f} ms, max {load.max_ms:.0f} ms"
    )
    releases["r3"] = release(host, ctx, "r3")
    expect_200(ours_address, PAGE, ctx, secure=True)
    with tempfile.TemporaryDirectory(prefix="host-bench-app-") as tmp:
        releases["r4"] = release(host, ctx, "r4", with_changed_dependency(Path(tmp)))
    expect_200(ours_address, PAGE, ctx, secure=True)
    log("venv builds, pip against uv")
    builds = measure_builds(host, ctx)
    before_load, upgrade_load = measure_before_overlap(host, ctx, wrk, ours_url)

    return Results(
        cpus=os.cpu_count() or 0,
        load_before=load_before,
        load_after=loadavg(),
        workers_ours=workers,
        notes=notes,
        page_ours=page_ours,
        page_alone=page_alone,
        static_ours=static_ours,
        static_alone=static_alone,
        under_load=load,
        before_load=before_load,
        upgrade_load=upgrade_load,
        release_seconds=releases,
        duration=duration,
        builds=builds,
    )


def measure_before_overlap(host: TestHost, ctx: HostContext, wrk: Wrk, ours_url: str) -> tuple[WrkResult, WrkResult]:
    """The release under load again, on the single Gunicorn of SINGLE_GUNICORN: the app is removed
    (data included), that commit's bootstrap sets the host up, b1 is released and seeded like r1,
    and b2 (unchanged requirements, like r2) runs under the same wrk load. Then this commit's
    bootstrap upgrades that host under the same load."""
    log(f"before the overlap: the host as {SINGLE_GUNICORN[:7]} sets it up (the app removed first)")
    result = host.ssh(
        f"sudo -n bash -c {shlex.quote(uninstall_script(ctx, remove_data=True))}", timeout=600, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"removing the app failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    try:
        script = previous_upload_script(SINGLE_GUNICORN, STACK_FILE, ctx.host_os, {"CERTBOT_SKIP": "1"})
    except PreviousRenderError as exc:
        raise BenchError(str(exc)) from exc
    bootstrap(host, ctx, script)
    release(host, ctx, "b1")
    seed_notes(host, ctx)
    expect_200(f"127.0.0.1:{ctx.https_port}", PAGE, ctx, secure=True)
    wrk.run(ours_url + PAGE, site_headers(ctx), "3s")  # warm-up, as before r2
    with wrk.background(ours_url + PAGE, site_headers(ctx)) as before:
        release(host, ctx, "b2")
    b = before[0]
    log(f"  during b2: {b.requests} requests, {b.failed} failed, p99 {b.p99_ms:.0f} ms, max {b.max_ms:.0f} ms")
    with wrk.background(ours_url + PAGE, site_headers(ctx)) as upgrade:
        bootstrap(host, ctx)
    g = upgrade[0]
    log(f"  during the upgrade: {g.requests} requests, {g.failed} failed, max {g.max_ms:.0f} ms")
    return b, g


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--keep", action="store_true", help="leave the test host running at the end")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--duration", default="15s", help="wrk duration of each measured run (default: 15s)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)

    host: TestHost | None = None
    try:
        preflight()
        ctx = host_context(load_from_stack_file(STACK_FILE))
        load_before = loadavg()
        log(f"{os.cpu_count()} CPUs, load average {load_before}; test host on ssh port {SSH_PORT} in {WORK_DIR}")
        base = build_base_root(DEFAULT_CACHE_DIR)
        host = TestHost(WORK_DIR, SSH_PORT, base_root=base)
        host.prepare()  # also stops a host left running by an earlier --keep
        check_ports_free(ctx)
        host.start()
        with tempfile.TemporaryDirectory(prefix="host-bench-") as tmp:
            results = measure(host, ctx, Wrk(Path(tmp)), args.duration, load_before)
        table = render(results, ctx)
        print(table)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(table, encoding="utf-8")
            log(f"wrote {args.out}")
        return 0
    except (BenchError, TestHostError) as exc:
        print(f"host_bench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("host_bench: interrupted", file=sys.stderr)
        return 130
    finally:
        if host is not None:
            if args.keep and host.is_running():
                host.detach()
                log(
                    f"left running: ssh with `{shlex.join(host.ssh_args())}`; stop with "
                    f"`.venv/bin/python -m tools.testhost --work-dir {WORK_DIR} stop`"
                )
            else:
                log("stopping the test host")
                with contextlib.suppress(TestHostError):
                    host.stop()


if __name__ == "__main__":
    sys.exit(main())

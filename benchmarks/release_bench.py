"""Release wall time on the systemd test host: unchanged dependencies against one changed dependency.

One run: boot the test host (``--suite``, default bookworm), bootstrap it with
``benchmarks/Pulumi.bench.yaml`` and release the sample app four times: r1 (first release, empty uv
cache), r2 and r3 (unchanged requirements: the venv is reused), r4 (one changed pin, a new venv
built from uv's cache plus one download). Each release's output lines are time-stamped on the host,
so the table also says where the time of each release went (seconds per step). Idle host, no load.

    sudo .venv/bin/python benchmarks/release_bench.py
    sudo .venv/bin/python benchmarks/release_bench.py --suite trixie --out /tmp/release.md
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `benchmarks` and `tools` importable
    sys.path.insert(0, str(REPO))

from benchmarks.host_bench import (  # noqa: E402
    APP,
    CHANGED_DEPENDENCY,
    STACK_FILE,
    BenchError,
    bootstrap,
    loadavg,
    log,
    port_in_use,
    with_changed_dependency,
)
from djangostack.host.artifact import pack_source  # noqa: E402
from djangostack.host.context import HostContext  # noqa: E402
from djangostack.host.django_host import release_command  # noqa: E402
from djangostack.settings.loading import load_from_stack_file  # noqa: E402
from djangostack.targets.hosts import host_context  # noqa: E402
from tools.testhost import DEFAULT_CACHE_DIR, TestHost, TestHostError, build_base_root, distro  # noqa: E402

SSH_PORT: Final = 2251
PORTS: Final = {"http_port": 7081, "https_port": 7444, "db_port": 5440, "redis_port": 6387}
"""Ports of its own (not those of Pulumi.bench.yaml), so it can run while host_bench.py runs."""
GOAL_SECONDS: Final = 15.0
"""Issue goal for a release whose dependencies did not change."""

# Prefixes every line the release prints with the host's clock (seconds, nanosecond resolution).
STAMP: Final = ' 2>&1 | while IFS= read -r line; do printf "%s %s\\n" "$(date +%s.%N)" "$line"; done'


def timed_release(
    host: TestHost, ctx: HostContext, release_id: str, source: Path
) -> tuple[float, list[tuple[str, float]]]:
    """Upload ``source`` and release it; the wall seconds seen from here, and each step's seconds
    (from one step's first line to the next one's, on the host's clock)."""
    archive = f"/var/tmp/{ctx.app_name}-artifacts/source.tar.gz"
    payload = pack_source(source)
    encoded = base64.b64encode(payload).decode()
    host.ssh(f"mkdir -p {shlex.quote(str(Path(archive).parent))} && base64 -d > {shlex.quote(archive)}", input=encoded)
    command = release_command(ctx, release_id, archive, hashlib.sha256(payload).hexdigest())
    log(f"release {release_id}")
    started = time.monotonic()
    result = host.ssh(f"set -o pipefail; {command}{STAMP}", timeout=1800, check=False)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise BenchError(f"release {release_id} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    stamped = []
    for line in result.stdout.splitlines():
        stamp, _, text = line.partition(" ")
        if text.startswith(f"[release {ctx.app_name}] "):
            stamped.append((float(stamp), text.split("] ", 1)[1]))
    steps = [(text, stamped[i + 1][0] - at) for i, (at, text) in enumerate(stamped[:-1])]
    log(f"release {release_id} took {seconds:.1f}s")
    return seconds, steps


def step_name(text: str) -> str:
    """A step's line without what changes between releases (ids, paths, hashes)."""
    prefixes = ("deploying ", "copying source into ", "checking sha256", "switched current", "backup: ")
    for prefix in (*prefixes, "dependencies unchanged", "removed old release", "removed unused venv"):
        if text.startswith(prefix):
            return prefix.strip()
    return text.split(" (")[0][:60]


def render(seconds: dict[str, float], steps: dict[str, list[tuple[str, float]]], suite: str, load: str) -> str:
    old, new = CHANGED_DEPENDENCY
    rows = [
        ("r1 (first)", "empty uv cache: downloaded"),
        ("r2", "unchanged (venv reused)"),
        ("r3", "unchanged (venv reused)"),
        ("r4", f"one changed: {old} -> {new}"),
    ]
    out = [
        f"Test host: {suite} ({distro(suite).host_os}); {os.cpu_count()} CPUs; load average {load}.",
        "",
        "| release | requirements | wall s | goal |",
        "|---|---|---:|---|",
    ]
    for label, what in rows:
        key = label.split()[0]
        goal = ""
        if key in ("r2", "r3"):
            goal = "met" if seconds[key] <= GOAL_SECONDS else f"missed ({GOAL_SECONDS:.0f} s)"
        out.append(f"| {label} | {what} | {seconds[key]:.1f} | {goal} |")
    names: list[str] = []
    per: dict[str, dict[str, float]] = {}
    for key, items in steps.items():
        for text, value in items:
            name = step_name(text)
            if name not in names:
                names.append(name)
            per.setdefault(name, {})[key] = per.get(name, {}).get(key, 0.0) + value
    out += ["", "Seconds per step (host clock):", "", "| step | r1 | r2 | r3 | r4 |", "|---|---:|---:|---:|---:|"]
    for name in names:
        cells = " | ".join(f"{per[name][k]:.1f}" if k in per[name] else "" for k in ("r1", "r2", "r3", "r4"))
        out.append(f"| {name} | {cells} |")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--suite", default="bookworm", help="test host distribution (bookworm, trixie)")
    parser.add_argument("--out", type=Path, help="also write the markdown tables to this file")
    args = parser.parse_args(argv)
    host: TestHost | None = None
    try:
        dist = distro(args.suite)
        settings = load_from_stack_file(STACK_FILE)
        ctx = dataclasses.replace(host_context(settings), host_os=dist.host_os, **PORTS)
        load_before = loadavg()
        work = DEFAULT_CACHE_DIR / "machines" / f"release-bench-{dist.suite}-{SSH_PORT}"
        host = TestHost(work, SSH_PORT, base_root=build_base_root(DEFAULT_CACHE_DIR, suite=dist.suite))
        host.prepare()
        busy = [port for port in PORTS.values() if port_in_use(port)]
        if busy:
            raise BenchError(f"ports already in use on 127.0.0.1: {busy}; stop what holds them (ss -ltnp)")
        host.start()
        bootstrap(host, ctx)
        seconds: dict[str, float] = {}
        steps: dict[str, list[tuple[str, float]]] = {}
        with tempfile.TemporaryDirectory(prefix="release-bench-") as tmp:
            changed = with_changed_dependency(Path(tmp))
            for key, source in (("r1", APP), ("r2", APP), ("r3", APP), ("r4", changed)):
                seconds[key], steps[key] = timed_release(host, ctx, key, source)
        table = render(seconds, steps, dist.suite, f"{load_before} before, {loadavg()} after")
        print(table)
        if args.out is not None:
            args.out.write_text(table, encoding="utf-8")
        return 0
    except (BenchError, TestHostError) as exc:
        print(f"release_bench: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if host is not None:
            with contextlib.suppress(TestHostError):
                host.stop()


if __name__ == "__main__":
    sys.exit(main())

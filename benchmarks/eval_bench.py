"""Evaluation time of a stack under the mocks engine, cloud-limit checks included, in one run.

What the tests, the property test and ``djangostack plan`` pay for every evaluation:

- **cold**: the first evaluation in a fresh process (the target's provider SDK modules are imported
  lazily by the program, so this includes them);
- **warm**: later evaluations in the same process (what a test session pays per stack), as the
  median of ``--runs`` runs, measured alternately with the engine's fast path
  (``djangostack.offline.mocking.FAST_EVALUATION``: no per-resource stack-trace capture) and with the SDK's
  default path, so the two are compared under the same machine load;
- **limits**: ``djangostack.offline.cloud_limits.check_recording`` on the recording.

Wall-clock and CPU time (``time.process_time``) are both printed: the machine is shared, and when
it is loaded the wall-clock figures grow with the load while CPU time stays close to the work done.

    .venv/bin/python benchmarks/eval_bench.py                      # prod, 7 warm runs per path
    .venv/bin/python benchmarks/eval_bench.py --stack staging --runs 5 --out /tmp/eval.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", action="append", help="stack name or file (repeatable); default prod")
    parser.add_argument("--runs", type=int, default=7, help="warm runs per path (default 7)")
    parser.add_argument("--out", help="also write the tables to this file")
    args = parser.parse_args(argv)
    stacks = args.stack or ["prod"]
    os.chdir(REPO)

    load_before = os.getloadavg()
    (_, import_wall, import_cpu) = _timed(lambda: __import__("djangostack.offline.mocking"))
    from djangostack.offline import mocking
    from djangostack.offline.cloud_limits import check_recording

    lines = [
        "| stack | resources | measurement | wall s | CPU s |",
        "|---|---:|---|---:|---:|",
        f"| - | - | import the mocks engine | {import_wall:.3f} | {import_cpu:.3f} |",
    ]
    summary: list[str] = []
    for stack in stacks:
        mocking.FAST_EVALUATION = True
        recording, cold_wall, cold_cpu = _timed(lambda: mocking.evaluate_stack(stack))  # noqa: B023
        count = len(recording.resources)
        lines.append(f"| {stack} | {count} | cold: first evaluation (SDK imports) | {cold_wall:.3f} | {cold_cpu:.3f} |")
        samples: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for _ in range(args.runs):
            for fast in (True, False):
                mocking.FAST_EVALUATION = fast
                _, wall, cpu = _timed(lambda: mocking.evaluate_stack(stack))  # noqa: B023
                samples[fast].append((wall, cpu))
        mocking.FAST_EVALUATION = True
        breaches, limits_wall, limits_cpu = _timed(lambda: check_recording(recording))  # noqa: B023
        medians = {
            fast: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
            for fast, s in samples.items()
        }
        for fast, label in ((False, "warm, SDK default path"), (True, "warm, fast path (shipped)")):
            wall, cpu = medians[fast]
            lines.append(f"| {stack} | {count} | {label}: median of {args.runs} | {wall:.3f} | {cpu:.3f} |")
        lines.append(
            f"| {stack} | {count} | cloud-limit checks ({len(breaches)} breaches) "
            f"| {limits_wall:.3f} | {limits_cpu:.3f} |"
        )
        fast_wall, fast_cpu = medians[True]
        slow_wall, slow_cpu = medians[False]
        summary.append(
            f"{stack}: fast / default = {fast_wall / slow_wall:.2f} wall, {fast_cpu / slow_cpu:.2f} CPU; "
            f"warm evaluation + checks = {fast_wall + limits_wall:.3f} s wall, {fast_cpu + limits_cpu:.3f} s CPU"
        )
    load_after = os.getloadavg()
    text = "\n".join(
        [
            *lines,
            "",
            *summary,
            f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} CPUs)",
            "",
        ]
    )
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``djangostack render --stack NAME-or-PATH --out DIR``: write every file a host of that stack
gets, for review."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..host.render import render_all, render_cloud_init
from ..paths import stack_file
from ..settings.loading import load_from_stack_file
from ..targets.hosts import host_context


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    render = sub.add_parser("render", help="write every host file of a stack into a directory")
    render.add_argument("--stack", required=True, help="a stack name (dev) or a path to a stack file")
    render.add_argument("--out", required=True)
    render.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_from_stack_file(stack_file(args.stack))
    if settings.target.kind == "gcp-cloudrun":
        print(f"{args.stack}: the gcp-cloudrun target has no host files to render", file=sys.stderr)
        return 1
    try:
        ctx = host_context(settings)
        files = render_all(ctx)  # the quoting filters refuse, rather than render, an unsafe value
    except ValueError as exc:
        print(f"{args.stack}: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    for key in sorted(files):
        host_file = files[key]
        target = out / host_file.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(host_file.content, encoding="utf-8")
        print(f"{host_file.mode_text} {host_file.owner}:{host_file.group:<10} {host_file.path}")
    user_data = out / "cloud-init" / "user-data.yaml"
    user_data.parent.mkdir(parents=True, exist_ok=True)
    user_data.write_text(render_cloud_init(ctx, files), encoding="utf-8")
    print(f"{'':4} {'':<16} (first-boot user data with the same files: {user_data})")
    print(f"{len(files)} host files written under {out}")
    return 0

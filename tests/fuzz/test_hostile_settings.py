"""Hostile strings through every string setting: refused by `check` with one line, or rendered inert.

For every string-typed setting of the stack schema (found by walking the settings models, so a new
field is fuzzed without editing this file) and every hostile string below, exactly one of:

- ``validate`` refuses the value, with one short line per problem naming the key; or
- the value is accepted, and then every file a host gets renders without an exception, every
  changed file passes the tool that will read it (``nginx -t``, ``bash -n`` + ``shellcheck``,
  ``systemd-analyze verify``, ``cloud-init schema``), and the value stays data: the env file reads
  back the exact value in bash and in systemd's parser, and the rendered scripts, run in a sandbox
  where every external command is a logging stub, never run an injected command.

The sandbox: a private mount namespace (``unshare --mount``) with tmpfs over /etc, /srv, /usr/local,
/var, /run, /root and /home, so the scripts' writes land nowhere real; ``PATH`` points at an empty
directory and ``BASH_ENV`` defines ``command_not_found_handle``, so every external command the
script starts is logged (and succeeds) instead of running. Hostile strings call a command named
``pwned``; the log must never show it.
"""

from __future__ import annotations

import copy
import hashlib
import re
import shutil
import subprocess
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from djangostack.host import render
from djangostack.host.context import HostContext
from djangostack.settings.errors import SettingsError
from djangostack.settings.stack import StackSettings
from djangostack.settings.targets import AwsEc2Target, GcpCloudRunTarget, ServerTarget
from djangostack.targets.hosts import host_context
from djangostack.validation import validate
from tests.host.nginx_sandbox import nginx_sandbox
from tests.host.test_env_file import systemd_env_parse

pytestmark = pytest.mark.fuzz

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3QtaG9zdC1rZXktZm9yLXRoZS1maXh0dXJl"

HOSTILE: tuple[str, ...] = (
    "$(pwned)",
    "`pwned`",
    ";pwned;",
    "x|pwned",
    "x && pwned",
    "x\npwned",
    "x\rpwned",
    "'; pwned; '",
    '"; pwned; "',
    "${IFS}pwned",
    "$HOME",
    "fe80::1%$(pwned)",
    "fe80::1%eth0",
    "ops@example.com;pwned",
    "`pwned`@example.com",
    "app.example.com\n",
    "a b",
    "caf\u00e9",
    "\u202epwned",
    "nul\0byte",
    "tab\there",
    "{{ 7 * 7 }}",
    "} server { listen 1; }",
    "x; include /etc/shadow;",
    "%h%n%%",
    "back\\slash",
    "-d pwned",
    "--help",
    "*",
    "../../etc/passwd",
    "",
    " ",
    "0",
    "x" * 5_000_000,
)

# ---- base stacks: valid, and each exercising as many rendered files as possible ----------------

SERVER: dict[str, Any] = {
    "environment": "prod",
    "target": {"kind": "server", "host": "203.0.113.10", "sshKeyFile": "id_ed25519", "sshHostKey": HOST_KEY},
    "app": {"name": "shop", "releaseId": "v1", "extraEnv": {"FEATURE": "on"}},
    "database": {"mode": "local"},
    "cache": {"mode": "local"},
    "celery": {"worker": True, "beat": True, "queues": ["celery", "mail"]},
    "domain": {"names": ["shop.example.com"], "tls": {"mode": "letsencrypt", "email": "ops@example.com"}},
    "network": {"adminCidrs": ["198.51.100.0/24"]},
}
AWS: dict[str, Any] = {
    "environment": "staging",
    "target": {"kind": "aws-ec2", "sshKeyName": "deploy"},
    "app": {"name": "api", "releaseId": "r1", "extraEnv": {"FEATURE": "on"}},
    "media": {"storage": "s3", "bucketName": "api-media"},
    "celery": {"worker": True},
    "domain": {"names": ["api.example.com"], "tls": {"mode": "letsencrypt", "email": "ops@example.com"}},
}
GCP: dict[str, Any] = {
    "environment": "staging",
    "target": {"kind": "gcp-cloudrun", "project": "acme-notes-staging"},
    "app": {"name": "notes", "releaseId": "r1", "image": "europe-west1-docker.pkg.dev/p/notes/app:1.0"},
    "media": {"storage": "gcs"},
    "domain": {"names": ["notes.example.com"], "tls": {"mode": "managed"}},
}
BASES = {"server": (SERVER, ServerTarget), "aws-ec2": (AWS, AwsEc2Target), "gcp-cloudrun": (GCP, GcpCloudRunTarget)}


# ---- every string setting, found from the models ---------------------------------------------


@dataclass(frozen=True)
class Slot:
    """Where a hostile string goes: a plain string, a list item, a dict key or a dict value."""

    kind: str
    path: tuple[str, ...]
    shape: str  # "str" | "list" | "key" | "value" | "argv0" | "argv1"

    @property
    def id(self) -> str:
        return f"{self.kind}:{'.'.join(self.path)}[{self.shape}]"


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation


def _is_str(annotation: Any) -> bool:
    annotation = _unwrap(annotation)
    if annotation is str:
        return True
    return typing.get_origin(annotation) is typing.Literal and all(
        isinstance(a, str) for a in typing.get_args(annotation)
    )


def _is_argv(annotation: Any) -> bool:
    """A list of words: one command as argv."""
    annotation = _unwrap(annotation)
    return typing.get_origin(annotation) is list and _is_str(typing.get_args(annotation)[0])


def _slots(model: type[BaseModel], prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    for name, field in model.model_fields.items():
        if name in ("secrets_present", "kind", "target"):
            continue
        key = (*prefix, field.alias or name)
        annotation = _unwrap(field.annotation)
        origin = typing.get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _slots(annotation, key)
        elif _is_str(annotation):
            yield key, "str"
        elif origin is list and _is_str(typing.get_args(annotation)[0]):
            yield key, "list"
        elif origin is list and _is_argv(typing.get_args(annotation)[0]):
            yield key, "argv0"  # the program word of a command (app.buildCommands)
            yield key, "argv1"  # an argument word
        elif origin is dict:
            yield key, "key"
            yield key, "value"


def all_slots() -> list[Slot]:
    slots: list[Slot] = []
    for kind, (_, target_model) in BASES.items():
        for path, shape in _slots(StackSettings, ()):
            slots.append(Slot(kind, path, shape))
        for path, shape in _slots(target_model, ("target",)):
            slots.append(Slot(kind, path, shape))
    return slots


SLOTS = all_slots()


def with_value(slot: Slot, value: str) -> dict[str, Any]:
    raw = copy.deepcopy(BASES[slot.kind][0])
    node = raw
    for part in slot.path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
        if part == "tls":
            node.setdefault("mode", "letsencrypt")
        if part == "reference":
            node.setdefault("stack", "acme/network/prod")
    last = slot.path[-1]
    node[last] = {
        "str": value,
        "list": [value],
        "key": {value: "on"},
        "value": {"FUZZ": value},
        "argv0": [[value, "--version"]],
        "argv1": [["python", value]],
    }[slot.shape]
    return raw


# ---- outcome 1: refused with one line per problem ---------------------------------------------


@dataclass
class Accepted:
    slot: Slot
    value: str
    ctx: HostContext | None


def _outcome(slot: Slot, value: str) -> Accepted | None:
    raw = with_value(slot, value)
    lines: list[str] = []
    try:
        settings = validate(raw, set(), set(), stack="fuzz")
    except SettingsError as exc:
        lines = exc.lines
    if lines:
        for line in lines:
            assert "\n" not in line and "\r" not in line, (slot.id, line)
            assert len(line) < 700, (slot.id, line[:200])
            assert line.startswith("djangostack:"), (slot.id, line)
        assert any(line.startswith(f"djangostack:{slot.path[0]}") for line in lines), (slot.id, lines)
        return None
    if settings.target.kind == "gcp-cloudrun":
        return Accepted(slot, value, None)
    ctx = host_context(settings, media_bucket="fuzz-media")
    return Accepted(slot, value, ctx)


ACCEPTED: list[Accepted] = []


@pytest.mark.parametrize("slot", SLOTS, ids=lambda s: s.id)
def test_every_hostile_string_is_refused_or_renders(slot: Slot) -> None:
    for value in HOSTILE:
        accepted = _outcome(slot, value)
        if accepted is None:
            continue
        if accepted.ctx is not None:
            files = render.render_all(accepted.ctx)  # never an exception for an accepted value
            render.render_cloud_init(accepted.ctx, files)
        ACCEPTED.append(accepted)


# ---- outcome 2: accepted values are inert in every rendered file ------------------------------


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def _baseline(kind: str) -> dict[str, str]:
    settings = validate(copy.deepcopy(BASES[kind][0]), set(), set(), stack="fuzz")
    ctx = host_context(settings, media_bucket="fuzz-media")
    files = render.render_all(ctx)
    return {p: f.content for p, f in files.items()} | {"cloud-init": render.render_cloud_init(ctx, files)}


def _host_cases() -> list[Accepted]:
    """Accepted hostile values on host targets (computed here too, so this test runs on its own)."""
    if not ACCEPTED:
        for slot in SLOTS:
            if slot.kind == "gcp-cloudrun":
                continue
            for value in HOSTILE:
                accepted = _outcome(slot, value)
                if accepted is not None:
                    ACCEPTED.append(accepted)
    return [a for a in ACCEPTED if a.ctx is not None]


SANDBOX_HOOK = r"""
command_not_found_handle() {
    printf '%s\n' "$*" >> "$SANDBOX_LOG"
    case "$1" in
        mktemp) printf '%s/tmp.%s\n' "$SANDBOX_DIR" "$RANDOM" ;;
        id) printf '0\n' ;;
    esac
    return 0
}
"""

SANDBOX_MOUNTS = 'for d in /etc /srv /usr/local /var /run /root /home; do /bin/mount -t tmpfs sandbox "$d"; done'


def run_in_sandbox(directory: Path, script: Path, *args: str) -> list[str]:
    """Run ``script`` with every external command stubbed; return the commands it started."""
    _need("unshare")
    hook, log = directory / "hook.sh", directory / "commands.log"
    hook.write_text(SANDBOX_HOOK)
    log.write_text("")
    stubs = directory / "stub-path"
    stubs.mkdir(exist_ok=True)
    # Commands a script probes for with `command -v` get a stub file; every other one reaches
    # command_not_found_handle. Both log the command line instead of running anything.
    for name in set(re.findall(r"command -v ([A-Za-z0-9_.-]+)", script.read_text())):
        stub = stubs / name
        stub.write_text('#!/bin/bash\nprintf \'%s\\n\' "${0##*/} $*" >> "$SANDBOX_LOG"\n')
        stub.chmod(0o755)
    env = {
        "PATH": str(stubs),
        "BASH_ENV": str(hook),
        "SANDBOX_LOG": str(log),
        "SANDBOX_DIR": str(directory),
        "HOME": str(directory),
        "CERTBOT_SKIP": "0",
    }
    command = f'{SANDBOX_MOUNTS}; exec /bin/bash "$0" "$@"'
    result = subprocess.run(
        ["/usr/bin/unshare", "--mount", "--fork", "/bin/bash", "-c", command, str(script), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "mount" in result.stderr and "permission denied" in result.stderr.lower():
        pytest.skip("no permission to mount a tmpfs in a private namespace")
    return log.read_text().splitlines()


def _tool_checks(changed: dict[str, str], directory: Path, ctx: HostContext) -> None:
    for path, text in changed.items():
        name = hashlib.sha256(path.encode()).hexdigest()[:12]
        copy_path = directory / f"{name}-{Path(path).name}"
        if path == "cloud-init":
            copy_path.write_text(text)
            result = subprocess.run(
                [_need("cloud-init"), "schema", "--config-file", str(copy_path)], capture_output=True, text=True
            )
            assert result.returncode == 0, result.stdout + result.stderr
        elif text.startswith("#!/usr/bin/env bash"):
            copy_path.write_text(text)
            assert subprocess.run(["bash", "-n", str(copy_path)], capture_output=True).returncode == 0, path
            result = subprocess.run(
                [_need("shellcheck"), "--shell=bash", str(copy_path)], capture_output=True, text=True
            )
            assert result.returncode == 0, f"{path}:\n{result.stdout}"
        elif path.startswith("/etc/systemd/system/"):
            stubs = directory / "bin"
            stubs.mkdir(exist_ok=True)
            for tool in ("gunicorn", "celery"):
                (stubs / tool).write_text("#!/bin/sh\nexit 0\n")
                (stubs / tool).chmod(0o755)
            unit = directory / Path(path).name
            unit.write_text(text.replace(f"{ctx.current_link}/.venv/bin/", f"{stubs}/"))
            result = subprocess.run(
                [_need("systemd-analyze"), "verify", str(unit)], capture_output=True, text=True, cwd=directory
            )
            assert result.returncode == 0 and not result.stderr.strip(), result.stderr
        elif path == ctx.nginx_site:
            _nginx_t(text, directory, ctx)


OPENSSL_REQ = ("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t")


def _nginx_t(site: str, directory: Path, ctx: HostContext) -> None:
    nginx = _need("nginx")
    cert, key = directory / "cert.pem", directory / "key.pem"
    if not cert.exists():
        subprocess.run(
            [*OPENSSL_REQ, "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
        )
    config = nginx_sandbox(site, directory, ctx, cert, key)
    result = subprocess.run([nginx, "-t", "-p", str(directory), "-c", str(config)], capture_output=True)
    assert result.returncode == 0, result.stderr


def _env_reads_back(env_text: str, directory: Path, expected: dict[str, str]) -> None:
    """The env file gives exactly ``expected`` in systemd's parser and in bash, running nothing."""
    parsed = systemd_env_parse(env_text)
    for key, value in expected.items():
        assert parsed.get(key) == value, (key, parsed.get(key), value)
    env_file = directory / "app.env"
    env_file.write_text(env_text)
    reader = directory / "read-env.sh"
    keys = " ".join(expected)
    values = directory / "values"
    reader.write_text(
        f'set -a\n. "{env_file}"\nset +a\nfor k in {keys}; do printf "%s=%s\\0" "$k" "${{!k}}"; done > "{values}"\n'
    )
    commands = run_in_sandbox(directory, reader)
    assert not commands, commands  # sourcing the env file starts no command at all
    read_back = dict(item.split("=", 1) for item in values.read_text().split("\0") if item)
    assert read_back == expected


def _merged(cases: list[Accepted]) -> list[tuple[Accepted, dict[str, str]]]:
    """One case per accepted value, except that every accepted extraEnv value of a target goes into
    one stack (``FUZZ0``, ``FUZZ1``, ...): one render and one round of tool runs instead of dozens.
    Returns each case with the env values it must read back."""
    result: list[tuple[Accepted, dict[str, str]]] = []
    env_values: dict[Slot, list[str]] = {}
    for case in cases:
        if case.slot.path == ("app", "extraEnv") and case.slot.shape == "value":
            env_values.setdefault(case.slot, []).append(case.value)
        else:
            result.append((case, {}))
    for slot, values in env_values.items():
        raw = with_value(slot, "")
        expected = {f"FUZZ{i}": value for i, value in enumerate(values)}
        raw["app"]["extraEnv"] = expected
        ctx = host_context(validate(raw, set(), set(), stack="fuzz"), media_bucket="fuzz-media")
        result.append((Accepted(slot, "\n".join(values), ctx), expected))
    return result


@pytest.mark.artifacts
def test_accepted_hostile_values_are_inert_in_every_rendered_file(tmp_path: Path) -> None:
    cases = _host_cases()
    assert cases, "expected some hostile strings to be accepted (e.g. extraEnv values)"
    baselines = {kind: _baseline(kind) for kind in ("server", "aws-ec2")}
    checked: set[str] = set()
    for number, (case, expected_env) in enumerate(_merged(cases)):
        assert case.ctx is not None
        files = render.render_all(case.ctx)
        rendered = {p: f.content for p, f in files.items()} | {"cloud-init": render.render_cloud_init(case.ctx, files)}
        baseline = baselines[case.slot.kind]
        changed = {p: t for p, t in rendered.items() if baseline.get(p) != t}
        digest = hashlib.sha256(repr(sorted(changed.items())).encode()).hexdigest()
        if digest in checked:
            continue
        checked.add(digest)
        directory = tmp_path / str(number)
        directory.mkdir()
        _tool_checks(changed, directory, case.ctx)
        env_base = next((t for p, t in rendered.items() if p.endswith("app.env.base")), None)
        if expected_env:
            assert env_base is not None
            _env_reads_back(env_base, directory, expected_env)
        for path, text in changed.items():
            if text.startswith("#!/usr/bin/env bash"):
                script = directory / Path(path).name
                script.write_text(text)
                args = ("deploy", "fuzz-release", str(directory)) if path == case.ctx.release_script else ()
                commands = run_in_sandbox(directory, script, *args)
                assert commands, f"{path} ran no command in the sandbox"
                assert not [c for c in commands if c.startswith("pwned")], (case.slot.id, case.value[:80])


@pytest.mark.artifacts
def test_the_sandbox_does_catch_an_injected_command(tmp_path: Path) -> None:
    """The inertness check can fail: an unquoted value in a script is seen running."""
    script = tmp_path / "bad.sh"
    script.write_text("#!/usr/bin/env bash\nset -eu\nHOST=$(pwned)\nprintf '%s' \"$HOST\" > /etc/fuzz\ncat /etc/fuzz\n")
    commands = run_in_sandbox(tmp_path, script)
    assert commands[0] == "pwned"
    assert not Path("/etc/fuzz").exists()  # the write went to the sandbox's tmpfs


def test_every_string_setting_is_fuzzed() -> None:
    """The walk over the models finds the settings that reach a host (guards the walk itself)."""
    ids = {slot.id for slot in SLOTS}
    for expected in (
        "server:target.host[str]",
        "server:domain.tls.email[str]",
        "server:network.cidr[str]",
        "server:network.adminCidrs[list]",
        "server:app.extraEnv[key]",
        "server:app.extraEnv[value]",
        "server:domain.names[list]",
        "server:celery.queues[list]",
        "server:target.os[str]",
        "server:app.python[str]",
        "server:app.systemPackages[list]",
        "server:app.buildCommands[argv0]",
        "server:app.buildCommands[argv1]",
        "aws-ec2:target.os[str]",
        "aws-ec2:app.buildCommands[argv1]",
        "gcp-cloudrun:app.buildCommands[argv1]",
        "aws-ec2:target.sshKeyName[str]",
        "gcp-cloudrun:app.image[str]",
        "gcp-cloudrun:target.memory[str]",
    ):
        assert expected in ids, expected

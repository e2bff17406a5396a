"""The env file reads the same in bash (`set -a; . file`) and in systemd's EnvironmentFile=.

systemd cannot load an env file here without running as PID 1 (`systemd-run` needs a manager), so
``systemd_env_parse`` is a port of the state machine of systemd's ``parse_env_file_internal``
(src/basic/env-file.c, v252). The renderer only writes ``KEY='value'`` lines whose values hold no
quote, line break or NUL; for those, single quotes are literal in both parsers.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from djangostack.host import render
from djangostack.host.context import HostContext
from tests.host.conftest import dev_context

WHITESPACE = " \t\n\r"
NEWLINE = "\n\r"
COMMENTS = "#;"
SHELL_NEED_ESCAPE = '"\\`$'


def systemd_env_parse(text: str) -> dict[str, str]:
    """Port of systemd's env-file parser (enough states for every line we could emit)."""
    result: dict[str, str] = {}
    state, key, value = "PRE_KEY", "", ""

    def push() -> None:
        result[key.rstrip(WHITESPACE)] = value

    for c in text:
        if state == "PRE_KEY":
            if c in COMMENTS:
                state = "COMMENT"
            elif c not in WHITESPACE:
                state, key = "KEY", c
        elif state == "KEY":
            if c in NEWLINE:
                state, key = "PRE_KEY", ""
            elif c == "=":
                state, value = "PRE_VALUE", ""
            else:
                key += c
        elif state == "PRE_VALUE":
            if c in NEWLINE:
                push()
                state, key, value = "PRE_KEY", "", ""
            elif c == "'":
                state = "SINGLE_QUOTE_VALUE"
            elif c == '"':
                state = "DOUBLE_QUOTE_VALUE"
            elif c == "\\":
                state = "VALUE_ESCAPE"
            elif c not in WHITESPACE:
                state, value = "VALUE", value + c
        elif state == "VALUE":
            if c in NEWLINE:
                value = value.rstrip(WHITESPACE)
                push()
                state, key, value = "PRE_KEY", "", ""
            elif c == "\\":
                state = "VALUE_ESCAPE"
            else:
                value += c
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if c not in NEWLINE:
                value += c
        elif state == "SINGLE_QUOTE_VALUE":
            if c == "'":
                state = "PRE_VALUE"
            else:
                value += c
        elif state == "DOUBLE_QUOTE_VALUE":
            if c == '"':
                state = "PRE_VALUE"
            elif c == "\\":
                state = "DOUBLE_QUOTE_VALUE_ESCAPE"
            else:
                value += c
        elif state == "DOUBLE_QUOTE_VALUE_ESCAPE":
            state = "DOUBLE_QUOTE_VALUE"
            if c in SHELL_NEED_ESCAPE:
                value += c
            elif c not in NEWLINE:
                value += "\\" + c
        elif state == "COMMENT":
            if c == "\\":
                state = "COMMENT_ESCAPE"
            elif c in NEWLINE:
                state = "PRE_KEY"
        elif state == "COMMENT_ESCAPE":
            state = "COMMENT"
    if state in (
        "PRE_VALUE",
        "VALUE",
        "VALUE_ESCAPE",
        "SINGLE_QUOTE_VALUE",
        "DOUBLE_QUOTE_VALUE",
        "DOUBLE_QUOTE_VALUE_ESCAPE",
    ):
        if state == "VALUE":
            value = value.rstrip(WHITESPACE)
        push()
    return result


def bash_env_parse(path: Path, keys: list[str]) -> dict[str, str]:
    """Source the file with `set -a` in a clean bash and read the variables back (NUL-separated)."""
    script = 'set -a; . "$1"; shift; for k in "$@"; do printf "%s=%s\\0" "$k" "${!k}"; done'
    out = subprocess.run(
        ["bash", "-c", script, "_", str(path), *keys], check=True, capture_output=True, env={}
    ).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if item)


def test_the_port_matches_systemd_on_quoting_examples() -> None:
    parsed = systemd_env_parse("# c\nA='x y'\nB=\"q\\\"z\"\nC=plain  \n; other\nD='a\\b$c'\n")
    assert parsed == {"A": "x y", "B": 'q"z', "C": "plain", "D": "a\\b$c"}


def test_rendered_env_file_parses_identically_in_bash_and_systemd(tmp_path: Path) -> None:
    ctx = dev_context()
    values = render.env_values(ctx) | {"TRICKY": 'a b "c" $HOME `x` \\n #; %s ${X:-y}'}
    text = render.render_env_file(ctx, values)
    path = tmp_path / "app.env"
    path.write_text(text)
    assert systemd_env_parse(text) == values
    assert bash_env_parse(path, sorted(values)) == values


_SAFE = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="'\n\r\0"), max_size=40).map(str.strip)


@settings(max_examples=150, deadline=None)
@given(values=st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True), _SAFE, max_size=6))
def test_any_allowed_value_round_trips_through_both_parsers(
    values: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    ctx: HostContext = dev_context()
    text = render.render_env_file(ctx, values)
    path = tmp_path_factory.mktemp("env") / "app.env"
    path.write_bytes(text.encode())
    assert systemd_env_parse(text) == values
    assert bash_env_parse(path, sorted(values)) == values


def test_bootstrap_appends_secrets_in_the_same_format() -> None:
    script = render.render_bootstrap_script(dev_context())
    assert """env_line() { printf "%s='%s'\\n" "$1" "$2"; }""" in script
    assert 'die "$name contains a quote or a line break' in script


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash missing")
def test_bash_sees_no_extra_variables_from_comments(tmp_path: Path) -> None:
    ctx = dev_context()
    path = tmp_path / "app.env"
    path.write_text(render.render_env_file(ctx, {"ONLY": "1"}))
    out = (
        subprocess.run(
            ["bash", "-c", 'set -a; . "$1"; compgen -e', "_", str(path)], check=True, capture_output=True, env={}
        )
        .stdout.decode()
        .split()
    )
    assert "ONLY" in out


@pytest.mark.parametrize("static_subdir", ["static", "web/collected"])
def test_each_gunicorn_color_reads_its_own_releases_static_files(tmp_path: Path, static_subdir: str) -> None:
    """The env file names current/'s static folder (what Nginx serves); the Gunicorn a release
    starts before current/ is switched to it must read its own release's (a manifest-backed static
    storage reads it when a worker first renders: found with `wagtail start`'s project)."""
    ctx = dataclasses.replace(dev_context(), static_subdir=static_subdir)
    env_file = tmp_path / "app.env"
    env_file.write_text(render.render_env_file(ctx, {"STATIC_ROOT": ctx.static_dir}), encoding="utf-8")
    conf = render.render_gunicorn_conf(ctx).replace(repr(ctx.env_file)[1:-1], str(env_file))
    release = tmp_path / "releases" / "r2"
    release.mkdir(parents=True)
    namespace: dict[str, object] = {}
    cwd = Path.cwd()
    try:
        os.chdir(release)
        exec(compile(conf, "gunicorn.conf.py", "exec"), namespace)
    finally:
        os.chdir(cwd)
    raw_env = namespace["raw_env"]
    assert isinstance(raw_env, list)
    static = [entry for entry in raw_env if entry.startswith("STATIC_ROOT=")]
    assert static[0] == f"STATIC_ROOT={ctx.static_dir}", "the env file keeps current/'s folder"
    assert static[-1] == f"STATIC_ROOT={release / static_subdir}", "the last (winning) value is the release's"

"""Every rendered host file checked by the tool that will read it.

Needs (Debian/Ubuntu): apt-get install -y nginx systemd cloud-init shellcheck openssl
Tests skip (with the missing tool named) when a tool is absent.

- nginx: ``nginx -t -p <tmp> -c <tmp>/nginx.conf`` with a minimal main config that includes the
  rendered site and /etc/nginx/mime.types; certificate and log paths point at a throwaway
  self-signed pair and the temp dir (rewritten in the test copy only).
- systemd: ``systemd-analyze verify`` refuses units whose ExecStart binary is missing. ``--root``
  does not help (it re-roots every path, /bin/kill and the stock units included, and absolute
  symlinks loop), so the test copy rewrites ``/srv/<app>/current/.venv/bin/`` to a directory of
  stub executables. verify exits 0 on unknown keys, so stderr must be empty too.
- cloud-init: ``cloud-init schema --config-file`` validates without a booted instance.
- shellcheck and ``bash -n`` on the bootstrap, release and certbot hook scripts.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from djangostack.host import render
from djangostack.host.context import HostContext
from tests.host.nginx_sandbox import nginx_sandbox

pytestmark = pytest.mark.artifacts


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def _self_signed(directory: Path) -> tuple[Path, Path]:
    _need("openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_nginx_accepts_the_rendered_site(any_ctx: HostContext, tmp_path: Path) -> None:
    nginx = _need("nginx")
    if not Path("/etc/nginx/mime.types").exists():
        pytest.skip("/etc/nginx/mime.types missing")
    cert, key = _self_signed(tmp_path)
    nginx_sandbox(render.render_nginx_site(any_ctx), tmp_path, any_ctx, cert, key)
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_systemd_analyze_verifies_every_unit(any_ctx: HostContext, tmp_path: Path) -> None:
    analyze = _need("systemd-analyze")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for tool in ("gunicorn", "celery", "certbot-issue"):
        (stubs / tool).write_text("#!/bin/sh\nexit 0\n")
        (stubs / tool).chmod(0o755)
    units = []
    for path, f in render.render_all(any_ctx).items():
        if path.startswith("/etc/systemd/system/"):
            copy = tmp_path / Path(path).name
            text = f.content.replace(f"{any_ctx.current_link}/.venv/bin/", f"{stubs}/")
            text = text.replace(f"{any_ctx.colors_dir}/%i/.venv/bin/", f"{stubs}/")
            copy.write_text(text.replace(any_ctx.certbot_issue, f"{stubs}/certbot-issue"))
            units.append(str(copy))
    assert len(units) >= 2
    result = subprocess.run([analyze, "verify", *units], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_cloud_init_schema_accepts_the_user_data(any_ctx: HostContext, tmp_path: Path) -> None:
    cloud_init = _need("cloud-init")
    user_data = tmp_path / "user-data"
    user_data.write_text(render.render_cloud_init(any_ctx, render.render_all(any_ctx)))
    result = subprocess.run([cloud_init, "schema", "--config-file", str(user_data)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def _scripts(ctx: HostContext) -> dict[str, str]:
    files = render.render_all(ctx)
    return {p: f.content for p, f in files.items() if f.content.startswith("#!/usr/bin/env bash")}


def test_shellcheck_is_clean_on_every_script(any_ctx: HostContext, tmp_path: Path) -> None:
    shellcheck = _need("shellcheck")
    scripts = _scripts(any_ctx)
    assert any_ctx.bootstrap_path in scripts and any_ctx.release_script in scripts
    for path, text in scripts.items():
        copy = tmp_path / Path(path).name
        copy.write_text(text)
        result = subprocess.run([shellcheck, "--shell=bash", str(copy)], capture_output=True, text=True)
        assert result.returncode == 0, f"{path}:\n{result.stdout}"


def test_bash_parses_every_script(any_ctx: HostContext, tmp_path: Path) -> None:
    for path, text in _scripts(any_ctx).items():
        copy = tmp_path / Path(path).name
        copy.write_text(text)
        result = subprocess.run(["bash", "-n", str(copy)], capture_output=True, text=True)
        assert result.returncode == 0, f"{path}: {result.stderr}"


def test_release_script_usage_and_lock_fail_fast(dev: HostContext, tmp_path: Path) -> None:
    """Run the real script: bad usage exits 2; a held lock exits 3 with a clear message."""
    _need("flock")
    lock = tmp_path / "release.lock"
    script = render.render_release_script(dev).replace(f"LOCK={dev.lock_file}", f"LOCK={lock}")
    path = tmp_path / "release"
    path.write_text(script)
    path.chmod(0o755)
    assert subprocess.run([str(path), "bogus"], capture_output=True).returncode == 2
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        for _ in range(50):
            if subprocess.run(["flock", "-n", str(lock), "true"]).returncode != 0:
                break
            subprocess.run(["sleep", "0.1"])
        result = subprocess.run([str(path), "rollback"], capture_output=True, text=True)
    finally:
        holder.kill()
        holder.wait()
    if result.returncode == 2 and "root" in result.stderr:
        pytest.skip("needs root")
    assert result.returncode == 3, result.stderr
    assert "another release" in result.stderr

"""``aws-release`` (the AWS side of a host) run in a sandbox with cloud-init, the AWS CLI, the
bootstrap and the release script stubbed: what it does with cloud-init's exit codes (issue 12
AWS 6) and that a fleet host's boot never dumps the database (issue 12 AWS 7)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from djangostack.settings.loading import load_from_stack_file
from djangostack.targets.aws.host_integration import aws_release_script

SINGLE = Path(__file__).parent / "Pulumi.single.yaml"


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\n" + body, encoding="utf-8")
    path.chmod(0o755)


@pytest.fixture
def sandbox(tmp_path: Path) -> dict[str, Path]:
    settings = load_from_stack_file(SINGLE)
    app = settings.app.name
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    archive = tmp_path / "source.tar.gz"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        data = b"print('hi')\n"
        info = tarfile.TarInfo("manage.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    archive.write_bytes(raw.getvalue())
    env_file = tmp_path / "aws.env"
    env_file.write_text(
        "AWS_REGION=eu-west-1\nAWS_DEFAULT_REGION=eu-west-1\nAPP_SECRET_ARN=app\nDB_SECRET_ARN=db\n"
        "DB_HOST=db.internal\nDB_PORT=5432\nDB_NAME=app\nDB_SSLMODE=require\nDB_APP_USER=app_app\n"
        "MEDIA_BUCKET=bucket\n"
        f"RELEASE_ID=r7\nARCHIVE_KEY=releases/r7.tar.gz\nARCHIVE_SHA256={hashlib.sha256(raw.getvalue()).hexdigest()}\n"
    )
    _stub(
        bin_dir / "cloud-init",
        f'echo "cloud-init $*" >> {calls}\n'
        'if [[ "$1 $2" == "status --long" ]]; then echo "recoverable_errors: DEPRECATED: key x"; exit 2; fi\n'
        'exit "${CLOUD_INIT_EXIT:-0}"\n',
    )
    _stub(
        bin_dir / "aws",
        'case "$1 $2" in\n'
        '  "secretsmanager get-secret-value") if [[ "$4" == app ]]; then'
        ' echo \'{"SECRET_KEY": "k", "DATABASE_APP_PASSWORD": "p2"}\';'
        ' else echo \'{"username": "u", "password": "p"}\'; fi ;;\n'
        f'  "s3 cp") cp {archive} "$5" ;;\n'
        "  *) exit 9 ;;\n"
        "esac\n",
    )
    # The app's own database role is set up with psql (tests/aws/test_db_rotation.py runs it for real).
    _stub(bin_dir / "psql", f'cat >/dev/null; echo "psql" >> {calls}\n')
    bootstrap, release = tmp_path / "bootstrap", tmp_path / "release"
    _stub(bootstrap, f'echo "bootstrap" >> {calls}\n')
    _stub(release, f'if [[ "$1" == current ]]; then exit 0; fi\necho "release $*" >> {calls}\n')
    script = aws_release_script(settings.app.name)
    script = script.replace(f"/etc/{app}/aws.env", str(env_file))
    script = script.replace(f"/usr/local/lib/{app}/bootstrap", str(bootstrap))
    script = script.replace(f"/usr/local/lib/{app}/release", str(release))
    script = script.replace("[[ ${EUID} -eq 0 ]]", "true")
    path = tmp_path / "aws-release"
    path.write_text(script, encoding="utf-8")
    return {"script": path, "bin": bin_dir, "calls": calls, "env": env_file}


def _run(sandbox: dict[str, Path], *args: str, cloud_init_exit: int = 0) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{sandbox['bin']}:{os.environ['PATH']}",
        "CLOUD_INIT_EXIT": str(cloud_init_exit),
        "HOME": str(sandbox["script"].parent),
    }
    return subprocess.run(["bash", str(sandbox["script"]), *args], capture_output=True, text=True, env=env, check=False)


def _calls(sandbox: dict[str, Path]) -> list[str]:
    path = sandbox["calls"]
    return path.read_text().splitlines() if path.exists() else []


def _release_args(sandbox: dict[str, Path]) -> tuple[str, str, str]:
    values = dict(line.split("=", 1) for line in sandbox["env"].read_text().splitlines())
    return values["RELEASE_ID"], values["ARCHIVE_KEY"], values["ARCHIVE_SHA256"]


def test_cloud_init_exit_2_is_success_with_its_warnings_printed(sandbox: dict[str, Path]) -> None:
    result = _run(sandbox, "release", *_release_args(sandbox), cloud_init_exit=2)
    assert result.returncode == 0, result.stderr
    assert "cloud-init finished with recoverable warnings" in result.stdout
    assert "DEPRECATED: key x" in result.stdout
    assert any(c.startswith("release deploy r7 ") for c in _calls(sandbox)), _calls(sandbox)


def test_cloud_init_exit_1_fails_the_release_before_anything_runs(sandbox: dict[str, Path]) -> None:
    result = _run(sandbox, "release", *_release_args(sandbox), cloud_init_exit=1)
    assert result.returncode == 1
    assert "cloud-init failed on this host (cloud-init status exit 1)" in result.stderr
    assert not [c for c in _calls(sandbox) if c.startswith(("release", "bootstrap"))], _calls(sandbox)


def test_the_release_step_backs_up_but_a_fleet_host_booting_does_not(sandbox: dict[str, Path]) -> None:
    assert _run(sandbox, "release", *_release_args(sandbox)).returncode == 0
    boot = _run(sandbox, "boot")
    assert boot.returncode == 0, boot.stderr
    deploys = [c for c in _calls(sandbox) if c.startswith("release deploy")]
    assert len(deploys) == 2, deploys
    assert "--no-backup" not in deploys[0]
    assert deploys[1].startswith("release deploy --no-backup r7 "), deploys[1]

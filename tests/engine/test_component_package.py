"""Other programs reuse DjangoStack: a Python program that pip-installs the package, and a YAML
program that consumes the component package through its provider, both with the real engine.

Everything lives outside the repository, in pytest's temporary directories: a wheel built from
the repository at test time, a virtualenv holding it (its dependencies come from the repository's
virtualenv through a ``.pth`` line, so no download is needed; the package itself must resolve to the
wheel's copy), and each consumer's project. Each consumer deploys a server stack of its own app onto
the engine tests' host, reads the component's outputs, checks the app answers, and destroys it.

The YAML program runs under ``pulumi-language-yaml`` (github.com/pulumi/pulumi-yaml, built from the
Go module proxy into .cache/pulumi-yaml/bin when missing) and names the package by a plugin
directory: the virtualenv's ``bin``, where pip put the ``pulumi-resource-djangostack`` executable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Cli
from tests.engine.pulumi_cli import REPO_ROOT, VENV_DIR, isolated_env
from tests.engine.test_server_stack import DB_PORT, HTTPS_PORT, REDIS_PORT, Deployment, server_target
from tools.testhost import TestHost

pytestmark = pytest.mark.engine

YAML_HOST_MODULE = "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
YAML_HOST_VERSION = "v1.25.0"
YAML_HOST_DIR = REPO_ROOT / ".cache" / "pulumi-yaml" / "bin"
PROVIDER_EXECUTABLE = "pulumi-resource-djangostack"
PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"


@dataclass
class Package:
    venv: Path
    python: Path


def _run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """A fresh virtualenv with the wheel built from this repository."""
    work = tmp_path_factory.mktemp("component-package")
    dist = work / "dist"
    _run([str(VENV_DIR / "bin" / "python"), "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", str(dist), str(REPO_ROOT)])  # fmt: skip
    wheels = sorted(dist.glob("djangostack-*.whl"))
    assert len(wheels) == 1, wheels
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", PURELIB]).stdout.strip())
    # The dependencies (pulumi, the cloud SDKs, pydantic, ...) from the repository's virtualenv: a
    # path line only, so that directory's own .pth files (the editable checkout) are not run.
    dependencies = _run([str(VENV_DIR / "bin" / "python"), "-c", PURELIB]).stdout.strip()
    (site / "dependencies.pth").write_text(dependencies + "\n")
    _run([str(VENV_DIR / "bin" / "python"), "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
          str(wheels[0])])  # fmt: skip
    where = _run([str(python), "-c", "import djangostack.stack as s; print(s.__file__)"]).stdout.strip()
    assert where.startswith(str(site)), f"djangostack imported from {where}, not from the wheel"
    assert os.access(venv / "bin" / PROVIDER_EXECUTABLE, os.X_OK)
    return Package(venv, python)


DATABASE = {"mode": "local", "port": DB_PORT, "sslmode": "disable", "name": "shop", "user": "shop"}
"""The Python consumer's database: its own name and role on the host's PostgreSQL."""


def _consumer(workdir: Path, package: Package, extra_path: Path | None = None) -> Cli:
    project = workdir / "project"
    project.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "media", "staticfiles")
    shutil.copytree(REPO_ROOT / "examples" / "django_app", project / "app", ignore=ignore)
    path = {"PULUMI_PYTHON_CMD": str(package.python)}  # the program's and the dynamic providers' Python
    env = isolated_env(workdir, extra=path)
    if extra_path is not None:
        env["PATH"] = os.pathsep.join([str(extra_path), env["PATH"]])
    return Cli(project, env)


def _check_deployment(cli: Cli, host: TestHost, release: str) -> dict[str, Any]:
    outputs: dict[str, Any] = json.loads(cli("stack", "output", "--json", "--show-secrets").stdout)
    health = Deployment(cli, cli.cwd, cli.cwd.parent, host, {}).readyz()
    assert health["checks"] == {"database": "ok", "cache": "ok"}, health
    assert health["release"] == release, health
    return outputs


@pytest.fixture
def python_consumer(package: Package, tmp_path: Path) -> Iterator[Cli]:
    cli = _consumer(tmp_path, package)
    (cli.cwd / "Pulumi.yaml").write_text(
        f"name: shop-platform\nruntime:\n  name: python\n  options:\n    virtualenv: {package.venv}\n"
    )
    yield cli
    cli("destroy", "--yes", "--non-interactive", check=False)


def test_a_python_program_installs_the_package_and_deploys_a_djangostack(
    python_consumer: Cli, engine_host: TestHost
) -> None:
    cli = python_consumer
    (cli.cwd / "__main__.py").write_text(
        "from pathlib import Path\n\n"
        "import pulumi\n"
        "from djangostack.stack import DjangoStack\n\n"
        "config = pulumi.Config()\n"
        "shop = DjangoStack(\n"
        "    'shop',\n"
        "    {\n"
        "        'environment': 'dev',\n"
        f"        'target': {server_target(engine_host)!r},\n"
        "        'app': {'name': 'shop', 'releaseId': 'c1', 'source': str(Path('app').resolve())},\n"
        f"        'database': {DATABASE!r},\n"
        f"        'cache': {{'mode': 'local', 'port': {REDIS_PORT}}},\n"
        "        'database_password': config.require_secret('dbPassword'),\n"
        "    },\n"
        ")\n"
        "pulumi.export('url', shop.url)\n"
        "pulumi.export('releaseId', shop.release_id)\n"
        "pulumi.export('databaseUrl', shop.database_url)\n"
        "pulumi.export('target', shop.target)\n"
    )
    cli("stack", "init", "shop", "--non-interactive")
    cli("config", "set", "--secret", "dbPassword", "consumer-db-password")
    cli("up", "--yes", "--non-interactive", "--skip-preview")
    outputs = _check_deployment(cli, engine_host, "c1")
    assert outputs["url"] == f"https://127.0.0.1:{HTTPS_PORT}"
    assert outputs["releaseId"] == "c1"
    assert outputs["target"] == "server"
    assert "consumer-db-password" in outputs["databaseUrl"]
    plain = json.loads(cli("stack", "output", "--json").stdout)
    assert plain["databaseUrl"] == "[secret]"
    state = json.loads(cli("stack", "export").stdout)
    types = {r["urn"].split("::")[2] for r in state["deployment"]["resources"]}
    assert "djangostack:index:DjangoStack$djangostack:host:DjangoHost" in types, types


def yaml_language_host() -> Path:
    """pulumi-language-yaml, built from the Go module proxy when missing (Go's caches make a
    rebuild cheap)."""
    binary = YAML_HOST_DIR / "pulumi-language-yaml"
    if not os.access(binary, os.X_OK):
        go = shutil.which("go") or "/usr/local/go/bin/go"
        env = {**os.environ, "GOBIN": str(YAML_HOST_DIR), "GOFLAGS": "-buildvcs=false"}
        _run([go, "install", f"{YAML_HOST_MODULE}@{YAML_HOST_VERSION}"], env=env, timeout=1800)
    return binary


@pytest.fixture
def yaml_consumer(package: Package, tmp_path: Path) -> Iterator[Cli]:
    cli = _consumer(tmp_path, package, yaml_language_host().parent)
    yield cli
    cli("destroy", "--yes", "--non-interactive", check=False)


def test_a_yaml_program_consumes_the_component_package(yaml_consumer: Cli, engine_host: TestHost) -> None:
    cli = yaml_consumer
    target = json.dumps(server_target(engine_host))
    (cli.cwd / "Pulumi.yaml").write_text(
        f"""name: yaml-shop
runtime: yaml
packages:
  djangostack: {cli.env["PULUMI_PYTHON_CMD"].rsplit("/", 1)[0]}
config:
  dbPassword:
    type: string
    secret: true
resources:
  shop:
    type: djangostack:DjangoStack
    properties:
      environment: dev
      target: {target}
      app:
        name: yshop
        releaseId: y1
        source: {cli.cwd / "app"}
      database:
        mode: local
        port: {DB_PORT}
        sslmode: disable
        name: yshop
        user: yshop
      cache:
        mode: local
        port: {REDIS_PORT}
      databasePassword: ${{dbPassword}}
outputs:
  url: ${{shop.url}}
  releaseId: ${{shop.releaseId}}
  databaseUrl: ${{shop.databaseUrl}}
  hostnames: ${{shop.hostnames}}
"""
    )
    cli("stack", "init", "yshop", "--non-interactive")
    cli("config", "set", "--secret", "dbPassword", "yaml-db-password")
    cli("up", "--yes", "--non-interactive", "--skip-preview")
    outputs = _check_deployment(cli, engine_host, "y1")
    assert outputs["url"] == f"https://127.0.0.1:{HTTPS_PORT}"
    assert outputs["releaseId"] == "y1"
    assert "127.0.0.1" in outputs["hostnames"]
    assert "yaml-db-password" in outputs["databaseUrl"]
    provider = cli.env["PULUMI_PYTHON_CMD"].rsplit("/", 1)[0] + "/" + PROVIDER_EXECUTABLE
    schema = json.loads(cli("package", "get-schema", provider).stdout)
    assert "djangostack:index:DjangoStack" in schema["resources"]

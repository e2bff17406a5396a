"""Pulumi state written before the program became a package still deserializes.

The ``builtin-ssh`` executor's dynamic providers are pickled into state by reference to their
class. The program used to be imported as ``components`` (the source directory), so older state
names ``components.host.ssh_provider.SshCommandProvider``; the engine's dynamic-provider process
unpickles that string (on delete and refresh) without importing anything of the program first.
Each test runs that process's step, ``dill.loads`` of the state string, in a fresh interpreter:

- as the old layout made it: serialized by Pulumi's own serializer with the source directory
  imported as ``components`` (the working directory holding it);
- read from a checkout (the source directory itself), where every `pulumi up` writes the
  providers back under ``djangostack``. The distribution ships no top-level ``components`` package
  (the generic name would collide with a consumer's own): a stack deployed by the old layout runs
  one `pulumi up` from a checkout before a program that only installs djangostack takes it over
  (README, "Upgrading").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLASSES = ("SshCommandProvider", "SshCopyProvider")

SERIALIZE = """
import sys
from pulumi.dynamic.dynamic import serialize_provider
import components.host.ssh_provider as module
assert module.__file__.startswith(sys.argv[1]), module.__file__
provider = getattr(module, sys.argv[2])()
print(serialize_provider(provider))
"""

DESERIALIZE = """
import base64, sys
import dill
provider = dill.loads(base64.b64decode(sys.stdin.read()))
cls = type(provider)
print(cls.__module__, cls.__qualname__, sys.modules[cls.__module__].__file__)
"""


def run(code: str, cwd: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, input=stdin, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def old_state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each provider as the old layout pickled it: ``components`` is the source directory."""
    old = tmp_path_factory.mktemp("old-layout")
    (old / "components").symlink_to(REPO / "components", target_is_directory=True)
    return {name: run(SERIALIZE, old, str(old / "components"), name) for name in CLASSES}


@pytest.mark.parametrize("name", CLASSES)
def test_old_state_names_the_pre_package_path(old_state: dict[str, str], name: str) -> None:
    import base64

    assert b"components.host.ssh_provider" in base64.b64decode(old_state[name])
    assert b"djangostack" not in base64.b64decode(old_state[name])


@pytest.mark.parametrize("name", CLASSES)
def test_a_checkout_reads_old_state(old_state: dict[str, str], name: str) -> None:
    module, qualname, source = run(DESERIALIZE, REPO, stdin=old_state[name]).split()
    assert qualname == name
    assert Path(source) == REPO / "components" / "host" / "ssh_provider.py", module


@pytest.mark.parametrize("name", CLASSES)
def test_the_next_up_writes_the_providers_under_djangostack(name: str, tmp_path: Path) -> None:
    # What the program serializes today (from anywhere, the checkout's source directory or the
    # installed distribution): the package's own name, which any program that installs it reads.
    new = run(SERIALIZE.replace("components.host", "djangostack.host"), REPO, str(REPO / "components"), name)
    module, qualname, _ = run(DESERIALIZE, tmp_path, stdin=new).split()
    assert (module, qualname) == ("djangostack.host.ssh_provider", name)

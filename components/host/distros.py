"""The host operating systems a stack can choose, and what each one ships.

A host runs one of these releases; the bootstrap checks ``/etc/os-release`` against the choice
before it installs anything, so a stack never silently runs on another Python or PostgreSQL than
the one it was rendered for. The app's Python is the distribution's ``python3`` unless the stack
asks for another version, which uv then installs as a managed CPython (downloaded once, at
bootstrap, from the python-build-standalone releases that uv uses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, get_args

from ..settings.fields import OsName, debian_package_problem


@dataclass(frozen=True)
class HostOs:
    """Facts about one supported distribution release."""

    name: str
    """The setting's value, e.g. ``debian-13``."""
    os_id: str
    """``ID`` in /etc/os-release."""
    version_id: str
    """``VERSION_ID`` in /etc/os-release."""
    codename: str
    python: str
    """major.minor of the distribution's ``python3``."""
    postgres: str
    """Major version of the distribution's ``postgresql`` package."""

    @property
    def label(self) -> str:
        vendor = "Debian" if self.os_id == "debian" else "Ubuntu"
        return f"{vendor} {self.version_id} ({self.codename})"


HOST_OSES: Final[dict[str, HostOs]] = {
    "debian-12": HostOs("debian-12", "debian", "12", "bookworm", "3.11", "15"),
    "debian-13": HostOs("debian-13", "debian", "13", "trixie", "3.13", "17"),
    "ubuntu-22.04": HostOs("ubuntu-22.04", "ubuntu", "22.04", "jammy", "3.10", "14"),
    "ubuntu-24.04": HostOs("ubuntu-24.04", "ubuntu", "24.04", "noble", "3.12", "16"),
}

DEFAULT_OS: Final = "debian-12"

if set(HOST_OSES) != set(get_args(OsName)):  # the settings' choices and the facts must not drift
    raise RuntimeError("HOST_OSES and settings.fields.OsName name different operating systems")

UV_VERSION: Final = "0.13.9"
"""The uv that builds every release's venv (installed from PyPI into /usr/local/lib/<app>/uv by
the bootstrap). Measured against pip in benchmarks/host_bench.py (``--builds``)."""

GUNICORN_VERSION: Final = "27.0.1"
"""Installed into the venv when the app's own requirements do not bring Gunicorn."""

PSYCOPG_VERSION: Final = "3.3.9"
"""``app.adaptSettings``: psycopg (with its binary build) installed into the venv when the app's
own requirements bring no PostgreSQL driver (psycopg or psycopg2)."""

REDIS_PY_VERSION: Final = "8.1.0"
"""``app.adaptSettings``: the redis client installed into the venv when the app's own requirements
do not bring it (the adapter's cache is Django's RedisCache, which imports it)."""


def host_os(name: str) -> HostOs:
    try:
        return HOST_OSES[name]
    except KeyError:
        raise ValueError(f"unknown host OS {name!r}; choose one of {', '.join(HOST_OSES)}") from None


def python_packages(os_: HostOs) -> tuple[str, ...]:
    """The distribution's Python pieces a venv build needs (headers for C extensions, venv)."""
    return ("python3", "python3-dev", "python3-venv", f"python{os_.python}-venv")


def postgres_packages(os_: HostOs) -> tuple[str, ...]:
    """Server and client of the distribution's PostgreSQL major (15 on Debian 12, 17 on 13, ...)."""
    return (f"postgresql-{os_.postgres}", f"postgresql-client-{os_.postgres}")


def check_package_name(name: str) -> str:
    """Return ``name`` when it is a valid Debian package name, else raise ValueError (the same rule
    as the ``app.systemPackages`` setting, checked again where the name reaches apt-get)."""
    problem = debian_package_problem(name)
    if problem:
        raise ValueError(f"{name[:100]!r} is not a Debian package name: {problem}")
    return name


POETRY_VERSION: Final = "2.5.1"
POETRY_EXPORT_VERSION: Final = "1.10.1"
POETRY_EXPORT: Final[tuple[str, ...]] = (
    "--from",
    f"poetry=={POETRY_VERSION}",
    "--with",
    f"poetry-plugin-export=={POETRY_EXPORT_VERSION}",
    "poetry",
)
"""``uv tool run`` arguments of Poetry's own exporter (poetry.lock -> requirements for uv)."""


def python_hint(os_: HostOs, python: str) -> str:
    """The second half of the release's one-line refusal: what the stack can change."""
    others = ", ".join(f"{o.name}: {o.python}" for o in HOST_OSES.values())
    source = f"the {os_.label} python3" if python == "system" else f"Python {python} (uv-managed)"
    return (
        f"This release uses {source}; set target.os to one whose Python fits ({others}) "
        "or app.python to a version that fits (uv installs it)"
    )

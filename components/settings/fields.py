"""Field types every settings model shares, the base model, the project namespace."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
)
from pydantic.alias_generators import to_camel

PROJECT = "djangostack"
"""The Pulumi project name, and so the config namespace (``djangostack:<key>``)."""

Environment = Literal["dev", "staging", "prod"]

# --------------------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------------------

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
"""One DNS label (matched with ``fullmatch``: ``$`` would let a trailing newline through)."""


def _hostname(value: str) -> str:
    name = value.lower().rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("must be a fully qualified DNS name such as app.example.com")
    if labels[-1].isdigit():
        raise ValueError("must be a DNS name, not an IP address")
    return name


def _host_or_ip(value: str) -> str:
    if "%" in value:
        # ipaddress accepts any text after % as an IPv6 scope id; it would reach shell and nginx.
        raise ValueError("must not carry an IPv6 scope id (%...); use a global address or a DNS name")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", value):
        raise ValueError("is neither a valid IP address nor a DNS name")
    return _hostname(value)


def _cidr(value: str) -> str:
    if "%" in value:
        raise ValueError("must not carry an IPv6 scope id (%...); write the network as address/prefix")
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"must be a CIDR block such as 10.0.0.0/16 ({exc})") from None


def _url_path(value: str) -> str:
    if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", value):
        raise ValueError("must be an absolute URL path such as /healthz")
    return value


def _python_target(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", value, flags=re.ASCII):
        raise ValueError("must look like package.module:attribute, e.g. project.wsgi:application")
    return value


def _private_ipv4_cidr(value: str) -> str:
    network = ipaddress.ip_network(value)
    if network.version != 4 or not network.is_private:
        raise ValueError("must be a private IPv4 range (RFC 1918, e.g. 10.20.0.0/16)")
    return value


def _email(value: str) -> str:
    local, _, domain = value.partition("@")
    if not re.fullmatch(r"[A-Za-z0-9._+-]{1,64}", local) or local.startswith(("-", ".")):
        raise ValueError("must be an email address such as ops@example.com (letters, digits, . _ + - before the @)")
    _hostname(domain)
    return value


_IMAGE = re.compile(
    r"(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@sha256:(?P<digest>[a-f0-9]{64}))?"
)
"""An OCI image reference: repository, optional tag, optional sha256 digest (64 lowercase hex)."""


def _image(value: str) -> str:
    if not _IMAGE.fullmatch(value):
        raise ValueError(
            "must be an image reference such as registry/repo/app:1.2.3 or registry/repo/app@sha256:<64 hex digits>"
        )
    return value


def _env_value(value: str) -> str:
    """A value that systemd's EnvironmentFile, bash and the container env all read back unchanged."""
    if "'" in value:
        raise ValueError("must not contain a single quote (values are single-quoted in the host env file)")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise ValueError("must not contain control characters (line breaks, tabs, NUL, escape) or lone surrogates")
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    return value


def _python_module(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", value, flags=re.ASCII):
        raise ValueError("must be a dotted Python module path, e.g. project.settings")
    return value


OsName = Literal["debian-12", "debian-13", "ubuntu-22.04", "ubuntu-24.04"]
"""A host operating system the host layer knows (``components/host/distros.py`` holds what each ships)."""

DEBIAN_PACKAGE_PATTERN = r"[a-z0-9][a-z0-9+.-]+"
"""Debian policy 5.6.1: lowercase letters, digits, ``+ - .``; two characters or more, starting
with a letter or digit (no ``:arch`` qualifier). Matched with ``fullmatch``."""

DEBIAN_PACKAGE_CHARS = 100
"""Longest package name accepted (Debian's longest real names are about 60 characters)."""

MANAGED_PYTHONS = tuple(f"3.{minor}" for minor in range(9, 16))
"""The CPython minors ``app.python`` may name. uv installs them from python-build-standalone, whose
Linux builds need glibc 2.17 or newer, which every supported OS has (Debian 12: 2.36, Ubuntu 22.04:
2.35). 3.9 is the floor: the release's Python check (``host/python_check.py``) runs on the app's
interpreter and needs 3.9 or newer."""

BUILD_WORD_CHARS = 512
"""Longest word of an ``app.buildCommands`` command."""


def debian_package_problem(name: str) -> str | None:
    """Why ``name`` is not a Debian package name the bootstrap may pass to apt-get, else None."""
    if len(name) > DEBIAN_PACKAGE_CHARS:
        return f"is {len(name)} characters; at most {DEBIAN_PACKAGE_CHARS}"
    if not re.fullmatch(DEBIAN_PACKAGE_PATTERN, name, flags=re.ASCII):
        return (
            "must be a Debian package name: lowercase letters, digits, '+', '-' and '.', at least two "
            "characters, starting with a letter or digit (no apt options, versions or :arch)"
        )
    return None


def _debian_package(value: str) -> str:
    problem = debian_package_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _python_choice(value: str) -> str:
    if value != "system" and value not in MANAGED_PYTHONS:
        raise ValueError(
            f"must be 'system' (the host OS's python3) or a CPython minor uv installs: {', '.join(MANAGED_PYTHONS)}"
        )
    return value


def _build_word(value: str) -> str:
    """Any text without control or invisible format characters: the word is quoted in the script."""
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in value):
        raise ValueError(
            "must not contain control or invisible characters (line breaks, tabs, NUL, escape, bidi marks)"
        )
    return value


def _build_command(value: list[str]) -> list[str]:
    """The first word is the program: a name on PATH or a path, never an option or an assignment
    (``env`` runs it, and would read ``NAME=value`` as environment and ``-x`` as its own option)."""
    if not re.fullmatch(r"[A-Za-z0-9_./][A-Za-z0-9_./+-]*", value[0], flags=re.ASCII):
        raise ValueError(
            f"the first word {value[0][:80]!r} must be a program name or path (letters, digits, . _ / + -, "
            "not starting with '-'); no shell syntax, environment assignments or options"
        )
    return value


Hostname = Annotated[str, Field(max_length=254), AfterValidator(_hostname)]
"""A fully qualified DNS name (lowercased, trailing dot dropped), not an IP address."""
HostOrIp = Annotated[str, Field(max_length=254), AfterValidator(_host_or_ip)]
"""An IPv4 or IPv6 address (no scope id) or a fully qualified DNS name."""
Cidr = Annotated[str, Field(max_length=49), AfterValidator(_cidr)]
"""A network in address/prefix form with no host bits set, e.g. 203.0.113.0/24."""
UrlPath = Annotated[str, Field(max_length=200), AfterValidator(_url_path)]
"""An absolute URL path such as /healthz (letters, digits and . _ ~ / - only)."""
PythonTarget = Annotated[str, Field(max_length=200), AfterValidator(_python_target)]
"""A Python object as package.module:attribute, e.g. project.wsgi:application."""
PythonModule = Annotated[str, Field(max_length=200), AfterValidator(_python_module)]
"""A dotted Python module path, e.g. project.settings."""
Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
"""An email address such as ops@example.com."""
Image = Annotated[str, Field(max_length=512), AfterValidator(_image)]
"""An OCI image reference (registry/repo/app:tag or @sha256:<64 hex digits>)."""
PrivateCidr = Annotated[str, Field(max_length=18), AfterValidator(_cidr), AfterValidator(_private_ipv4_cidr)]
"""A private IPv4 range (RFC 1918) in address/prefix form, e.g. 10.20.0.0/16."""
EnvName = Annotated[str, Field(max_length=128, pattern=r"^[A-Z][A-Z0-9_]*$")]
"""An environment variable name: upper-case letters, digits and underscores."""
EnvValue = Annotated[str, Field(max_length=4096), AfterValidator(_env_value)]
"""An environment value: no single quote, no control characters, no leading or trailing whitespace."""
RelativePath = Annotated[str, Field(max_length=1024, pattern=r"^[A-Za-z0-9_./~+-]+$")]
"""A local file or directory path; read where ``pulumi up`` runs, never rendered onto a host."""
OutputName = Annotated[str, Field(max_length=256, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]
"""A stack output name; a dotted path reads inside a map output."""
Slug = Annotated[str, Field(max_length=100, pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")]
"""Lower-case letters, digits and hyphens, 3 to 32 characters, starting with a letter."""
ReleaseId = Annotated[str, Field(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
"""A release identifier: letters, digits and . _ -, at most 63 characters."""
Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP port, 1 to 65535."""
DebianPackage = Annotated[str, Field(max_length=DEBIAN_PACKAGE_CHARS), AfterValidator(_debian_package)]
"""A Debian/Ubuntu package name such as libjpeg-dev (never an option such as -o...)."""
PythonChoice = Annotated[str, Field(max_length=16), AfterValidator(_python_choice)]
"""``system`` (the host OS's python3) or a CPython minor uv installs, 3.9 to 3.15."""
BuildWord = Annotated[str, Field(min_length=1, max_length=BUILD_WORD_CHARS), AfterValidator(_build_word)]
"""One word of a build command: printable text, shell-quoted when the release script is rendered."""
BuildCommand = Annotated[list[BuildWord], Field(min_length=1, max_length=32), AfterValidator(_build_command)]
"""A command as its words (argv, no shell); the first word is the program."""


class SettingsModel(BaseModel):
    """Base of every settings model: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=False,
        validate_by_alias=True,
        # Strict: a YAML `true` is not the number 1, and "10" is not 10.
        strict=True,
        # Each field's attribute docstring is its description: the settings reference
        # (settings/reference.py, `djangostack docs`) is generated from it.
        use_attribute_docstrings=True,
    )

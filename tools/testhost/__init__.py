"""A real systemd test host (debootstrap + systemd-nspawn, reached over SSH): used by the end-to-end
and engine tests, the benchmarks and the quickstart. See ``host`` for how it works."""

from .host import (
    BASE_POSTGRES_PORT,
    DEFAULT_CACHE_DIR,
    DEFAULT_SSH_PORT,
    DISTROS,
    PREINSTALLED_PACKAGES,
    TestHost,
    TestHostError,
    build_base_root,
    distro,
    main,
    require_test_host,
    run_captured,
)

__all__ = [
    "BASE_POSTGRES_PORT",
    "DEFAULT_CACHE_DIR",
    "DEFAULT_SSH_PORT",
    "DISTROS",
    "PREINSTALLED_PACKAGES",
    "TestHost",
    "TestHostError",
    "build_base_root",
    "distro",
    "main",
    "require_test_host",
    "run_captured",
]

"""A real systemd test host for end-to-end tests (verification ladder, step 4).

A Debian bookworm root is made once with ``debootstrap`` (plus the heavy packages our
host bootstrap installs anyway, pre-installed with ``chroot <root> apt-get``) and cached
under a directory keyed by a hash of the package lists and :data:`SCRIPT_VERSION`.
Each :class:`TestHost` copies that base to its own machine root, boots it with
``systemd-nspawn --boot --register=no --keep-unit`` (systemd is PID 1 inside) and is
reached over SSH on a loopback port of its own: the container shares the host's
network namespace, so every service inside must avoid the host's ports.

Stdlib only. Needs root and, on the host: ``debootstrap systemd-container openssh-client``.

Command line (see ``scripts/testhost.sh``)::

    python -m tools.testhost build|start|stop|restart|ssh|status|env
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Final

# Bump whenever the way the base root is built or customised changes: it is part of the
# cache key, so a new version never reuses an old base.
SCRIPT_VERSION: Final = "3"

SUITE: Final = "bookworm"
"""The default distribution (the full e2e suite runs on it); ``TESTHOST_SUITE`` picks another."""
DEFAULT_MIRROR: Final = "http://deb.debian.org/debian"
SECURITY_MIRROR: Final = "http://deb.debian.org/debian-security"
VARIANT: Final = "minbase"


@dataclass(frozen=True)
class Distro:
    """One distribution the test host can boot: where its packages come from, its PostgreSQL."""

    suite: str
    vendor: str
    """``debian`` or ``ubuntu``."""
    mirror: str
    security_mirror: str
    components: tuple[str, ...]
    postgres: str
    """Major version of the distribution's ``postgresql`` package (the base moves its port)."""
    script: str
    """debootstrap's script for the suite (an older debootstrap may not know a newer Ubuntu)."""
    host_os: str
    """The stack's name for this distribution (``components.host.distros``)."""


UBUNTU_MIRROR: Final = "http://archive.ubuntu.com/ubuntu"
UBUNTU_SECURITY_MIRROR: Final = "http://security.ubuntu.com/ubuntu"
_UBUNTU_SOURCES: Final = (UBUNTU_MIRROR, UBUNTU_SECURITY_MIRROR, ("main", "universe"))
DISTROS: Final[dict[str, Distro]] = {
    "bookworm": Distro("bookworm", "debian", DEFAULT_MIRROR, SECURITY_MIRROR, ("main",), "15", "bookworm", "debian-12"),
    "trixie": Distro("trixie", "debian", DEFAULT_MIRROR, SECURITY_MIRROR, ("main",), "17", "trixie", "debian-13"),
    # nginx, redis and certbot are in Ubuntu's universe component.
    "jammy": Distro("jammy", "ubuntu", *_UBUNTU_SOURCES, "14", "gutsy", "ubuntu-22.04"),
    "noble": Distro("noble", "ubuntu", *_UBUNTU_SOURCES, "16", "gutsy", "ubuntu-24.04"),
}


def distro(suite: str | None = None) -> Distro:
    """The distribution ``suite`` (default: ``TESTHOST_SUITE`` from the environment, else bookworm)."""
    name = suite or os.environ.get("TESTHOST_SUITE") or SUITE
    try:
        return DISTROS[name]
    except KeyError:
        raise TestHostError(f"unknown test host suite {name!r}; known: {', '.join(DISTROS)}") from None


# Installed by debootstrap itself (no Recommends).
BASE_PACKAGES: Final[tuple[str, ...]] = (
    "systemd",
    "systemd-sysv",
    "libpam-systemd",
    "dbus",
    "openssh-server",
    "sudo",
    "ca-certificates",
    "curl",
    "python3",
    "iproute2",
    "procps",
    "locales",
    "netbase",
    "tzdata",
)

# What our host bootstrap installs anyway: pre-installed with `chroot <root> apt-get
# install -y` (with Recommends, like a stock server) so CI does not download it per run.
PREINSTALLED_PACKAGES: Final[tuple[str, ...]] = (
    "nginx",
    "postgresql",
    "redis-server",
    "python3-venv",
    "python3-dev",
    "build-essential",
    "libpq-dev",
    "pkg-config",
    "logrotate",
    "ssl-cert",
    "openssl",
    "certbot",
    "python3-certbot-nginx",
    "unattended-upgrades",
    "git",
    "rsync",
    "acl",
    "cron",
)

# Units that are useless in a throwaway container or that would get in our way:
# - console-getty: a login prompt on the (read-only) console, only noise in the log;
# - apt-daily*: background apt runs that take the dpkg lock while our bootstrap runs apt;
# - e2scrub/fstrim: filesystem maintenance of the host's disks, meaningless here;
# - exim4 (pulled in by cron's Recommends: default-mta): it would listen on the host's
#   127.0.0.1:25, since the container shares the host's network.
MASKED_UNITS: Final[tuple[str, ...]] = (
    "console-getty.service",
    "exim4.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
)

# Postgres: the Debian package creates cluster 15/main on 5432, which the host may use
# (it does on our CI machines). The container shares the host's network, so the cluster
# would either fail at boot or, worse, take 5432 from the host's own Postgres. The base
# therefore moves the cluster to this neutral port; our bootstrap sets the real port
# (5433) itself, so it still has to do its job. Redis and Nginx keep their defaults.
BASE_POSTGRES_PORT: Final = 15432

LOCALE: Final = "en_US.UTF-8"
DEFAULT_SSH_PORT: Final = 2222
DEFAULT_USER: Final = "deploy"
LOOPBACK: Final = "127.0.0.1"

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR: Final = REPO_ROOT / ".cache" / "testhost"
PORT_LOCK_DIR: Final = Path(os.environ.get("TESTHOST_LOCK_DIR", "/run/testhost"))

_ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[@-Z\\-_])")
# systemd's "[ ***  ] Job foo.service/start running (1min 2s / no limit)" spinner.
_SPINNER = re.compile(r"^\[[ *]{6}\] .*(job|Job) .* running")
_CHROOT_ENV: Final = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND": "noninteractive",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/root",
}


class TestHostError(RuntimeError):
    """Anything that went wrong building, booting or reaching a test host."""


# --------------------------------------------------------------------------- helpers


def _log(msg: str) -> None:
    print(f"[testhost] {msg}", file=sys.stderr, flush=True)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    kept: list[str] = []
    for line in _ANSI.sub("", text).replace("\r", "").splitlines():
        line = line.rstrip()
        if not line:
            continue
        if kept and _SPINNER.match(line) and _SPINNER.match(kept[-1]):
            kept[-1] = line  # a spinner redraws the same line: keep the latest only
        else:
            kept.append(line)
    return "\n".join(kept[-lines:])


def _run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    log: IO[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> None:
    """Run a command, its output appended to ``log``; raise with the output on failure."""
    argv = [os.fspath(c) for c in cmd]
    if log is not None:
        log.write(f"\n$ {shlex.join(argv)}\n")
        log.flush()
    proc = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log if log is not None else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        where = f"see {log.name}" if log is not None else (proc.stdout or "")[-4000:]
        raise TestHostError(f"command failed ({proc.returncode}): {shlex.join(argv)}\n{where}")


def _require_root() -> None:
    if os.geteuid() != 0:
        raise TestHostError("the test host needs root (debootstrap, chroot, systemd-nspawn)")


def _require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise TestHostError(
            f"missing host tools: {', '.join(missing)}; "
            "install with: apt-get install -y debootstrap systemd-container openssh-client"
        )


def _mounts_under(root: Path) -> list[str]:
    prefix = os.fspath(root.resolve())
    found: list[str] = []
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        for line in fh:
            target = line.split()[1].replace("\\040", " ")
            if target == prefix or target.startswith(prefix + "/"):
                found.append(target)
    return found


def _umount_all(root: Path) -> None:
    for target in sorted(_mounts_under(root), key=len, reverse=True):
        if subprocess.run(["umount", target], check=False).returncode != 0:
            subprocess.run(["umount", "-l", target], check=False)


def _rmtree(path: Path) -> None:
    """Remove a (machine or base) root, refusing if anything is still mounted inside."""
    if not path.exists():
        return
    _umount_all(path)
    if _mounts_under(path):
        raise TestHostError(f"refusing to delete {path}: still mounted: {_mounts_under(path)}")
    subprocess.run(["rm", "-rf", "--one-file-system", os.fspath(path)], check=True)


CAP_AUDIT_CONTROL: Final = 30


def _host_has_cap(cap: int) -> bool:
    """Is ``cap`` in this process's capability bounding set (nspawn can only pass those on)?"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return bool(int(line.split()[1], 16) >> cap & 1)
    return False


def dir_size_bytes(path: Path) -> int:
    """Disk usage of a tree (``du -sb``, hard links counted once)."""
    out = subprocess.run(["du", "-sb", os.fspath(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


# ----------------------------------------------------------------------- base root


def base_cache_key(suite: str | None = None) -> str:
    """Hash of everything that determines the base root's contents (one base per suite)."""
    spec = {
        "script_version": SCRIPT_VERSION,
        "suite": distro(suite).suite,
        "variant": VARIANT,
        "base": sorted(BASE_PACKAGES),
        "preinstalled": sorted(PREINSTALLED_PACKAGES),
        "masked": sorted(MASKED_UNITS),
        "postgres_port": BASE_POSTGRES_PORT,
        "locale": LOCALE,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _chroot_mounts(root: Path) -> Iterator[None]:
    """/proc, /sys and /dev/pts inside ``root`` for package scripts; always unmounted."""
    mounts = [
        (["mount", "-t", "proc", "proc"], root / "proc"),
        (["mount", "-t", "sysfs", "sysfs"], root / "sys"),
        (["mount", "-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts"], root / "dev/pts"),
    ]
    try:
        for cmd, target in mounts:
            target.mkdir(parents=True, exist_ok=True)
            _run([*cmd, target])
        yield
    finally:
        _umount_all(root)


def _chroot(root: Path, *cmd: str, log: IO[str], timeout: float | None = None) -> None:
    _run(["chroot", root, *cmd], log=log, env=dict(_CHROOT_ENV), timeout=timeout)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def _customise_base(root: Path, mirror: str, log: IO[str], dist: Distro) -> None:
    parts = " ".join(dist.components)
    suite = dist.suite
    _write(
        root / "etc/apt/sources.list",
        f"deb {mirror} {suite} {parts}\ndeb {mirror} {suite}-updates {parts}\n"
        f"deb {dist.security_mirror} {suite}-security {parts}\n",
    )
    # Ubuntu's minbase ships a deb822 ubuntu.sources on newer releases: one list only.
    (root / "etc/apt/sources.list.d/ubuntu.sources").unlink(missing_ok=True)
    # No service may start inside the chroot (it would run on the host's network).
    policy = root / "usr/sbin/policy-rc.d"
    _write(policy, "#!/bin/sh\nexit 101\n", 0o755)
    # A plain file, never through a link: Ubuntu 22.04's systemd points /etc/resolv.conf at
    # systemd-resolved's stub under /run, a tmpfs once the machine boots, where nothing then
    # resolves (nspawn's --resolv-conf=copy-host copies the host's file over a plain one).
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink():
        resolv.unlink()
    shutil.copyfile("/etc/resolv.conf", resolv)
    try:
        with _chroot_mounts(root):
            _chroot(root, "apt-get", "update", log=log, timeout=600)
            # bookworm-updates / -security on top of what debootstrap fetched, like a patched server.
            _chroot(root, "apt-get", "dist-upgrade", "-y", log=log, timeout=1800)
            _chroot(
                root,
                "apt-get",
                "install",
                "-y",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
                *PREINSTALLED_PACKAGES,
                log=log,
                timeout=3600,
            )
            _chroot(root, "apt-get", "clean", log=log)
            # A UTF-8 locale besides the built-in C.UTF-8 (locales-all would add ~230 MB).
            _write(root / "etc/locale.gen", f"{LOCALE} UTF-8\n")
            _chroot(root, "locale-gen", log=log)
            _write(root / "etc/default/locale", f"LANG={LOCALE}\n")
            _chroot(
                root,
                "pg_conftool",
                dist.postgres,
                "main",
                "set",
                "port",
                str(BASE_POSTGRES_PORT),
                log=log,
            )
    finally:
        policy.unlink(missing_ok=True)
    if resolv.is_symlink():  # a package's postinst may have linked it again
        resolv.unlink()
        shutil.copyfile("/etc/resolv.conf", resolv)

    _run(["systemctl", f"--root={root}", "mask", *MASKED_UNITS], log=log)
    # Per-machine identity is written by TestHost.prepare(): no shared host keys or ids.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    _write(root / "etc/machine-id", "")
    with contextlib.suppress(FileNotFoundError):
        (root / "var/lib/dbus/machine-id").unlink()
    _write(root / "etc/hostname", "testhost\n")
    tz = root / "etc/localtime"
    tz.unlink(missing_ok=True)
    tz.symlink_to("/usr/share/zoneinfo/Etc/UTC")
    _write(root / "etc/timezone", "Etc/UTC\n")


def build_base_root(
    cache_dir: Path | str = DEFAULT_CACHE_DIR, *, mirror: str | None = None, suite: str | None = None
) -> Path:
    """Return the cached base root of the test host for ``suite`` (default: ``TESTHOST_SUITE``, else
    bookworm), building it first if needed (a warm call is instant). ``<key>`` hashes the suite, the
    package lists, masked units and :data:`SCRIPT_VERSION`."""
    dist = distro(suite)
    return build_cached_root(
        cache_dir,
        key=base_cache_key(dist.suite),
        suite=dist.suite,
        include=BASE_PACKAGES,
        customise=lambda root, mirror_url, log: _customise_base(root, mirror_url, log, dist),
        mirror=mirror,
        required_tools=("debootstrap", "chroot", "systemctl"),
    )


def build_cached_root(
    cache_dir: Path | str,
    *,
    key: str,
    suite: str,
    include: Sequence[str],
    customise: Callable[[Path, str, IO[str]], None],
    mirror: str | None = None,
    required_tools: Sequence[str] = ("debootstrap", "chroot"),
) -> Path:
    """Return ``<cache_dir>/base-<key>/root``: a ``debootstrap --variant=minbase`` root of ``suite``
    with ``include``, then ``customise(root, mirror, log)``; built once per key (the caller's key
    hashes everything that determines the contents). Shared by the test host and the container
    base image (tests/containers).

    A build goes to a temporary directory and is renamed into place only when complete, under a
    lock, so parallel callers and interrupted builds never see half a root. Bases of other keys in
    ``cache_dir`` are removed once the new one is in place.
    """
    dist = distro(suite)
    cache_dir = Path(cache_dir).resolve()
    base = cache_dir / f"base-{key}"
    root = base / "root"
    done = base / "base.json"
    if done.is_file():
        return root

    _require_root()
    _require_tools(*required_tools)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f"base-{key}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.is_file():  # somebody else built it while we waited
            return root
        if mirror is None:
            mirror = os.environ.get("TESTHOST_MIRROR", DEFAULT_MIRROR) if dist.vendor == "debian" else dist.mirror
        tmp = cache_dir / f"base-{key}.tmp"
        _rmtree(tmp)
        tmp.mkdir(parents=True)
        log_path = cache_dir / f"base-{key}.build.log"
        _log(f"building base root {base} (log: {log_path})")
        started = time.monotonic()
        with open(log_path, "w", encoding="utf-8") as log:
            try:
                _run(
                    [
                        "debootstrap",
                        f"--variant={VARIANT}",
                        f"--include={','.join(include)}",
                        *(["--no-check-gpg"] if dist.vendor == "ubuntu" and not _has_ubuntu_keyring() else []),
                        dist.suite,
                        tmp / "root",
                        mirror,
                        f"/usr/share/debootstrap/scripts/{dist.script}",
                    ],
                    log=log,
                    timeout=3600,
                )
                t_debootstrap = time.monotonic() - started
                customise(tmp / "root", mirror, log)
            except (TestHostError, subprocess.TimeoutExpired) as exc:
                _umount_all(tmp)
                raise TestHostError(f"{exc}\n--- tail of {log_path} ---\n{_tail(log_path)}") from exc
        elapsed = time.monotonic() - started
        size = dir_size_bytes(tmp / "root")
        meta = {
            "key": key,
            "suite": dist.suite,
            "mirror": mirror,
            "debootstrap_seconds": round(t_debootstrap, 1),
            "build_seconds": round(elapsed, 1),
            "size_bytes": size,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        _write(tmp / "base.json", json.dumps(meta, indent=2) + "\n")
        _rmtree(base)
        tmp.rename(base)
        _prune_old_bases(cache_dir, keep=key, suite=dist.suite)
        _log(f"base root ready in {elapsed:.0f}s (debootstrap {t_debootstrap:.0f}s), {size / 1e6:.0f} MB")
    return root


def _has_ubuntu_keyring() -> bool:
    return Path("/usr/share/keyrings/ubuntu-archive-keyring.gpg").is_file()


def _base_suite(base: Path) -> str | None:
    """The suite recorded in a finished base (None while it is being built)."""
    try:
        return str(json.loads((base / "base.json").read_text(encoding="utf-8"))["suite"])
    except (OSError, ValueError, KeyError):
        return None


def _prune_old_bases(cache_dir: Path, keep: str, suite: str = SUITE) -> None:
    """Delete bases of other keys of the same suite (older script versions / package lists):
    ~1.2 GB each. Bases of other suites stay (each distro keeps its own cached base)."""
    for old in cache_dir.glob("base-*"):
        if not old.is_dir() or old.name in (f"base-{keep}", f"base-{keep}.tmp"):
            continue
        if _base_suite(old) not in (suite, None):
            continue
        with open(cache_dir / f"{old.name.removesuffix('.tmp')}.lock", "a", encoding="utf-8") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being built right now
            _log(f"removing old base {old}")
            _rmtree(old)
        for leftover in (cache_dir / f"{old.name}.lock", cache_dir / f"{old.name}.build.log"):
            leftover.unlink(missing_ok=True)


# ------------------------------------------------------------------------ cgroups


def _cgroup_dirs(name: str) -> list[Path]:
    """A cgroup of its own for one machine, in the unified and the name=systemd hierarchies.

    Outside systemd, ``nspawn --keep-unit`` puts the container in ``<own cgroup>/payload``.
    Two containers started from the same cgroup (here: the root) would share that
    directory, and each inner systemd would see the other's processes in "its" service
    cgroups: a service failing in one container then waits forever for a cgroup the other
    keeps non-empty (seen: postgresql@15-main hanging in "activating"). So each nspawn
    is started in a child cgroup of its own, named after the machine.
    """
    mounts: dict[str, Path] = {}
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fstype, _source, opts = [*right.split(), "", "", ""][:3]
            target = Path(left.split()[4])
            if fstype == "cgroup2":
                mounts.setdefault("", target)
            elif fstype == "cgroup" and "name=systemd" in opts.split(","):
                mounts.setdefault("name=systemd", target)
    dirs = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers in mounts:
            dirs.append(
                mounts[controllers] / path.lstrip("/") / (name if name.startswith("testhost") else f"testhost-{name}")
            )
    return dirs


def _rm_cgroup(path: Path) -> None:
    """rmdir a cgroup tree bottom-up; cgroups still holding processes are left alone."""
    if not path.is_dir():
        return
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()


# ------------------------------------------------------------------- process lookup


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _ppid(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _nspawn_root(pid: int) -> Path | None:
    """The ``-D`` directory of a running systemd-nspawn, or None if ``pid`` is not one."""
    argv = _cmdline(pid)
    if not argv or Path(argv[0]).name != "systemd-nspawn":
        return None
    for i, arg in enumerate(argv):
        if arg in ("-D", "--directory") and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--directory="):
            return Path(arg.split("=", 1)[1])
    return None


def _nspawns_on(root: Path) -> list[int]:
    want = root.resolve()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            got = _nspawn_root(int(entry.name))
            if got is not None and got.resolve() == want:
                pids.append(int(entry.name))
    return pids


def _listener_pids(port: int, host: str = LOOPBACK) -> list[int]:
    """Pids holding a TCP socket listening on host:port (via /proc/net/tcp)."""
    want = f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    any_addr = f"00000000:{port:04X}"
    inodes: set[str] = set()
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        parts = line.split()
        if len(parts) > 9 and parts[3] == "0A" and parts[1] in (want, any_addr):
            inodes.add(f"socket:[{parts[9]}]")
    pids: list[int] = []
    if not inodes:
        return pids
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        pids.append(int(entry.name))
                        break
    return pids


def _nspawn_ancestor(pid: int) -> int | None:
    seen = 0
    while pid > 1 and seen < 64:
        if _nspawn_root(pid) is not None:
            return pid
        pid = _ppid(pid)
        seen += 1
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    # A zombie child of ours counts as gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _is_ns_init(pid: int) -> bool:
    """Is ``pid`` PID 1 of a child PID namespace (a container's init, seen from the host)?"""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                ids = line.split()[1:]
                return len(ids) > 1 and ids[-1] == "1"
    except OSError:
        pass
    return False


def _ns_init_ancestor(pid: int) -> int | None:
    seen = 0
    while pid > 1 and seen < 64:
        if _is_ns_init(pid):
            return pid
        pid = _ppid(pid)
        seen += 1
    return None


def _container_inits_on(root: Path) -> list[int]:
    """Container inits whose root directory is ``root`` (same device and inode)."""
    try:
        want = os.stat(root)
    except OSError:
        return []
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_ns_init(int(entry.name)):
            with contextlib.suppress(OSError):
                got = os.stat(entry / "root")
                if (got.st_dev, got.st_ino) == (want.st_dev, want.st_ino):
                    pids.append(int(entry.name))
    return pids


def _wait_gone(pid: int, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return not _alive(pid)


def _kill_container_init(pid: int) -> None:
    """SIGKILL to a PID namespace's init kills everything in that container."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, 10):
        raise TestHostError(f"container init pid {pid} survived SIGKILL")


def _kill_nspawn(pid: int, grace: float = 20.0) -> None:
    """SIGTERM (nspawn asks the container to halt), again (immediate), then SIGKILL.

    SIGKILL to nspawn alone would orphan the container (it keeps running, reparented to
    the host's PID 1, still holding its ports), so the container's init is killed first.
    """
    inits = [p for p in _children(pid) if _is_ns_init(p)]
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGTERM, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if _wait_gone(pid, wait):
            return
    for init in inits:
        _kill_container_init(init)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, 5):
        raise TestHostError(f"systemd-nspawn pid {pid} survived SIGKILL")


def _children(pid: int) -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and _ppid(int(e.name)) == pid]


# ------------------------------------------------------------------------ the host


def require_test_host() -> None:
    """Skip the calling test when this machine cannot run a test host, or fail it when
    ``TESTHOST_REQUIRED=1`` (CI: a missing tool must not turn into a silent skip)."""
    import pytest

    reason = None
    if os.geteuid() != 0:
        reason = "needs root (debootstrap, chroot, systemd-nspawn)"
    else:
        missing = [t for t in ("debootstrap", "systemd-nspawn", "ssh", "ssh-keygen") if shutil.which(t) is None]
        if missing:
            reason = f"missing host tools {missing}: apt-get install -y debootstrap systemd-container openssh-client"
    if reason is None:
        return
    if os.environ.get("TESTHOST_REQUIRED") == "1":
        pytest.fail(f"test host unavailable: {reason}")
    pytest.skip(f"test host unavailable: {reason}")


def run_captured(
    argv: Sequence[str],
    *,
    input: str | None = None,
    timeout: float | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to its end with its output captured as text; it reads ``input``, or nothing
    (never the caller's terminal). A non-zero exit is the caller's to judge."""
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class TestHost:
    """One booted systemd container reached over SSH on 127.0.0.1:<ssh_port>.

    Layout of ``work_dir``: ``root/`` (the machine root, persists across restart),
    ``id_ed25519`` (+ ``.pub``), ``known_hosts``, ``console.log``, ``nspawn.pid``,
    ``testhost.json`` and ``lock`` (held while this object owns a running container).
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        work_dir: Path | str,
        ssh_port: int = DEFAULT_SSH_PORT,
        *,
        name: str | None = None,
        base_root: Path | None = None,
        user: str = DEFAULT_USER,
    ) -> None:
        self.work_dir = Path(work_dir).resolve()
        self.port = ssh_port
        self.host = LOOPBACK
        self.user = user
        self.name = name or f"testhost-{ssh_port}"
        self.base_root = base_root
        self.root = self.work_dir / "root"
        self.private_key_path = self.work_dir / "id_ed25519"
        self.public_key_path = self.work_dir / "id_ed25519.pub"
        self.known_hosts_path = self.work_dir / "known_hosts"
        self.console_log_path = self.work_dir / "console.log"
        self.pid_path = self.work_dir / "nspawn.pid"
        self.state_path = self.work_dir / "testhost.json"
        self.system_state: str | None = None
        self.failed_units: list[str] = []
        self.last_boot_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None
        self._port_lock: IO[str] | None = None

    # ------------------------------------------------------------------ connection

    @property
    def private_key_pem(self) -> str:
        """The private key text (OpenSSH PEM armour), e.g. for pulumi-command connections."""
        return self.private_key_path.read_text(encoding="utf-8")

    @property
    def connection(self) -> dict[str, str | int]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "private_key_path": os.fspath(self.private_key_path),
        }

    def ssh_options(self) -> list[str]:
        return [
            "-F", "/dev/null",
            "-i", os.fspath(self.private_key_path),
            "-p", str(self.port),
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts_path}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=5",
            "-o", "ServerAliveInterval=10",
            "-o", "LogLevel=ERROR",
        ]  # fmt: skip

    def ssh_args(self) -> list[str]:
        """``ssh ... user@host``; append a remote command to run one."""
        return ["ssh", *self.ssh_options(), f"{self.user}@{self.host}"]

    def ssh(
        self,
        cmd: str | Sequence[str],
        *,
        check: bool = True,
        input: str | None = None,
        timeout: float | None = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` (a shell string, or argv that is quoted for the remote shell)."""
        remote = cmd if isinstance(cmd, str) else shlex.join(cmd)
        proc = run_captured([*self.ssh_args(), remote], input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise TestHostError(
                f"ssh {self.user}@{self.host}:{self.port} {remote!r} exited {proc.returncode}\n"
                f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
            )
        return proc

    # --------------------------------------------------------------------- prepare

    def prepare(self, base_root: Path | None = None) -> None:
        """Fresh machine root from the base: user, keys, sshd on 127.0.0.1:<port>, hostname."""
        _require_root()
        _require_tools("systemd-nspawn", "chroot")
        if shutil.which("ssh-keygen") is None or shutil.which("ssh") is None:
            _log("openssh-client missing on the host; installing it")
            _run(["apt-get", "install", "-y", "openssh-client"])
        base = base_root or self.base_root or build_base_root()
        self.base_root = base
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._kill_stale()
        started = time.monotonic()
        _rmtree(self.root)
        _run(["cp", "-a", "--reflink=auto", base, self.root])
        _log(f"copied base to {self.root} in {time.monotonic() - started:.1f}s")

        root = self.root
        _write(root / "etc/hostname", f"{self.name}\n")
        _write(
            root / "etc/hosts",
            f"127.0.0.1\tlocalhost\n127.0.1.1\t{self.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        )
        _write(root / "etc/machine-id", uuid.uuid4().hex + "\n", 0o444)

        # Host key, generated here so known_hosts pins it (no blind accept).
        hostkey = root / "etc/ssh/ssh_host_ed25519_key"
        for f in (root / "etc/ssh").glob("ssh_host_*"):
            f.unlink()
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{self.name}", "-f", hostkey])
        host_pub = (root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        _write(self.known_hosts_path, f"[{self.host}]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        _write(
            root / "etc/ssh/sshd_config.d/00-testhost.conf",
            "# Written by tools/testhost/: the container shares the host's network.\n"
            f"Port {self.port}\n"
            f"ListenAddress {self.host}\n"
            "HostKey /etc/ssh/ssh_host_ed25519_key\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PermitRootLogin no\n"
            "UseDNS no\n",
        )
        # pam_loginuid needs CAP_AUDIT_CONTROL; where our (sandboxed) host lacks it the
        # container cannot get it either, and "session required" would refuse every login.
        for pam in ("sshd", "login") if not _host_has_cap(CAP_AUDIT_CONTROL) else ():
            pam_file = root / "etc/pam.d" / pam
            if pam_file.exists():
                text = pam_file.read_text()
                pam_file.write_text(
                    re.sub(
                        r"^session\s+required\s+pam_loginuid\.so",
                        "session optional pam_loginuid.so",
                        text,
                        flags=re.M,
                    )
                )

        # The deploy user, key-only, passwordless sudo.
        for f in (self.private_key_path, self.public_key_path):
            f.unlink(missing_ok=True)
        _run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"{self.user}@testhost",
                "-f",
                self.private_key_path,
            ]
        )
        with open(os.devnull, "w", encoding="utf-8") as devnull:
            _chroot(
                root,
                "useradd",
                "--create-home",
                "--shell",
                "/bin/bash",
                "--groups",
                "sudo",
                self.user,
                log=devnull,
            )
            _chroot(root, "usermod", "--password", "*", self.user, log=devnull)
        home = root / "home" / self.user
        ssh_dir = home / ".ssh"
        _write(ssh_dir / "authorized_keys", self.public_key_path.read_text(), 0o600)
        ssh_dir.chmod(0o700)
        uid, gid = self._ids(self.user)
        for p in (ssh_dir, ssh_dir / "authorized_keys"):
            os.chown(p, uid, gid)
        _write(root / "etc/sudoers.d/90-testhost", f"{self.user} ALL=(ALL) NOPASSWD:ALL\n", 0o440)
        self._trust_host_cas(root)
        self._save_state()

    @staticmethod
    def _trust_host_cas(root: Path) -> None:
        """Trust the certificate authorities this machine added locally (a TLS-intercepting egress
        proxy, for one): the container reaches package registries through the same network, so
        pip inside it must accept what pip on the host accepts."""
        extra = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
        if not extra:
            return
        target = root / "usr/local/share/ca-certificates"
        target.mkdir(parents=True, exist_ok=True)
        for cert in extra:
            shutil.copy2(cert, target / cert.name)
        with open(os.devnull, "w", encoding="utf-8") as devnull:
            _chroot(root, "update-ca-certificates", log=devnull)

    def _ids(self, user: str) -> tuple[int, int]:
        for line in (self.root / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == user:
                return int(fields[2]), int(fields[3])
        raise TestHostError(f"user {user} not found in {self.root}/etc/passwd")

    def _save_state(self) -> None:
        _write(
            self.state_path,
            json.dumps(
                {"port": self.port, "name": self.name, "user": self.user, "root": os.fspath(self.root)},
                indent=2,
            )
            + "\n",
        )

    # ----------------------------------------------------------- stale containers

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running_pid(self) -> int | None:
        """The nspawn pid of this machine if it is running (whoever started it)."""
        pid = self._read_pid()
        if pid is not None and _alive(pid) and _nspawn_root(pid) is not None:
            return pid
        found = _nspawns_on(self.root)
        return found[0] if found else None

    def _take_lock(self) -> None:
        if self._lock is not None:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.work_dir / "lock", "w", encoding="utf-8")  # noqa: SIM115 - held open
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise TestHostError(f"{self.work_dir} is in use by another live TestHost (lock held)") from None
        self._lock = fh
        # One live owner per ssh port across work dirs: a second run on the same port fails
        # fast instead of racing for it while the first one is still copying its root.
        PORT_LOCK_DIR.mkdir(parents=True, exist_ok=True)
        pfh = open(PORT_LOCK_DIR / f"port-{self.port}.lock", "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(pfh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pfh.seek(0)
            owner = pfh.read().strip()
            pfh.close()
            self._release_lock()
            raise TestHostError(
                f"ssh port {self.port} is reserved by a live test host ({owner}); pick another port"
            ) from None
        pfh.seek(0)
        pfh.truncate()
        pfh.write(f"{self.work_dir} pid {os.getpid()}\n")
        pfh.flush()
        self._port_lock = pfh

    def _release_lock(self) -> None:
        for fh in (self._port_lock, self._lock):
            if fh is not None:
                fh.close()
        self._lock = self._port_lock = None

    def detach(self) -> None:
        """Leave the container running after this process exits (the CLI's ``start``).

        A detached host is not stale: other work dirs refuse to kill it for its port.
        This work dir (``start``/``stop``/``prepare`` again) still reclaims it.
        """
        _write(self.work_dir / "detached", f"{self.running_pid()}\n")
        self._proc = None
        self._release_lock()

    def _kill_stale(self) -> None:
        """Kill containers left by a crashed run: on our root, or holding our ssh port.

        A container whose work dir lock is still held belongs to a live run and is never
        touched: that is an error instead.
        """
        self._take_lock()
        for pid in {p for p in (self._read_pid(),) if p} | set(_nspawns_on(self.root)):
            if _alive(pid) and _nspawn_root(pid) is not None and (self._proc is None or pid != self._proc.pid):
                _log(f"killing stale systemd-nspawn pid {pid} on {self.root}")
                _kill_nspawn(pid, grace=10)
        self.pid_path.unlink(missing_ok=True)
        (self.work_dir / "detached").unlink(missing_ok=True)
        for init in _container_inits_on(self.root):
            _log(f"killing orphaned container (init pid {init}) on {self.root}")
            _kill_container_init(init)
        for pid in _listener_pids(self.port):
            if not _alive(pid):  # went down with a container killed for an earlier pid
                continue
            nspawn = _nspawn_ancestor(pid)
            orphan = _ns_init_ancestor(pid) if nspawn is None else None
            if orphan is not None:
                _log(f"killing orphaned container (init pid {orphan}) holding port {self.port}")
                _kill_container_init(orphan)
                continue
            if nspawn is None:
                raise TestHostError(
                    f"port {self.host}:{self.port} is in use by pid {pid} ({' '.join(_cmdline(pid))!r}), "
                    "not by a test host; pick another ssh_port"
                )
            other = _nspawn_root(nspawn)
            other_dir = other.parent if other else None
            if other_dir is not None and other_dir != self.work_dir and (other_dir / "detached").exists():
                raise TestHostError(
                    f"port {self.port} is used by a test host started with scripts/testhost.sh in {other_dir} "
                    f"(nspawn pid {nspawn}); stop it (scripts/testhost.sh --work-dir {other_dir} stop) "
                    "or pick another ssh_port"
                )
            if other_dir is not None and self._lock_is_held(other_dir):
                raise TestHostError(
                    f"port {self.port} is used by a live test host in {other_dir} (nspawn pid {nspawn}); "
                    "pick another ssh_port"
                )
            _log(f"killing stale systemd-nspawn pid {nspawn} ({other}) holding port {self.port}")
            _kill_nspawn(nspawn, grace=10)
        deadline = time.monotonic() + 10
        while _listener_pids(self.port) and time.monotonic() < deadline:
            time.sleep(0.2)

    @staticmethod
    def _lock_is_held(work_dir: Path) -> bool:
        try:
            fh = open(work_dir / "lock", encoding="utf-8")  # noqa: SIM115
        except OSError:
            return False
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False

    # ------------------------------------------------------------------ lifecycle

    def nspawn_command(self) -> list[str]:
        return [
            "systemd-nspawn",
            "--boot",
            "--register=no",
            "--keep-unit",
            "-D", os.fspath(self.root),
            f"--machine={self.name}",
            # stdin is not a tty (CI): a read-only console still gives the boot log on stdout.
            "--console=read-only",
            "--resolv-conf=copy-host",
            "--timezone=off",
            "--link-journal=no",
        ]  # fmt: skip

    def start(self, timeout: float = 180) -> None:
        """Boot the container; return once SSH works and systemd has finished booting."""
        _require_root()
        if not (self.root / "etc/ssh/sshd_config.d/00-testhost.conf").is_file():
            raise TestHostError(f"{self.root} is not prepared; call prepare() first")
        self._kill_stale()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYSTEMD_NSPAWN_")}
        env["TERM"] = "dumb"  # no colour codes in the console log
        env.setdefault("SYSTEMD_LOG_COLOR", "0")
        started = time.monotonic()
        cgroups = []
        for cg in _cgroup_dirs(self.name):
            _rm_cgroup(cg)  # leftovers of a killed run
            try:
                cg.mkdir(parents=True, exist_ok=True)
                cgroups.append(cg / "cgroup.procs")
            except OSError as exc:
                _log(f"cannot create cgroup {cg} ({exc}); sharing the parent cgroup")

        def enter_cgroups() -> None:  # in the child, before exec
            for procs in cgroups:
                with contextlib.suppress(OSError), open(procs, "w", encoding="ascii") as fh:
                    fh.write(str(os.getpid()))

        with open(self.console_log_path, "wb") as console:
            self._proc = subprocess.Popen(
                self.nspawn_command(),
                preexec_fn=enter_cgroups,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # survives the CLI; Ctrl-C in pytest does not hit it
            )
        _write(self.pid_path, f"{self._proc.pid}\n")
        try:
            self._wait_for_ssh(started + timeout)
            self._wait_for_boot(max(30.0, started + timeout - time.monotonic()))
        except BaseException:
            self._emergency_stop()
            raise
        self.last_boot_seconds = time.monotonic() - started
        _log(f"{self.name} up in {self.last_boot_seconds:.1f}s: system {self.system_state}")

    def _fail(self, msg: str) -> TestHostError:
        return TestHostError(f"{msg}\n--- tail of {self.console_log_path} ---\n{_tail(self.console_log_path)}")

    def _wait_for_ssh(self, deadline: float) -> None:
        last = ""
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise self._fail(f"systemd-nspawn exited with {self._proc.returncode} before sshd came up")
            try:
                with socket.create_connection((self.host, self.port), timeout=2):
                    pass
            except OSError as exc:
                last = f"connect: {exc}"
                time.sleep(0.3)
                continue
            proc = self.ssh("true", check=False, timeout=20)
            if proc.returncode == 0:
                return
            last = f"ssh: {proc.stderr.strip()}"
            time.sleep(0.5)
        raise self._fail(f"sshd on {self.host}:{self.port} not reachable in time (last error: {last})")

    def _wait_for_boot(self, timeout: float) -> None:
        try:
            proc = self.ssh("systemctl is-system-running --wait", check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise self._fail(f"systemd did not finish booting within {timeout:.0f}s") from None
        state = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "unknown"
        self.system_state = state
        self.failed_units = []
        if state == "degraded":
            self.failed_units = self.ssh("systemctl --failed --no-legend --plain", check=False).stdout.splitlines()
            _log(f"{self.name} is degraded; failed units:\n  " + "\n  ".join(self.failed_units))
        elif state != "running":
            raise self._fail(f"systemctl is-system-running says {state!r}: {proc.stderr.strip()}")

    def _emergency_stop(self) -> None:
        pid = self._proc.pid if self._proc is not None else self._read_pid()
        if pid is not None and _alive(pid):
            _kill_nspawn(pid, grace=10)
        self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
            self._proc = None
        self.pid_path.unlink(missing_ok=True)
        (self.work_dir / "detached").unlink(missing_ok=True)
        for cg in _cgroup_dirs(self.name):
            _rm_cgroup(cg)

    def stop(self, timeout: float = 90) -> None:
        """``systemctl poweroff`` over SSH, wait for nspawn to exit; signals as fallback."""
        pid = self._proc.pid if self._proc is not None else self.running_pid()
        if pid is None or not _alive(pid):
            for init in _container_inits_on(self.root):
                _log(f"killing orphaned container (init pid {init}) on {self.root}")
                _kill_container_init(init)
            self._reap()
            self._release_lock()
            return
        with contextlib.suppress(subprocess.TimeoutExpired, TestHostError):
            # The connection may drop as sshd stops: the exit status means nothing here.
            self.ssh("sudo systemctl poweroff", check=False, timeout=15)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            if self._proc is not None:
                self._proc.poll()
            time.sleep(0.3)
        if _alive(pid):
            _log(f"{self.name} did not power off within {timeout:.0f}s; signalling nspawn {pid}")
            _kill_nspawn(pid)
        self._reap()
        (self.work_dir / "detached").unlink(missing_ok=True)
        self._release_lock()
        self.system_state = None

    def restart(self, timeout: float = 180) -> None:
        """Power off and boot again on the same root (proves services come back)."""
        self.stop()
        self.start(timeout=timeout)

    def is_running(self) -> bool:
        return self.running_pid() is not None

    @contextlib.contextmanager
    def booted(self) -> Iterator[TestHost]:
        """Prepared (always: keys and configuration brought up to date) and started; stopped on exit."""
        self.prepare()
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def __enter__(self) -> TestHost:
        if not (self.root / "etc/ssh/sshd_config.d/00-testhost.conf").is_file():
            self.prepare()
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# ------------------------------------------------------------------------------ CLI


def _host_from_args(args: argparse.Namespace) -> TestHost:
    work_dir = Path(args.work_dir)
    port, name = args.port, None
    state = work_dir / "testhost.json"
    if state.is_file():
        saved = json.loads(state.read_text())
        port = port or saved.get("port")
        name = saved.get("name")
    return TestHost(work_dir, port or DEFAULT_SSH_PORT, name=name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="testhost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", default=os.environ.get("TESTHOST_CACHE", os.fspath(DEFAULT_CACHE_DIR)))
    parser.add_argument(
        "--work-dir",
        default=os.environ.get("TESTHOST_WORK_DIR", os.fspath(DEFAULT_CACHE_DIR / "machines" / "cli")),
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("TESTHOST_SSH_PORT", "0")) or None)
    parser.add_argument("--suite", choices=sorted(DISTROS), help="distribution (default: TESTHOST_SUITE or bookworm)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or find) the cached base root and print its path")
    p_start = sub.add_parser("start", help="prepare if needed and boot; leaves it running")
    p_start.add_argument("--fresh", action="store_true", help="recreate the machine root from the base")
    sub.add_parser("stop", help="power the container off")
    sub.add_parser("restart", help="power off and boot again on the same root")
    p_ssh = sub.add_parser("ssh", help="ssh in as the deploy user (interactive without a command)")
    p_ssh.add_argument("cmd", nargs=argparse.REMAINDER)
    sub.add_parser("status", help="running? system state, failed units, connection details")
    sub.add_parser("env", help="print connection details as shell variables")
    args = parser.parse_args(argv)

    try:
        if args.command == "build":
            started = time.monotonic()
            root = build_base_root(Path(args.cache_dir), suite=args.suite)
            meta = json.loads((root.parent / "base.json").read_text())
            print(root)
            _log(f"base ready ({time.monotonic() - started:.1f}s this call): {json.dumps(meta)}")
            return 0
        host = _host_from_args(args)
        if args.command == "start":
            if host.is_running():
                _log(f"already running (nspawn pid {host.running_pid()}); use restart or stop")
                return 0
            if args.fresh or not (host.root / "etc/ssh/sshd_config.d/00-testhost.conf").is_file():
                host.prepare(build_base_root(Path(args.cache_dir), suite=args.suite))
            host.start()
            host.detach()  # the container outlives this process; stop/start reclaim it
            _print_env(host)
        elif args.command == "stop":
            host.stop()
        elif args.command == "restart":
            host.restart()
            host.detach()
        elif args.command == "ssh":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            ssh = [*host.ssh_args()]
            if not cmd:
                ssh.insert(1, "-t")
            os.execvp("ssh", [*ssh, *cmd])
        elif args.command == "status":
            pid = host.running_pid()
            print(f"work_dir: {host.work_dir}\nroot: {host.root}\nnspawn pid: {pid or '-'}")
            if pid is not None:
                proc = host.ssh("systemctl is-system-running; systemctl --failed --no-legend --plain", check=False)
                print(f"system: {proc.stdout.strip() or proc.stderr.strip()}")
            _print_env(host)
            return 0 if pid is not None else 3
        elif args.command == "env":
            _print_env(host)
    except TestHostError as exc:
        print(f"testhost: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_env(host: TestHost) -> None:
    print(f"TESTHOST_HOST={host.host}")
    print(f"TESTHOST_PORT={host.port}")
    print(f"TESTHOST_USER={host.user}")
    print(f"TESTHOST_KEY={shlex.quote(os.fspath(host.private_key_path))}")
    print(f"TESTHOST_KNOWN_HOSTS={shlex.quote(os.fspath(host.known_hosts_path))}")
    print(f"TESTHOST_SSH={shlex.quote(shlex.join(host.ssh_args()))}")


if __name__ == "__main__":
    sys.exit(main())

"""The test host itself: a real systemd machine we can reach, configure and reboot."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools.testhost import BASE_POSTGRES_PORT, PREINSTALLED_PACKAGES, TestHost

pytestmark = pytest.mark.e2e


def test_systemd_is_pid1(test_host: TestHost) -> None:
    assert test_host.ssh("ps -p 1 -o comm=").stdout.strip() == "systemd"


def test_system_finished_booting(test_host: TestHost) -> None:
    state = test_host.ssh("systemctl is-system-running", check=False).stdout.strip()
    assert state in {"running", "degraded"}, state


def test_ssh_as_deploy_with_passwordless_sudo(test_host: TestHost) -> None:
    assert test_host.ssh("id -un").stdout.strip() == "deploy"
    assert test_host.ssh("sudo -n id -u").stdout.strip() == "0"
    assert test_host.ssh(["cat"], input="through stdin\n").stdout == "through stdin\n"


def test_host_key_is_pinned_not_blindly_accepted(test_host: TestHost, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    args = [
        a if not a.startswith("UserKnownHostsFile=") else f"UserKnownHostsFile={empty}" for a in test_host.ssh_args()
    ]
    proc = subprocess.run([*args, "true"], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode != 0
    assert "Host key verification failed" in proc.stderr


def test_connection_details_for_other_code(test_host: TestHost) -> None:
    assert (test_host.host, test_host.user) == ("127.0.0.1", "deploy")
    assert test_host.private_key_pem.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    sshd = test_host.ssh("sudo sshd -T").stdout.splitlines()
    assert f"port {test_host.port}" in sshd
    assert f"listenaddress 127.0.0.1:{test_host.port}" in sshd


def test_preinstalled_packages_present(test_host: TestHost) -> None:
    out = test_host.ssh(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *PREINSTALLED_PACKAGES]).stdout
    status = dict(line.split(" ", 1) for line in out.splitlines())
    assert {p: status.get(p) for p in PREINSTALLED_PACKAGES} == dict.fromkeys(PREINSTALLED_PACKAGES, "installed")


def test_utf8_locale_and_name_resolution(test_host: TestHost) -> None:
    assert "en_US.utf8" in test_host.ssh("locale -a").stdout.split()
    # Our bootstrap runs apt-get over SSH: resolv.conf inside must work.
    test_host.ssh("getent hosts deb.debian.org")


def test_apt_works_inside(test_host: TestHost) -> None:
    # resolv.conf copied from the host (--resolv-conf=copy-host) and the host's network.
    test_host.ssh("sudo apt-get update -qq", timeout=300)
    test_host.ssh("apt-get install --simulate -qq jq >/dev/null")


def test_postgres_cluster_kept_off_host_port(test_host: TestHost) -> None:
    # The base root moves the cluster off 5432 (the machine's own PostgreSQL); a bootstrap that ran
    # earlier in the session may have moved it again, to the stack's port — never back to 5432.
    assert test_host.base_root is not None
    conf = (test_host.base_root / "etc/postgresql/15/main/postgresql.conf").read_text()
    assert f"port = {BASE_POSTGRES_PORT}" in conf
    clusters = test_host.ssh("pg_lsclusters --no-header").stdout.split()
    assert clusters[:2] == ["15", "main"]
    assert clusters[2] != "5432"


def test_restart_brings_sshd_back(test_host: TestHost) -> None:
    test_host.ssh("sudo touch /run/before-reboot && touch ~/persists")
    test_host.restart()
    assert test_host.ssh("ps -p 1 -o comm=").stdout.strip() == "systemd"
    assert test_host.ssh("systemctl is-active ssh").stdout.strip() == "active"
    assert test_host.ssh("test -e /run/before-reboot", check=False).returncode == 1  # tmpfs: new boot
    test_host.ssh("test -e ~/persists")  # same root
    assert test_host.system_state in {"running", "degraded"}

#!/usr/bin/env bash
# Prepare a fresh Debian/Ubuntu machine for this project: system packages, the project
# virtualenv (.venv) with pinned requirements, and the Pulumi CLI + Python language host built
# from Go modules into .tools/ (scripts/install-pulumi.sh). Idempotent; run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # services the sample app's tests use on this machine
  postgresql redis-server
  # rendered files are checked by the tools that read them
  nginx systemd cloud-init shellcheck openssl
  # the systemd test host: debootstrap a Debian root, boot it with systemd-nspawn, reach it over SSH
  debootstrap systemd-container openssh-client rsync curl ca-certificates
  # benchmarks
  wrk
)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  # Services are started by the scripts that need them, on their own ports: keep apt from
  # starting nginx on port 80 during the install.
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod +x /usr/sbin/policy-rc.d
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  as_root rm -f /usr/sbin/policy-rc.d
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-dev.txt -r examples/django_app/requirements.txt \
  -r examples/django_app/requirements-test.txt
# The policy pack's SDK pins protobuf ~=5.29 while the sample app's Google storage client needs
# protobuf >= 6; the pack works with 6 (tests/policy proves it), so the tests' venv takes it
# without its pins. The pack's own venv (policy/requirements.txt) is consistent on its own.
.venv/bin/python -m pip install -q --no-deps pulumi-policy==1.21.0
# The project itself, editable: the package `djangostack` (source in components/), its console
# script `djangostack`, and what the Pulumi program (__main__.py) and its dynamic providers import.
# Its dependencies are the pins above.
.venv/bin/python -m pip install -q --no-deps -e .

# The engine tests use the CLI and language host built here (fast no-op once built). The command
# provider is left out: the Go module proxy refuses its module (see scripts/install-pulumi.sh).
PULUMI_TOOLS_COMPONENTS="${PULUMI_TOOLS_COMPONENTS:-cli python}" bash scripts/install-pulumi.sh
# actionlint checks the GitHub workflows (tests/artifacts/test_workflows.py).
bash scripts/install-actionlint.sh
echo "setup: done"

#!/usr/bin/env bash
# A real systemd test host (debootstrap + systemd-nspawn), for humans debugging e2e tests.
#
#   scripts/testhost.sh build            build (or find) the cached base root
#   scripts/testhost.sh start [--fresh]  prepare the machine if needed, boot it, print connection details
#   scripts/testhost.sh ssh [-- CMD...]  ssh in as deploy (interactive without CMD)
#   scripts/testhost.sh status           running? system state and failed units
#   scripts/testhost.sh restart|stop|env
#
# Global options go before the command: --port N (default 2222), --work-dir DIR,
# --cache-dir DIR (or TESTHOST_SSH_PORT / TESTHOST_WORK_DIR / TESTHOST_CACHE).
# Needs root and: apt-get install -y debootstrap systemd-container openssh-client
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

if [[ $# -eq 0 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi

python="$repo/.venv/bin/python"
if [[ ! -x "$python" ]]; then
    python="$(command -v python3)"
fi

if [[ $EUID -ne 0 ]]; then
    exec sudo --preserve-env=TESTHOST_SSH_PORT,TESTHOST_WORK_DIR,TESTHOST_CACHE,TESTHOST_MIRROR \
        "$python" -m tools.testhost "$@"
fi
exec "$python" -m tools.testhost "$@"

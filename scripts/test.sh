#!/usr/bin/env bash
# Set up everything the tests need on this machine, then run every test suite:
# lint and types, the unit/mocks tests, the real-tool checks of rendered files, the sample app
# against real PostgreSQL and Redis, the systemd host end-to-end tests, the Pulumi engine tests, and
# the Cloud Run containers run with podman (tests/containers).
#
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --fast     skip the slow suites (e2e, engine, containers): no host is booted,
#                              no image is built
#   scripts/test.sh -- ARGS    extra pytest arguments for the main suite (e.g. -k nginx)
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --fast) fast=1 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: scripts/test.sh [--fast] [-- pytest args]" >&2; exit 2 ;;
  esac
  shift
done

bash scripts/setup.sh
bash scripts/start-test-services.sh
# shellcheck source=scripts/pulumi-env.sh
source scripts/pulumi-env.sh

echo "== lint and types"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy components

echo "== sample Django app against real PostgreSQL and Redis"
(cd examples/django_app && ../../.venv/bin/python -m pytest -q)

echo "== program tests"
if [ "$fast" -eq 1 ]; then
  .venv/bin/python -m pytest -q -m "not e2e and not engine and not containers" "${extra[@]}"
else
  .venv/bin/python -m pytest -q "${extra[@]}"
fi

if [ "$fast" -eq 0 ]; then
  # The full e2e suite above ran on the default distribution (Debian 12). The second one, Debian 13
  # (Python 3.13, PostgreSQL 17), gets the focused build and release module: its own cached base
  # root (a cold debootstrap costs ~10 minutes, a warm one nothing).
  echo "== builds and releases on Debian 13 (trixie)"
  TESTHOST_SUITE=trixie .venv/bin/python -m pytest -q -m e2e tests/e2e/test_builds.py "${extra[@]}"
fi

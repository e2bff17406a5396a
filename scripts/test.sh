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

if [ "$fast" -eq 0 ]; then
  # The slow suites' debootstrap'd roots (the Debian 12 and 13 test hosts, the containers' Debian 13
  # base) are mostly downloads: build them in the background while lint and the fast tests use the
  # CPU. Each build holds its own file lock, so a suite that needs a root before it is ready waits
  # for it; a failed build is retried there and reported by that suite. Warm caches: instant.
  mkdir -p .cache
  (
    .venv/bin/python -m tools.testhost build
    .venv/bin/python -m tools.testhost --suite trixie build
  ) >.cache/prebuild-testhost.log 2>&1 &
  .venv/bin/python -c 'from tests.containers.podman import ensure_base_image; ensure_base_image()' \
    >.cache/prebuild-containers.log 2>&1 &
fi

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
  # (Python 3.13, PostgreSQL 17), gets the focused build and release module and the EC2-style host
  # through an RDS password rotation (PostgreSQL 16+ grants the app role WITH SET): its own cached
  # base root (a cold debootstrap costs ~10 minutes, a warm one nothing).
  echo "== builds, releases and the RDS rotation on Debian 13 (trixie)"
  TESTHOST_SUITE=trixie .venv/bin/python -m pytest -q -m e2e tests/e2e/test_builds.py \
    tests/e2e/test_aws_host_rotation.py "${extra[@]}"
fi

# Background builds have ended by now (every suite that needed them waited for their locks).
wait

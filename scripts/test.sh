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
# The host OSes besides Debian 12 (tools/testhost): Debian 13, Ubuntu 24.04 and 22.04.
OTHER_SUITES=(trixie noble jammy)

if [ "$fast" -eq 0 ]; then
  # The slow suites' debootstrap'd roots (the test hosts: Debian 12, then the other OSes a stack can
  # choose; the containers' Debian 13 base) are mostly downloads: build them in the background while
  # lint and the fast tests use the CPU. Each build holds its own file lock, so a suite that needs a
  # root before it is ready waits for it; a failed build is retried there and reported by that
  # suite. Warm caches: instant.
  mkdir -p .cache
  (
    .venv/bin/python -m tools.testhost build
    for suite in "${OTHER_SUITES[@]}"; do
      .venv/bin/python -m tools.testhost --suite "$suite" build
    done
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
  # The full e2e suite above ran on the default OS (Debian 12). Each other `target.os` gets the
  # modules that depend on the OS, on its own cached base root: builds and releases (its Python,
  # its packages) and the aws-ec2 host files through an RDS password rotation (aws-ec2 boots
  # Ubuntu; PostgreSQL 16+ grants the app role WITH SET).
  # Ubuntu 22.04 runs the aws-ec2 module only: its own Redis is 6.0, too old for the sample app's
  # Celery 5.7 (the release refuses that pair before the switch; on aws-ec2 Redis is ElastiCache).
  for suite in "${OTHER_SUITES[@]}"; do
    modules=(tests/e2e/test_builds.py tests/e2e/test_aws_host_rotation.py)
    if [ "$suite" = jammy ]; then modules=(tests/e2e/test_aws_host_rotation.py); fi
    echo "== ${modules[*]} on $suite"
    TESTHOST_SUITE="$suite" .venv/bin/python -m pytest -q -m e2e "${modules[@]}" "${extra[@]}"
  done
fi

# Background builds have ended by now (every suite that needed them waited for their locks).
wait

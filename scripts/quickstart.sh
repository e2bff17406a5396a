#!/usr/bin/env bash
# Quick start: deploy the dev stack (the server target) with the real Pulumi engine, state in a
# local file backend (no Pulumi Cloud account), onto a local systemd host booted from a Debian
# root (debootstrap + systemd-nspawn, reached over SSH on 127.0.0.1:2222). Needs root.
#
#   scripts/quickstart.sh            set up, boot the host, `pulumi up` the dev stack
#   scripts/quickstart.sh destroy    `pulumi destroy` the dev stack and stop the host
#
# PULUMI_CONFIG_PASSPHRASE defaults to the dev stack's documented throwaway passphrase.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

bash scripts/setup.sh
# shellcheck source=scripts/pulumi-env.sh
source scripts/pulumi-env.sh
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$repo/.cache/pulumi-state}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-dev-only-passphrase}"
mkdir -p "$repo/.cache/pulumi-state"

# The dev stack's sshKeyFile is this host's key (.cache/testhost/dev/id_ed25519).
testhost=(bash scripts/testhost.sh --port 2222 --work-dir .cache/testhost/dev)

if [ "${1:-up}" = "destroy" ]; then
  pulumi destroy --yes --stack dev
  "${testhost[@]}" stop
  exit 0
fi

"${testhost[@]}" start
pulumi stack select --create dev
pulumi up --yes --stack dev
pulumi stack output --stack dev
echo
echo "The app: https://127.0.0.1:8443/ (self-signed certificate), readiness:"
curl --silent --show-error --insecure https://127.0.0.1:8443/readyz
echo

#!/usr/bin/env bash
# Build the Pulumi CLI, the Python language host and its shims for the preview/deploy/drift jobs
# from Go modules pinned with their hashes in scripts/ci/pulumi-tools/*/go.sum.
#
#   scripts/ci/install-pulumi.sh [BIN_DIR]     (default: <repo>/.tools/bin)
#
# Why not pulumi/actions' `pulumi-version` or get.pulumi.com: those download a tarball whose
# checksum nothing in this repository pins. Here every module is verified against its go.sum line
# (-mod=readonly: a changed module, or one not listed, stops the build) and against the Go checksum
# database. The versions are the ones scripts/install-pulumi.sh builds for local use; bump them with
# scripts/ci/pulumi-tools/update.sh and review the go.sum diff.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS=$REPO_ROOT/scripts/ci/pulumi-tools
BIN_DIR=${1:-$REPO_ROOT/.tools/bin}
GO_BIN=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
export GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 GOSUMDB=sum.golang.org GONOSUMDB='' GOPRIVATE='' GOINSECURE=''
SDK=github.com/pulumi/pulumi/sdk/v3
VERSION_VAR=$SDK/go/common/version.Version
LANG_PY_PATCH=$REPO_ROOT/scripts/pulumi-language-python-runplugin.patch

log() { printf '[ci/install-pulumi] %s\n' "$*" >&2; }
version_of() { (cd "$TOOLS/$1" && "$GO_BIN" list -m -f '{{.Version}}' "$2"); }

mkdir -p "$BIN_DIR"
cli_version=$(version_of cli github.com/pulumi/pulumi/pkg/v3)
host_version=$(version_of python "$SDK")
shims_version=$(version_of shims "$SDK")

log "pulumi $cli_version"
(cd "$TOOLS/cli" && "$GO_BIN" build -trimpath -ldflags "-s -w -X $VERSION_VAR=$cli_version" \
    -o "$BIN_DIR/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)

# The 3.68 host needs the RunPlugin patch that scripts/install-pulumi.sh applies too: without it a
# newer CLI starts the project's own __main__.py in place of the policy pack. The patch is applied
# to a copy of the verified module; its own go.sum (part of the verified module) pins the rest.
log "pulumi-language-python $host_version (with $(basename "$LANG_PY_PATCH"))"
host_src=$(cd "$TOOLS/python" && "$GO_BIN" mod download -json "$SDK" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
(cd "$TOOLS/python" && "$GO_BIN" mod verify >/dev/null)
work=$(mktemp -d "${TMPDIR:-/tmp}/ci-install-pulumi.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$host_src/." "$work/sdk"
chmod -R u+w "$work/sdk"
(cd "$work/sdk" && git apply -p1 "$LANG_PY_PATCH")
(cd "$work/sdk" && "$GO_BIN" build -ldflags "-s -w -X $VERSION_VAR=$host_version" \
    -o "$BIN_DIR/pulumi-language-python" ./python/cmd/pulumi-language-python)

log "python shims from $SDK@$shims_version"
sdk_dir=$(cd "$TOOLS/shims" && "$GO_BIN" mod download -json "$SDK" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
(cd "$TOOLS/shims" && "$GO_BIN" mod verify >/dev/null)
install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$BIN_DIR/pulumi-language-python-exec"
install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$BIN_DIR/pulumi-resource-pulumi-python"

got=$(PULUMI_SKIP_UPDATE_CHECK=true "$BIN_DIR/pulumi" version)
[ "$got" = "$cli_version" ] || { log "ERROR: built pulumi reports $got, expected $cli_version"; exit 1; }
log "installed into $BIN_DIR: pulumi $got"

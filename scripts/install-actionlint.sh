#!/usr/bin/env bash
# install-actionlint.sh — build actionlint (the GitHub Actions workflow linter) from its Go module
# into the git-ignored tools dir, where tests/artifacts/test_workflows.py and CI look for it.
#
#   scripts/install-actionlint.sh        build it unless the requested version is already there
#
# Environment knobs (all optional):
#   ACTIONLINT_VERSION   default 1.7.12 (the newest version the Go module proxy served when pinned)
#   ACTIONLINT_TOOLS_DIR install root, the binary goes to $ACTIONLINT_TOOLS_DIR/bin
#                        (default: <repo>/.tools, shared with scripts/install-pulumi.sh)
#   GO                   go binary (default: go on PATH, else /usr/local/go/bin/go)
#
# actionlint runs shellcheck on every `run:` block when shellcheck is on PATH (scripts/setup.sh
# installs it), so workflow scripts get the same checks as the files in scripts/.
# Idempotent: exits 0 within a second when the requested version is installed.
set -euo pipefail

log() { printf '[install-actionlint] %s\n' "$*" >&2; }

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${ACTIONLINT_TOOLS_DIR:-$REPO_ROOT/.tools}
BIN_DIR=$TOOLS_DIR/bin
VERSION=${ACTIONLINT_VERSION:-1.7.12}
MODULE=github.com/rhysd/actionlint

installed_version() {
    [[ -x "$BIN_DIR/actionlint" ]] || return 0
    "$BIN_DIR/actionlint" -version 2>/dev/null | head -n1 || true
}

if [[ "$(installed_version)" == "v$VERSION" ]]; then
    log "up to date: $BIN_DIR/actionlint v$VERSION"
    exit 0
fi

if [[ -n "${GO:-}" ]]; then
    go_bin=$GO
elif command -v go >/dev/null 2>&1; then
    go_bin=$(command -v go)
elif [[ -x /usr/local/go/bin/go ]]; then
    go_bin=/usr/local/go/bin/go
else
    log "ERROR: go not found (set GO=/path/to/go)"
    exit 1
fi

mkdir -p "$BIN_DIR"
log "go install $MODULE/cmd/actionlint@v$VERSION -> $BIN_DIR"
GOBIN=$BIN_DIR GOWORK=off CGO_ENABLED=0 "$go_bin" install "$MODULE/cmd/actionlint@v$VERSION"
got=$(installed_version)
if [[ "$got" != "v$VERSION" ]]; then
    log "ERROR: built actionlint reports version '$got', expected v$VERSION"
    exit 1
fi
log "installed $BIN_DIR/actionlint $got"

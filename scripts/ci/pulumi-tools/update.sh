#!/usr/bin/env bash
# Regenerate the pinned Go modules that scripts/ci/install-pulumi.sh builds the Pulumi tools from.
#
#   scripts/ci/pulumi-tools/update.sh [CLI_VERSION] [LANGUAGE_PYTHON_VERSION] [PYTHON_SHIMS_VERSION]
#
# Each subdirectory is a throwaway Go module that requires one Pulumi module at one version:
#   cli/     github.com/pulumi/pulumi/pkg/v3            (the `pulumi` binary)
#   python/  github.com/pulumi/pulumi/sdk/v3 <= 3.68.0   (pulumi-language-python; see scripts/install-pulumi.sh)
#   shims/   github.com/pulumi/pulumi/sdk/v3 at the SDK pin (pulumi-language-python-exec and the
#            dynamic-provider shim, plain files in that module)
# `go get` writes every module's hash into go.sum, checked against the Go checksum database
# (sum.golang.org). CI then builds with -mod=readonly: a module whose content differs from its
# go.sum line stops the build. Review the go.sum diff like any other pin, and commit it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

CLI_VERSION=${1:-3.274.1}
LANG_PY_VERSION=${2:-3.68.0}
PY_SHIMS_VERSION=${3:-3.272.0}
GO_BIN=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

# new_module <dir> <module@version>: a module that requires exactly <module@version>, repeating the
# versioned replace directives of that module's own go.mod (local ones are dropped, as `go install`
# would refuse them).
new_module() {
    local dir=$1 target=$2 gomod godirective
    rm -rf "$dir" && mkdir -p "$dir"
    gomod=$("$GO_BIN" mod download -json "$target" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    godirective=$("$GO_BIN" mod edit -json "$gomod" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Go") or "1.21")')
    printf 'module example.invalid/djangostack-ci/%s\n\ngo %s\n' "$dir" "$godirective" >"$dir/go.mod"
    "$GO_BIN" mod edit -json "$gomod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"].get("Version"):
        old = r["Old"]["Path"] + ("@" + r["Old"]["Version"] if r["Old"].get("Version") else "")
        print(old + "=" + r["New"]["Path"] + "@" + r["New"]["Version"])
' | while IFS= read -r replace; do (cd "$dir" && "$GO_BIN" mod edit -replace="$replace"); done
}

new_module cli "github.com/pulumi/pulumi/pkg/v3@v$CLI_VERSION"
(cd cli && "$GO_BIN" get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$CLI_VERSION")

new_module python "github.com/pulumi/pulumi/sdk/v3@v$LANG_PY_VERSION"
(cd python && "$GO_BIN" get "github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python@v$LANG_PY_VERSION")

new_module shims "github.com/pulumi/pulumi/sdk/v3@v$PY_SHIMS_VERSION"
(cd shims && "$GO_BIN" get "github.com/pulumi/pulumi/sdk/v3@v$PY_SHIMS_VERSION")
echo "updated: cli v$CLI_VERSION, language host v$LANG_PY_VERSION, shims v$PY_SHIMS_VERSION"

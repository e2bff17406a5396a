#!/usr/bin/env bash
# install-pulumi.sh — build the Pulumi CLI, the Python language host and the
# command provider from Go modules into a git-ignored tools dir.
#
# This is the FALLBACK for machines where the official installer
# (https://www.pulumi.com/docs/install/, get.pulumi.com) cannot be used, e.g.
# sandboxes/CI that only reach package registries. Where the official installer
# works, prefer it (same major version, see requirements.txt for the SDK pin).
#
# Usage:
#   scripts/install-pulumi.sh              # build what is missing, then exit
#   source scripts/pulumi-env.sh           # put the tools on PATH (see there)
#
# Environment knobs (all optional):
#   PULUMI_TOOLS_DIR                 install root, binaries go to $PULUMI_TOOLS_DIR/bin
#                                    (default: <repo>/.tools, git-ignored)
#   PULUMI_TOOLS_COMPONENTS          space-separated subset of "cli python command"
#                                    (default: all three)
#   PULUMI_CLI_VERSION               default 3.274.1   (see VERSION NOTES)
#   PULUMI_LANGUAGE_PYTHON_VERSION   default 3.68.0    (see VERSION NOTES)
#   PULUMI_PYTHON_SHIMS_VERSION      default 3.272.0   (= the pulumi Python SDK pin)
#   PULUMI_COMMAND_VERSION           default 1.2.1     (= the pulumi-command SDK pin)
#   GO                               go binary (default: go on PATH, else /usr/local/go/bin/go)
#
# Idempotent: components already installed at the requested version are left
# alone; when everything is in place the script exits 0 within a second. The Go
# build and module caches (GOCACHE / GOMODCACHE, Go's defaults unless you set
# them) are reused between runs. Exit status is non-zero if any requested
# component could not be installed (the others are still installed).
#
# VERSION NOTES (why the defaults are not all 3.272.0 — the Go module proxy
# reachable from our sandboxes does not serve every module version):
#   * CLI: github.com/pulumi/pulumi/pkg/v3@v3.272.0 is refused by the proxy
#     ("403 This module version is not available"); v3.274.1 is the nearest
#     served version at or above the SDK pin. A CLI newer than the Python SDK is
#     a supported combination. The binary is stamped with the version it really
#     is, so `pulumi version` prints v3.274.1.
#   * Python language host: the module
#     github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 is not
#     served at all. The host used to live inside github.com/pulumi/pulumi/sdk/v3;
#     v3.68.0 is the newest served sdk/v3 that still contains it, so that is
#     what we build. Its program shim
#     (pulumi-language-python-exec) and the dynamic-provider shim
#     (pulumi-resource-pulumi-python) are taken from sdk/v3 at the SDK pin.
#     The 3.68 host predates the `toolchain`/`virtualenv` options being passed
#     over gRPC: it runs `$PULUMI_PYTHON_CMD` (or python3 on PATH), so point
#     PULUMI_PYTHON_CMD at the venv's python (scripts/pulumi-env.sh does).
#     If/when the new module is served, set PULUMI_LANGUAGE_PYTHON_VERSION to a
#     newer version and the script builds it from its own module instead.
#     The 3.68 host is built with scripts/pulumi-language-python-runplugin.patch:
#     newer CLIs name the plugin to run (a policy pack) in RunPluginRequest.info
#     and leave the old `program` field empty, so the unpatched host ran
#     `python "" <engine>` in the project directory, i.e. the project's own
#     __main__.py in place of the policy pack. The patch reads `info` (and the
#     pack's `virtualenv` option) the way newer hosts do.
#   * Command provider: github.com/pulumi/pulumi-command/provider is not served
#     by the proxy at any version, so this component fails here with the
#     proxy's message; set PULUMI_TOOLS_COMPONENTS="cli python" to skip it.
set -euo pipefail

log() { printf '[install-pulumi] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${PULUMI_TOOLS_DIR:-$REPO_ROOT/.tools}
BIN_DIR=$TOOLS_DIR/bin

COMPONENTS=${PULUMI_TOOLS_COMPONENTS:-cli python command}
CLI_VERSION=${PULUMI_CLI_VERSION:-3.274.1}
LANG_PY_VERSION=${PULUMI_LANGUAGE_PYTHON_VERSION:-3.68.0}
PY_SHIMS_VERSION=${PULUMI_PYTHON_SHIMS_VERSION:-3.272.0}
COMMAND_VERSION=${PULUMI_COMMAND_VERSION:-1.2.1}

# Patch applied to the in-sdk v3.68.0 host (see VERSION NOTES).
LANG_PY_PATCH=$REPO_ROOT/scripts/pulumi-language-python-runplugin.patch
LANG_PY_PATCHED_VERSION=3.68.0

# Newest sdk/v3 version served by the proxy that still contains the Python
# language host (v3.90.0, the next served one, no longer does; the host moved to
# its own module somewhere in between). Newer versions use the new module path.
LANG_PY_LAST_IN_SDK=3.68.0

SDK_MOD=github.com/pulumi/pulumi/sdk/v3
SDK_VERSION_VAR=$SDK_MOD/go/common/version.Version
COMMAND_MOD=github.com/pulumi/pulumi-command/provider
COMMAND_VERSION_VAR=$COMMAND_MOD/pkg/version.Version

# ---------------------------------------------------------------------------
# helpers

wants() { [[ " $COMPONENTS " == *" $1 "* ]]; }

# version_le A B: true if A <= B (dotted numeric versions, no leading v)
version_le() { [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" == "$1" ]]; }

find_go() {
    if [[ -n "${GO:-}" ]]; then
        printf '%s\n' "$GO"
    elif command -v go >/dev/null 2>&1; then
        command -v go
    elif [[ -x /usr/local/go/bin/go ]]; then
        printf '%s\n' /usr/local/go/bin/go
    else
        return 1
    fi
}

# The version a Go binary was stamped with via -ldflags "-X <var>=<value>",
# read from its embedded build info (no need to run the binary; plugins have
# no --version flag). Go records -ldflags only for builds WITHOUT -trimpath,
# so only the CLI (checked with `pulumi version`) is built with -trimpath.
stamped_version() { # <binary> <var>
    local bin=$1 var=$2 info
    [[ -x "$bin" ]] || return 0
    [[ -n "${GO_BIN:-}" ]] || return 0
    info=$("$GO_BIN" version -m "$bin" 2>/dev/null) || return 0
    sed -n "s|.*-X[= ]$var=\([^ \"']*\).*|\1|p" <<<"$info" | head -n1
}

cli_version_ok() {
    [[ -x "$BIN_DIR/pulumi" ]] || return 1
    local got
    got=$(PULUMI_SKIP_UPDATE_CHECK=true "$BIN_DIR/pulumi" version 2>/dev/null) || return 1
    [[ "$got" == "v$CLI_VERSION" ]]
}

python_version_ok() {
    [[ "$(stamped_version "$BIN_DIR/pulumi-language-python" "$SDK_VERSION_VAR")" == "v$LANG_PY_VERSION" ]] || return 1
    # The shims are plain files copied from sdk/v3; a marker records their version.
    [[ -x "$BIN_DIR/pulumi-language-python-exec" && -x "$BIN_DIR/pulumi-resource-pulumi-python" ]] || return 1
    [[ "$(cat "$BIN_DIR/.pulumi-python-shims.version" 2>/dev/null)" == "$PY_SHIMS_VERSION" ]] || return 1
    # A host built before the RunPlugin patch (or with another one) is rebuilt.
    [[ "$LANG_PY_VERSION" != "$LANG_PY_PATCHED_VERSION" ]] ||
        [[ "$(cat "$BIN_DIR/.pulumi-language-python.patch" 2>/dev/null)" == "$(lang_py_patch_id)" ]]
}

lang_py_patch_id() { sha256sum "$LANG_PY_PATCH" | cut -d' ' -f1; }

# The in-sdk host, built from a copy of the sdk/v3 module with the RunPlugin
# patch applied (see VERSION NOTES).
build_patched_sdk_host() { # <out-binary>
    local out=$1 src work
    log "downloading $SDK_MOD@v$LANG_PY_VERSION (language host source)"
    src=$(mod_download_field "$SDK_MOD@v$LANG_PY_VERSION" Dir) || return 1
    work=$(mktemp -d "${TMPDIR:-/tmp}/install-pulumi.XXXXXX")
    TMP_DIRS+=("$work")
    cp -R "$src/." "$work/sdk"
    chmod -R u+w "$work/sdk"
    log "applying $(basename "$LANG_PY_PATCH")"
    (cd "$work/sdk" && git apply -p1 "$LANG_PY_PATCH") || return 1
    log "go build -o $out ./python/cmd/pulumi-language-python (patched sdk/v3@v$LANG_PY_VERSION)"
    (
        cd "$work/sdk"
        "$GO_BIN" build -ldflags "-s -w -X $SDK_VERSION_VAR=v$LANG_PY_VERSION" -o "$out.tmp" \
            ./python/cmd/pulumi-language-python
        mv -f "$out.tmp" "$out"
    ) || return 1
    lang_py_patch_id >"$BIN_DIR/.pulumi-language-python.patch"
}

command_version_ok() {
    [[ "$(stamped_version "$BIN_DIR/pulumi-resource-command" "$COMMAND_VERSION_VAR")" == "$COMMAND_VERSION" ]]
}

# `go mod download -json mod@ver`; prints the given field (GoMod, Dir) or the
# proxy's error and fails.
mod_download_field() { # <module@version> <field>
    local out
    if ! out=$("$GO_BIN" mod download -json "$1" 2>&1); then
        log "go mod download $1 failed:"
        sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' <<<"$out" | sed 's/\\n/\n/g; s/\\t/  /g' >&2
        grep -v '^[[:space:]]*["{}]' <<<"$out" >&2 || true
        return 1
    fi
    sed -n "s/^[[:space:]]*\"$2\": \"\(.*\)\",\{0,1\}\$/\1/p" <<<"$out" | head -n1
}

# Print the replace directives of a go.mod file that point at another module
# version (`old[@v]=new@v`), i.e. the ones a consumer has to repeat. Directives
# pointing at a local directory (e.g. `sdk/v3 => ../sdk`) are dropped: for
# those the version in the module's own `require` is used instead.
versioned_replaces() { # <go.mod file>
    local line old oldv new newv
    while IFS='|' read -r old oldv new newv; do
        [[ -n "$newv" ]] || { log "  (dropping local replace $old => $new)"; continue; }
        line=$old; [[ -n "$oldv" ]] && line+="@$oldv"
        printf '%s=%s@%s\n' "$line" "$new" "$newv"
    done < <("$GO_BIN" mod edit -json "$1" | "$PYTHON_BIN" -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    print("|".join([r["Old"]["Path"], r["Old"].get("Version", ""), r["New"]["Path"], r["New"].get("Version", "")]))
')
}

# build_go_main <out-binary> <module> <version> <main-package> <ldflags> [go build flags...]
# Builds a main package from a throwaway module that requires <module>@<version>
# and repeats <module>'s versioned replace directives (`go install pkg@version`
# refuses modules whose go.mod has replace directives).
build_go_main() {
    local out=$1 module=$2 version=$3 pkg=$4 ldflags=$5
    shift 5
    local gomod godirective work r

    log "downloading $module@$version"
    gomod=$(mod_download_field "$module@$version" GoMod) || return 1
    godirective=$("$GO_BIN" mod edit -json "$gomod" | "$PYTHON_BIN" -c 'import json,sys; print(json.load(sys.stdin).get("Go") or "1.21")')

    work=$(mktemp -d "${TMPDIR:-/tmp}/install-pulumi.XXXXXX")
    TMP_DIRS+=("$work")
    log "throwaway module in $work (go $godirective)"
    (
        cd "$work"
        printf 'module example.invalid/install-pulumi/%s\n\ngo %s\n' "$(basename "$out")" "$godirective" >go.mod
        while IFS= read -r r; do
            log "  replace ${r/=/ => }"
            "$GO_BIN" mod edit -replace="$r"
        done < <(versioned_replaces "$gomod")
        log "go get $pkg@$version"
        "$GO_BIN" get "$pkg@$version"
        log "go build -o $out $pkg  (ldflags: $ldflags)"
        "$GO_BIN" build "$@" -ldflags "$ldflags" -o "$out.tmp" "$pkg"
        mv -f "$out.tmp" "$out"
    )
}

# ---------------------------------------------------------------------------
# components

install_cli() {
    build_go_main "$BIN_DIR/pulumi" github.com/pulumi/pulumi/pkg/v3 "v$CLI_VERSION" \
        github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
        "-s -w -X $SDK_VERSION_VAR=v$CLI_VERSION" -trimpath
}

install_python() {
    local lang_mod lang_pkg sdk_dir f
    if version_le "$LANG_PY_VERSION" "$LANG_PY_LAST_IN_SDK"; then
        lang_mod=$SDK_MOD
        lang_pkg=$SDK_MOD/python/cmd/pulumi-language-python
    else
        lang_mod=github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3
        lang_pkg=$lang_mod
    fi
    if [[ "$LANG_PY_VERSION" == "$LANG_PY_PATCHED_VERSION" ]]; then
        build_patched_sdk_host "$BIN_DIR/pulumi-language-python" || return 1
    else
        build_go_main "$BIN_DIR/pulumi-language-python" "$lang_mod" "v$LANG_PY_VERSION" "$lang_pkg" \
            "-s -w -X $SDK_VERSION_VAR=v$LANG_PY_VERSION" || return 1
    fi

    # Shell/Python shims shipped in the sdk/v3 module: the program runner the
    # 3.68 host looks for next to itself, and the dynamic-provider plugin.
    log "downloading $SDK_MOD@v$PY_SHIMS_VERSION (python shims)"
    sdk_dir=$(mod_download_field "$SDK_MOD@v$PY_SHIMS_VERSION" Dir) || return 1
    for f in cmd/pulumi-language-python-exec dist/pulumi-resource-pulumi-python; do
        log "install $sdk_dir/python/$f -> $BIN_DIR/$(basename "$f")"
        install -m 0755 "$sdk_dir/python/$f" "$BIN_DIR/$(basename "$f")"
    done
    printf '%s\n' "$PY_SHIMS_VERSION" >"$BIN_DIR/.pulumi-python-shims.version"
}

install_command() {
    build_go_main "$BIN_DIR/pulumi-resource-command" "$COMMAND_MOD" "v$COMMAND_VERSION" \
        "$COMMAND_MOD/cmd/pulumi-resource-command" \
        "-s -w -X $COMMAND_VERSION_VAR=$COMMAND_VERSION" && return 0
    log "hint: the Go module proxy reachable here does not serve $COMMAND_MOD (any version);"
    log "      install pulumi-resource-command $COMMAND_VERSION by other means, or skip it with"
    log "      PULUMI_TOOLS_COMPONENTS=\"cli python\""
    return 1
}

# ---------------------------------------------------------------------------
# main

for c in $COMPONENTS; do
    case $c in cli | python | command) ;; *) die "unknown component '$c' in PULUMI_TOOLS_COMPONENTS (want: cli python command)" ;; esac
done

GO_BIN=$(find_go) || GO_BIN=""
PYTHON_BIN=$(command -v python3 || true)

declare -A NEED=()
wants cli && ! cli_version_ok && NEED[cli]=1
wants python && ! python_version_ok && NEED[python]=1
wants command && ! command_version_ok && NEED[command]=1

if [[ ${#NEED[@]} -eq 0 ]]; then
    summary=()
    wants cli && summary+=("pulumi v$CLI_VERSION")
    wants python && summary+=("pulumi-language-python v$LANG_PY_VERSION")
    wants command && summary+=("pulumi-resource-command $COMMAND_VERSION")
    joined=$(printf '%s, ' "${summary[@]}")
    log "up to date in $BIN_DIR: ${joined%, }"
    exit 0
fi

[[ -n "$GO_BIN" ]] || die "go not found (set GO=/path/to/go); needed to build: ${!NEED[*]}"
[[ -n "$PYTHON_BIN" ]] || die "python3 not found; needed to parse go.mod files"

export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
log "go: $("$GO_BIN" version) GOMODCACHE=$("$GO_BIN" env GOMODCACHE) GOCACHE=$("$GO_BIN" env GOCACHE)"
mkdir -p "$BIN_DIR"

TMP_DIRS=()
cleanup() { if [[ ${#TMP_DIRS[@]} -gt 0 ]]; then rm -rf "${TMP_DIRS[@]}"; fi; }
trap cleanup EXIT

FAILED=()
for c in cli python command; do
    [[ -n "${NEED[$c]:-}" ]] || { wants "$c" && log "$c: already installed at the requested version"; continue; }
    log "=== $c: building"
    start=$SECONDS
    if "install_$c"; then
        log "=== $c: done in $((SECONDS - start))s"
    else
        log "=== $c: FAILED after $((SECONDS - start))s"
        FAILED+=("$c")
    fi
done

if cli_version_ok; then log "$BIN_DIR/pulumi version: $(PULUMI_SKIP_UPDATE_CHECK=true "$BIN_DIR/pulumi" version)"; fi
if [[ ${#FAILED[@]} -gt 0 ]]; then
    log "could not install: ${FAILED[*]} (see messages above)."
    log "to install only the rest, set PULUMI_TOOLS_COMPONENTS to the components you need."
    exit 1
fi
log "installed into $BIN_DIR; next: source scripts/pulumi-env.sh"

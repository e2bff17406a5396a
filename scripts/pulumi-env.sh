# shellcheck shell=bash
# pulumi-env.sh — source me (bash):  source scripts/pulumi-env.sh
#
# Environment for the Pulumi tools built by scripts/install-pulumi.sh (the
# fallback for machines where the official installer can't be used):
#   * puts ${PULUMI_TOOLS_DIR:-<repo>/.tools}/bin first on PATH;
#   * PULUMI_SKIP_UPDATE_CHECK=true (no network call to check for new CLIs);
#   * PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true (plugins can't be
#     downloaded here; a missing plugin must fail loudly, not hang/retry);
#   * PULUMI_PYTHON_CMD=<repo>/.venv/bin/python if unset and the venv exists:
#     the Python language host we can build (v3.68.0, see install-pulumi.sh)
#     does not receive the `virtualenv`/`toolchain` runtime options from the
#     CLI, it runs $PULUMI_PYTHON_CMD (else python3 on PATH);
#   * installs the built command provider as a plugin into
#     ${PULUMI_HOME:-~/.pulumi} if it is there and not yet installed (callers
#     may export PULUMI_HOME before sourcing this to use another home).
# PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK is not set: the CLI we build is
# newer than the pinned Python SDK, so the Automation API's check passes.
#
# Safe to source repeatedly; never exits the calling shell.

_pulumi_env_setup() {
    local repo tools bin home cmd_version=${PULUMI_COMMAND_VERSION:-1.2.1}
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || return 1
    tools=${PULUMI_TOOLS_DIR:-$repo/.tools}
    bin=$tools/bin

    case ":$PATH:" in
        *":$bin:"*) ;;
        *) PATH="$bin:$PATH" ;;
    esac
    export PATH
    export PULUMI_SKIP_UPDATE_CHECK=true
    export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
    if [ -z "${PULUMI_PYTHON_CMD:-}" ] && [ -x "$repo/.venv/bin/python" ]; then
        export PULUMI_PYTHON_CMD="$repo/.venv/bin/python"
    fi

    if [ ! -x "$bin/pulumi" ]; then
        echo "pulumi-env.sh: $bin/pulumi not found; run scripts/install-pulumi.sh" >&2
        return 0
    fi

    if [ -x "$bin/pulumi-resource-command" ]; then
        home=${PULUMI_HOME:-$HOME/.pulumi}
        if [ ! -x "$home/plugins/resource-command-v$cmd_version/pulumi-resource-command" ]; then
            echo "pulumi-env.sh: installing command provider $cmd_version into $home/plugins" >&2
            "$bin/pulumi" plugin install resource command "$cmd_version" \
                --file "$bin/pulumi-resource-command" >&2 ||
                echo "pulumi-env.sh: WARNING: plugin install failed" >&2
        fi
    fi
    return 0
}
_pulumi_env_setup
unset -f _pulumi_env_setup

#!/usr/bin/env bash
# Decide whether a deploy run may deploy its commit. Used by .github/workflows/deploy.yml.
#
#   scripts/ci/deploy-gate.sh gate   at the start of a run: tip of main, green CI, dev host usable
#   scripts/ci/deploy-gate.sh tip    in every stack job, right before `pulumi up` (after the queue
#                                    and the approval): is the commit still the tip of main?
#
# Environment: DEPLOY_SHA (the commit this run deploys), GITHUB_REPOSITORY, GH_TOKEN (read access to
# contents and actions), GITHUB_OUTPUT; for `gate` also DEPLOY_REF (the ref the run was started
# for, must be refs/heads/main) and DEV_HOST (vars.DEV_HOST, may be empty).
#
# Outputs (to $GITHUB_OUTPUT):
#   deploy=true|false   false when main has moved on: a newer run deploys the newer commit, which
#                       contains this one, so this run ends cleanly without touching any stack.
#   dev=true|false      (gate) false when DEV_HOST is unset or a loopback/unspecified address: the
#                       dev job is skipped and does not hold back staging and prod.
# Exit status 1 (the run fails) for a commit without a successful CI run, or a run started from
# another ref than main.
set -euo pipefail

mode=${1:-}
: "${DEPLOY_SHA:?DEPLOY_SHA is not set}" "${GITHUB_REPOSITORY:?}" "${GITHUB_OUTPUT:?}"
case "$DEPLOY_SHA" in
    *[!0-9a-f]* | '') echo "::error::DEPLOY_SHA is not a commit id (got '$DEPLOY_SHA')"; exit 1 ;;
esac
[ "${#DEPLOY_SHA}" -eq 40 ] || { echo "::error::DEPLOY_SHA is not a full commit id (got '$DEPLOY_SHA')"; exit 1; }

main_tip() {
    gh api "repos/$GITHUB_REPOSITORY/git/ref/heads/main" --jq .object.sha
}

check_tip() {
    local tip
    tip=$(main_tip)
    if [ "$tip" != "$DEPLOY_SHA" ]; then
        echo "::notice::not deploying $DEPLOY_SHA: main is at $tip now, and the run for that commit deploys it (with this one)"
        echo "deploy=false" >>"$GITHUB_OUTPUT"
        return 1
    fi
    echo "deploy=true" >>"$GITHUB_OUTPUT"
}

is_local_host() {
    case "$1" in
        '' | localhost | localhost.* | 127.* | 0.0.0.0 | ::1 | '[::1]' | :: | 0:0:0:0:0:0:0:1) return 0 ;;
        *) return 1 ;;
    esac
}

case "$mode" in
    gate)
        if [ "${DEPLOY_REF:-}" != "refs/heads/main" ]; then
            echo "::error::deploys run from main only (this run is for ${DEPLOY_REF:-an unknown ref})"
            exit 1
        fi
        # The CI workflow must have succeeded on a push of exactly this commit to main.
        green=$(gh api "repos/$GITHUB_REPOSITORY/actions/workflows/ci.yml/runs?head_sha=$DEPLOY_SHA&branch=main&event=push&status=success&per_page=1" --jq .total_count)
        if [ "${green:-0}" -lt 1 ]; then
            echo "::error::no successful CI run (ci.yml, push to main) for $DEPLOY_SHA: not deploying"
            exit 1
        fi
        if is_local_host "${DEV_HOST:-}"; then
            echo "::notice::dev is not deployed from CI: set the variable DEV_HOST to a reachable server (docs/workflow.md); got '${DEV_HOST:-}'"
            echo "dev=false" >>"$GITHUB_OUTPUT"
        else
            echo "dev=true" >>"$GITHUB_OUTPUT"
        fi
        check_tip || true
        ;;
    tip)
        check_tip || true
        ;;
    *)
        echo "usage: scripts/ci/deploy-gate.sh gate|tip" >&2
        exit 2
        ;;
esac

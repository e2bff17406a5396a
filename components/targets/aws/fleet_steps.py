"""The fleet's two guard steps around a release, as shell scripts run by ``local.Command`` on the
machine running ``pulumi up`` (pure text; ``DjangoOnEc2`` wires them).

- ``PRE_RELEASE_SNAPSHOT_SCRIPT``: one manual RDS snapshot before the release migrates, waited
  for, then the older pre-release snapshots of the same instance pruned to ``KEEP``. It runs with
  the deploying credentials, not the instance role: a web host never gets the right to create or
  delete database snapshots.
- ``INSTANCE_REFRESH_WAIT_SCRIPT``: waits for the Auto Scaling group's newest instance refresh
  and fails the update unless it succeeded. The provider only starts the refresh and returns
  (terraform-provider-aws#42355), so without this a failed rollout leaves ``pulumi up`` green.

Both call the AWS CLI with ``--region`` on every command (the CLI v1 ignores ``AWS_REGION``).
The deploying identity needs ``rds:DescribeDBInstances``, ``rds:DescribeDBSnapshots``,
``rds:CreateDBSnapshot``, ``rds:DeleteDBSnapshot``, ``ec2:DescribeInstances`` and
``autoscaling:DescribeInstanceRefreshes`` besides what ``pulumi up`` needs anyway.
"""

from __future__ import annotations

SNAPSHOT_TIMEOUT_SECONDS = 3600
"""Longest wait for the database to be available and for the snapshot to complete."""

REFRESH_TIMEOUT_SECONDS = 2700
"""Longest wait for an instance refresh: one batch (max healthy 200%) of hosts booting within the
health check grace period, warming up, and the old hosts draining, with room to spare."""

PRE_RELEASE_SNAPSHOT_SCRIPT = r"""set -euo pipefail
# One manual RDS snapshot before release $RELEASE_ID migrates; older pre-release snapshots pruned.
# Environment: AWS_REGION DB_INSTANCE_ID SNAPSHOT_ID SNAPSHOT_PREFIX KEEP RELEASE_ID STACK_TAG
#              TIMEOUT_SECONDS
command -v aws >/dev/null || { echo "the AWS CLI is needed on the machine running pulumi" >&2; exit 1; }
awsr() { aws --region "$AWS_REGION" "$@"; }
deadline=$((SECONDS + TIMEOUT_SECONDS))

running="$(awsr ec2 describe-instances \
    --filters "Name=tag:djangostack:stack,Values=$STACK_TAG" "Name=tag:djangostack:role,Values=web" \
              "Name=instance-state-name,Values=pending,running" \
    --query 'length(Reservations[].Instances[])' --output text)"
if [[ "$running" == 0 ]]; then
    echo "no web host has run yet (first update): the database is new, nothing to snapshot"
    exit 0
fi

snapshot_status() {
    awsr rds describe-db-snapshots --db-snapshot-identifier "$SNAPSHOT_ID" \
        --query 'DBSnapshots[0].Status' --output text 2>/dev/null || echo missing
}

status="$(snapshot_status)"
if [[ "$status" == missing ]]; then
    # CreateDBSnapshot needs the instance "available" (not backing-up, modifying, ...).
    while :; do
        db_status="$(awsr rds describe-db-instances --db-instance-identifier "$DB_INSTANCE_ID" \
            --query 'DBInstances[0].DBInstanceStatus' --output text)"
        [[ "$db_status" == available ]] && break
        if (( SECONDS >= deadline )); then
            echo "database $DB_INSTANCE_ID stayed $db_status; no snapshot taken" >&2
            exit 1
        fi
        echo "database $DB_INSTANCE_ID is $db_status; waiting before the snapshot"
        sleep 20
    done
    echo "creating snapshot $SNAPSHOT_ID of $DB_INSTANCE_ID before release $RELEASE_ID migrates"
    awsr rds create-db-snapshot --db-instance-identifier "$DB_INSTANCE_ID" \
        --db-snapshot-identifier "$SNAPSHOT_ID" --output text --query 'DBSnapshot.Status' >/dev/null
else
    # A retry of the same release (after a failed migration) keeps the snapshot of its first try.
    echo "snapshot $SNAPSHOT_ID exists ($status): it was taken before release $RELEASE_ID first ran"
fi

while :; do
    status="$(snapshot_status)"
    case "$status" in
        available) break ;;
        creating|pending) ;;
        *) echo "snapshot $SNAPSHOT_ID is $status; the release does not migrate without it" >&2; exit 1 ;;
    esac
    (( SECONDS < deadline )) || { echo "timed out waiting for snapshot $SNAPSHOT_ID ($status)" >&2; exit 1; }
    sleep 20
done
echo "snapshot $SNAPSHOT_ID is available"

ours="DBSnapshots[?starts_with(DBSnapshotIdentifier, '$SNAPSHOT_PREFIX') && Status == 'available']"
old="$(awsr rds describe-db-snapshots --db-instance-identifier "$DB_INSTANCE_ID" --snapshot-type manual \
    --query "reverse(sort_by($ours, &SnapshotCreateTime))[$KEEP:].DBSnapshotIdentifier" --output text)"
for id in $old; do
    [[ "$id" == None || "$id" == "$SNAPSHOT_ID" ]] && continue
    echo "pruning pre-release snapshot $id (keeping the newest $KEEP)"
    awsr rds delete-db-snapshot --db-snapshot-identifier "$id" --output text --query 'DBSnapshot.Status' >/dev/null
done
"""

INSTANCE_REFRESH_WAIT_SCRIPT = r"""set -euo pipefail
# Waits for the newest instance refresh of $GROUP_NAME; exits non-zero unless it succeeded.
# Environment: AWS_REGION GROUP_NAME RELEASE_ID TIMEOUT_SECONDS
command -v aws >/dev/null || { echo "the AWS CLI is needed on the machine running pulumi" >&2; exit 1; }
awsr() { aws --region "$AWS_REGION" "$@"; }
deadline=$((SECONDS + TIMEOUT_SECONDS))
while :; do
    # An API error fails the step (set -e): it is re-run by the next `pulumi up`.
    answer="$(awsr autoscaling describe-instance-refreshes \
        --auto-scaling-group-name "$GROUP_NAME" --max-records 1 \
        --query 'InstanceRefreshes[0].[InstanceRefreshId,Status,PercentageComplete,StatusReason]' \
        --output text)"
    IFS=$'\t' read -r refresh status percent reason <<<"$answer" || true
    if [[ -z "${refresh:-}" || "$refresh" == None ]]; then
        echo "no instance refresh on $GROUP_NAME (a new group starts on the current launch template)"
        exit 0
    fi
    case "$status" in
        Successful)
            echo "instance refresh $refresh finished: every host runs release $RELEASE_ID"
            exit 0
            ;;
        Failed|Cancelled|RollbackSuccessful|RollbackFailed)
            echo "instance refresh $refresh of $GROUP_NAME ended $status at ${percent:-0}%:" \
                "${reason:-no reason given}" >&2
            echo "release $RELEASE_ID is NOT live on every host; the migrations of this release are applied." >&2
            echo "Fix forward with a new app.releaseId, or put the previous release back (README: AWS, roll back)." >&2
            exit 1
            ;;
    esac
    (( SECONDS < deadline )) || {
        echo "timed out after ${TIMEOUT_SECONDS}s: instance refresh $refresh is $status at ${percent:-0}%" >&2
        exit 1
    }
    echo "instance refresh $refresh: $status, ${percent:-0}% done"
    sleep 20
done
"""

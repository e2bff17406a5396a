"""The program: load and validate settings, build the target's component, export the outputs.

``__main__.py`` calls ``main()``. Invalid settings stop the program before any resource is
registered: every problem is printed on a line of its own and the update fails without a
Python traceback (``pulumi.RunError``).
"""

from __future__ import annotations

import pulumi

from .contract.outputs import StackOutputs, export_outputs
from .settings.errors import SettingsError
from .settings.loading import StackSecrets, load_from_pulumi
from .settings.stack import StackSettings


def build_target(settings: StackSettings, secrets: StackSecrets) -> StackOutputs:
    """Create the target's top-level component and return its outputs.

    Each target module is imported only when used, so a server stack never loads the cloud SDKs.
    """
    kind = settings.target.kind
    if kind == "server":
        from .targets.server.target import deploy as deploy_server

        outputs: StackOutputs = deploy_server(settings, secrets)
        return outputs
    if kind == "aws-ec2":
        from .targets.aws.target import deploy as deploy_aws

        aws_outputs: StackOutputs = deploy_aws(settings, secrets)
        return aws_outputs
    from .targets.gcp.target import deploy as deploy_gcp

    gcp_outputs: StackOutputs = deploy_gcp(settings, secrets)
    return gcp_outputs


def _stop(exc: SettingsError) -> pulumi.RunError:
    count = len(exc.lines)
    return pulumi.RunError(
        f"invalid stack settings ({count} problem{'s' if count != 1 else ''}):\n" + "\n".join(exc.lines)
    )


def main() -> None:
    try:
        settings, secrets = load_from_pulumi()
        outputs = build_target(settings, secrets)
    except SettingsError as exc:
        raise _stop(exc) from None
    export_outputs(outputs)

"""The shared test harness (the engine itself lives in components/offline/mocking.py, shared with
``djangostack plan``)."""

from djangostack.offline.mocking import ATTRIBUTES, INVOKES, Invoke, Recording, Registered, evaluate_stack, stack_config

__all__ = [
    "ATTRIBUTES",
    "INVOKES",
    "Invoke",
    "Recording",
    "Registered",
    "dev_target",
    "evaluate_dev_with_pulumi_command",
    "evaluate_stack",
    "stack_config",
]


def dev_target(**changes: object) -> dict[str, object]:
    """The dev stack's ``target`` object with ``changes`` applied (for ``overrides={"target": ...}``)."""
    import yaml

    from djangostack.offline.mocking import REPO

    document = yaml.safe_load((REPO / "stacks" / "Pulumi.dev.yaml").read_text(encoding="utf-8"))
    target = dict(document["config"]["djangostack:target"])
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return target


def evaluate_dev_with_pulumi_command(
    overrides: dict[str, object] | None = None, secrets: dict[str, str] | None = None
) -> Recording:
    """The dev stack as a real server stack would run it: remote steps through pulumi-command (the
    default executor; the committed dev stack uses builtin-ssh for the local quick start)."""
    merged: dict[str, object] = {"target": dev_target(remoteExecutor=None)}
    merged.update(overrides or {})
    return evaluate_stack("dev", overrides=merged, secrets=secrets)

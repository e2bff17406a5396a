"""The output contract helpers."""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
import pytest

from djangostack.contract.outputs import CONTRACT, SECRET_OUTPUTS, StackOutputs, require_output


class FakeReference:
    """Stands in for pulumi.StackReference: require_output of a fixed set of outputs."""

    def __init__(self, outputs: dict[str, Any]) -> None:
        self.outputs = outputs

    def require_output(self, name: str) -> pulumi.Output[Any]:
        return pulumi.Output.from_input(self.outputs[name])


@pytest.fixture(autouse=True)
def event_loop_for_outputs() -> Any:
    """Outputs bind to the current event loop when created: give each test its own."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    with pulumi.runtime.settings.SETTINGS.lock:  # outputs made here must not outlive the loop
        pulumi.runtime.settings.SETTINGS.outputs.clear()
    asyncio.set_event_loop(None)
    loop.close()


def resolve(output: pulumi.Output[Any]) -> Any:
    return asyncio.get_event_loop().run_until_complete(output.future())


def test_a_dotted_name_reads_inside_a_map_output() -> None:
    ours = FakeReference({"networkIds": {"vpcId": "vpc-1", "privateSubnetIds": ["a", "b"]}})
    assert resolve(require_output(ours, "networkIds.vpcId")) == "vpc-1"  # type: ignore[arg-type]
    assert resolve(require_output(ours, "networkIds.privateSubnetIds")) == ["a", "b"]  # type: ignore[arg-type]


def test_a_plain_name_reads_a_top_level_output() -> None:
    network_stack = FakeReference({"vpcId": "vpc-2"})
    assert resolve(require_output(network_stack, "vpcId")) == "vpc-2"  # type: ignore[arg-type]


def test_a_missing_member_names_the_path() -> None:
    ours = FakeReference({"networkIds": {}})
    with pytest.raises(KeyError, match=r"'networkIds\.vpcId' has no 'vpcId'"):
        resolve(require_output(ours, "networkIds.vpcId"))  # type: ignore[arg-type]


def test_exactly_the_database_and_redis_urls_are_secret() -> None:
    assert {"databaseUrl", "redisUrl"} == SECRET_OUTPUTS
    names = [spec.name for spec in CONTRACT]
    assert len(names) == len(set(names))


def test_stack_outputs_use_the_contract_names_and_wrap_secrets() -> None:
    outputs = StackOutputs(
        target="server",
        environment="dev",
        url="https://a",
        hostnames=["a"],
        database_host="h",
        database_port=5432,
        database_name="d",
        database_url="postgres://x",
        redis_url="redis://y",
        media_bucket="m",
        release_id="r",
    ).as_dict()
    assert sorted(outputs) == sorted(spec.name for spec in CONTRACT)
    assert isinstance(outputs["databaseUrl"], pulumi.Output)
    assert resolve(outputs["databaseUrl"]) == "postgres://x"
    assert resolve(outputs["redisUrl"]) == "redis://y"
    assert outputs["url"] == "https://a"

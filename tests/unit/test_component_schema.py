"""The component package's schema: what ``pulumi package add`` shows other languages.

The component provider host infers it from the annotations and docstrings of ``DjangoStack`` and
``DjangoStackArgs``; built here in-process, as the provider builds it when the engine asks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.provider.experimental.component import ComponentProvider

from djangostack.contract.outputs import contract_names
from djangostack.provider import PACKAGE
from djangostack.settings.stack import SECRET_KEYS
from djangostack.stack import DjangoStack

TOKEN = "djangostack:index:DjangoStack"


@pytest.fixture(scope="module")
def resource() -> dict[str, Any]:
    provider = ComponentProvider([DjangoStack], PACKAGE, None, "1.2.3")
    assert provider.schema is not None
    schema = json.loads(provider.schema)
    assert schema["name"] == "djangostack" and schema["version"] == "1.2.3"
    assert list(schema["resources"]) == [TOKEN]
    document: dict[str, Any] = schema["resources"][TOKEN]
    return document


def test_the_inputs_are_the_stack_sections_and_the_secrets(resource: dict[str, Any]) -> None:
    inputs = resource["inputProperties"]
    sections = {"environment", "target", "app", "web", "database", "cache", "media", "celery", "domain"}
    sections |= {"network", "backups", "observability"}
    assert set(inputs) == sections | set(SECRET_KEYS)
    assert sorted(resource["requiredInputs"]) == ["app", "environment", "target"]
    assert inputs["target"]["type"] == "object"
    assert inputs["environment"]["type"] == "string"
    for key in SECRET_KEYS:
        assert inputs[key]["type"] == "string"


def test_every_input_and_output_is_described(resource: dict[str, Any]) -> None:
    undocumented = [
        k for k, v in {**resource["inputProperties"], **resource["properties"]}.items() if not v.get("description")
    ]
    assert undocumented == []
    assert resource["description"].startswith("A production Django environment")


def test_the_outputs_are_the_stack_contract(resource: dict[str, Any]) -> None:
    assert sorted(resource["properties"]) == sorted(contract_names())
    assert resource["properties"]["databasePort"]["type"] == "integer"
    hostnames = resource["properties"]["hostnames"]
    assert (hostnames["type"], hostnames["items"]["type"]) == ("array", "string")

"""DjangoStack's arguments: what a program that declares the component itself passes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from djangostack.settings.errors import SettingsError
from djangostack.stack import settings_from_args


@pytest.fixture(autouse=True)
def event_loop_for_outputs() -> Iterator[None]:
    """Outputs need an event loop; the mocks harness leaves none set after its evaluations."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def args(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "environment": "dev",
        "target": {"kind": "server", "host": "198.51.100.7", "sshUser": "deploy", "sshPort": 22.0},
        "app": {"name": "shop", "releaseId": "r1", "source": "examples/django_app"},
        "database": {"mode": "local", "port": 5433.0},
        "cache": {"mode": "local"},
        "ssh_private_key": "stand-in key",
    }
    base.update(changes)
    return base


def test_numbers_sent_as_doubles_by_other_languages_become_integers() -> None:
    settings, secrets = settings_from_args(args())
    assert settings.target.ssh_port == 22  # type: ignore[union-attr]
    assert settings.database.port == 5433
    assert secrets.get("sshPrivateKey") is not None
    assert secrets.get("secretKey") is None


def test_invalid_settings_fail_with_the_validators_lines() -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_args(args(web={"timeoutSeconds": 9000}, colour="blue"))
    text = "\n".join(caught.value.lines)
    assert "djangostack:web.timeoutSeconds" in text and "9000" in text
    assert "djangostack:colour" in text


def test_a_setting_that_is_an_output_is_refused_by_its_full_key() -> None:
    target = {"kind": "server", "host": pulumi.Output.from_input("198.51.100.7"), "sshUser": "deploy"}
    with pytest.raises(SettingsError) as caught:
        settings_from_args(args(target=target))
    assert caught.value.lines == ["djangostack:target.host: must be a plain value when the program runs, not an Output"]

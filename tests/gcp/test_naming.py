"""Pure helpers: execution token, deterministic run.app host, physical names."""

from __future__ import annotations

import pytest

from djangostack.targets.gcp.naming import (
    EXECUTION_NAME_MAX,
    check_length,
    execution_token,
    maintenance_window,
    resource_prefix,
    run_app_host,
)

IMAGE = "europe-west1-docker.pkg.dev/p/notes/app:2026.11.25-1"


def test_execution_token_is_deterministic_for_the_same_release_and_image() -> None:
    assert execution_token("2026.11.25-1", IMAGE) == execution_token("2026.11.25-1", IMAGE)


def test_execution_token_changes_with_the_release_id_or_the_image() -> None:
    base = execution_token("2026.11.25-1", IMAGE)
    assert execution_token("2026.11.25-2", IMAGE) != base
    assert execution_token("2026.11.25-1", IMAGE.replace("-1", "-9")) != base


def test_execution_token_is_short_lowercase_hex_whatever_the_release_id() -> None:
    token = execution_token("A" * 63, IMAGE)
    assert len(token) == 16
    assert token == token.lower()
    assert all(c in "0123456789abcdef" for c in token)
    assert len("notes-staging-migrate") + len(token) < EXECUTION_NAME_MAX


def test_run_app_host_uses_the_deterministic_form() -> None:
    assert run_app_host("notes-staging", "123", "europe-west1") == "notes-staging-123.europe-west1.run.app"


def test_resource_prefix_is_a_dns_safe_slug_of_app_and_stack() -> None:
    assert resource_prefix("notes", "Staging_EU") == "notes-staging-eu"


def test_names_over_the_gcp_limit_are_refused_with_the_limit_named() -> None:
    with pytest.raises(ValueError, match="at most 49"):
        check_length("Cloud Run service", "x" * 50, 49)


def test_maintenance_window_maps_to_cloud_sql_day_and_hour() -> None:
    assert maintenance_window("sun:03:00-sun:04:00") == (7, 3)
    assert maintenance_window("mon:22:30-mon:23:30") == (1, 22)

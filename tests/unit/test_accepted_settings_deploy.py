"""Accepted means deployable: every setting ``check`` accepts evaluates under mocks and stays within
the documented cloud limits, on all three targets.

Hypothesis draws whole stacks per target, leaning on what makes names, lists and environments long
(app and stack names, domain lists, extraEnv counts and sizes, bucket names, Celery, caches, scale).
For each one:

- ``validate`` (what ``djangostack check`` runs) either refuses it, with every line in the
  usual form (``djangostack:<key>: ...``), and the case is discarded; or
- the program evaluates it under the mocks engine without an exception, and
  ``djangostack.offline.cloud_limits.check_recording`` finds no breach.

``PROPERTY_EXAMPLES`` accepted settings per target (200 in CI; ``DJANGOSTACK_PROPERTY_EXAMPLES``
changes it locally). Refused draws do not count toward it.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from djangostack.offline.cloud_limits import check_recording
from djangostack.settings.errors import SettingsError
from djangostack.validation import validate
from tests.harness import evaluate_stack

PROPERTY_EXAMPLES = int(os.environ.get("DJANGOSTACK_PROPERTY_EXAMPLES", "200"))

ENVIRONMENTS = st.sampled_from(["dev", "staging", "prod"])
APP_NAMES = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", fullmatch=True),
    st.sampled_from(["notes", "shop", "a" * 12, "b" * 15, "c" * 19, "d" * 32]),
)
STACK_NAMES = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,24}", fullmatch=True),
    st.sampled_from(["dev", "staging", "prod", "feature-branch-preview"]),
)
_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?", fullmatch=True)
HOSTNAMES = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_LABEL, min_size=1, max_size=4),
    st.sampled_from(["com", "org", "dev", "io"]),
).filter(lambda name: len(name) <= 253)
DOMAIN_NAMES = st.lists(HOSTNAMES, max_size=14, unique=True)
ENV_KEYS = st.from_regex(r"[A-Z][A-Z0-9_]{0,24}", fullmatch=True).filter(lambda k: not k.startswith("DJANGO"))
ENV_VALUES = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="'\"\\$`"), max_size=40),
    st.integers(min_value=0, max_value=40_000).map(lambda n: "v" * n),
)
EXTRA_ENV = st.one_of(
    st.dictionaries(ENV_KEYS, ENV_VALUES, max_size=12),
    st.one_of(st.sampled_from([968, 969, 1_000]), st.integers(min_value=0, max_value=1_100)).map(
        lambda n: {f"BULK_{i}": "1" for i in range(n)}
    ),
)
RELEASE_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", fullmatch=True)
S3_BUCKETS = st.one_of(
    st.none(),
    st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True),
    st.sampled_from(["10.1.2.3", "media..uploads", "xn--media", "google-media", "media-s3alias"]),
)


@st.composite
def _common(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "environment": draw(ENVIRONMENTS),
        "app": {
            "name": draw(APP_NAMES),
            "releaseId": draw(RELEASE_IDS),
            "extraEnv": draw(EXTRA_ENV),
        },
        "celery": draw(st.sampled_from([{}, {"worker": True}, {"worker": True, "beat": True}])),
        "observability": {"sentry": draw(st.booleans())},
    }


@st.composite
def server_stacks(draw: st.DrawFn) -> dict[str, Any]:
    raw = draw(_common())
    raw["target"] = {"kind": "server", "host": draw(st.sampled_from(["203.0.113.10", "app.example.com"]))}
    raw["database"] = {"mode": draw(st.sampled_from(["local", "external"]))}
    raw["cache"] = {"mode": draw(st.sampled_from(["none", "local", "external"]))}
    raw["media"] = {"storage": "local"}
    names = draw(DOMAIN_NAMES)
    if names:
        tls = draw(st.sampled_from([{"mode": "letsencrypt", "email": "ops@example.com"}, {"mode": "self-signed"}]))
        raw["domain"] = {"names": names, "tls": tls}
    return raw


@st.composite
def aws_stacks(draw: st.DrawFn) -> dict[str, Any]:
    raw = draw(_common())
    instances = draw(st.sampled_from([1, 1, 2, 3]))
    raw["target"] = {"kind": "aws-ec2", "region": "eu-west-1", "instances": instances}
    raw["cache"] = {"mode": draw(st.sampled_from(["none", "managed"])), "replicas": draw(st.integers(0, 2))}
    raw["media"] = {"storage": "s3", "bucketName": draw(S3_BUCKETS)}
    if raw["media"]["bucketName"] is None:
        del raw["media"]["bucketName"]
    raw["network"] = {"nat": draw(st.sampled_from(["single", "per-az"]))}
    names = draw(DOMAIN_NAMES)
    if instances > 1:
        raw["domain"] = {"names": names or ["app.example.com"], "tls": {"mode": "acm"}}
    elif names:
        raw["domain"] = {"names": names, "tls": {"mode": "letsencrypt", "email": "ops@example.com"}}
    return raw


@st.composite
def gcp_stacks(draw: st.DrawFn) -> dict[str, Any]:
    raw = draw(_common())
    project = draw(st.from_regex(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", fullmatch=True))
    raw["target"] = {"kind": "gcp-cloudrun", "project": project, "region": "europe-west1"}
    raw["app"]["image"] = f"europe-west1-docker.pkg.dev/{project}/app/web:{raw['app']['releaseId']}"
    raw["cache"] = {"mode": draw(st.sampled_from(["none", "managed"]))}
    bucket = draw(S3_BUCKETS)
    raw["media"] = {"storage": "gcs", **({"bucketName": bucket} if bucket else {})}
    names = draw(DOMAIN_NAMES)
    if names:
        raw["domain"] = {"names": names, "tls": {"mode": "managed"}}
    return raw


STRATEGIES = {"server": server_stacks(), "aws-ec2": aws_stacks(), "gcp-cloudrun": gcp_stacks()}


def _secrets(raw: dict[str, Any]) -> set[str]:
    secrets = set()
    if raw["target"]["kind"] == "server":
        secrets.add("sshPrivateKey")
    if raw.get("database", {}).get("mode") == "external":
        secrets.add("databaseUrl")
    if raw.get("cache", {}).get("mode") == "external":
        secrets.add("redisUrl")
    if raw["observability"]["sentry"]:
        secrets.add("sentryDsn")
    return secrets


@pytest.fixture(scope="module")
def user_data_pending() -> bool:
    """True while the prod launch template's user data is over EC2's 16 KB (issue 10 item 1, the
    aws branch's small loader; see tests/unit/test_cloud_limits.py). Until then that one limit is
    left out here; once the loader is merged it is checked like every other."""
    breaches = check_recording(evaluate_stack("prod"))
    return any(b.prop == "userData" for b in breaches)


_COUNTER = itertools.count()


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_every_setting_check_accepts_evaluates_under_mocks_within_the_cloud_limits(
    kind: str, tmp_path_factory: pytest.TempPathFactory, user_data_pending: bool
) -> None:
    directory = tmp_path_factory.mktemp(f"property-{kind}")

    @settings(
        max_examples=PROPERTY_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(raw=STRATEGIES[kind], stack=STACK_NAMES)
    def accepted_is_deployable(raw: dict[str, Any], stack: str) -> None:
        secrets = _secrets(raw)
        try:
            validate(raw, secrets, set(), stack=stack)
        except SettingsError as exc:
            bad = [line for line in exc.lines if not line.startswith("djangostack:")]
            assert not bad, f"refusals must name the full key: {bad}"
            reject()
        path = directory / str(next(_COUNTER)) / f"Pulumi.{stack}.yaml"
        path.parent.mkdir()
        config: dict[str, Any] = {f"djangostack:{key}": value for key, value in raw.items()}
        config.update({f"djangostack:{key}": {"secure": "v1:stand-in"} for key in secrets})
        path.write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
        recording = evaluate_stack(path)
        breaches = [b for b in check_recording(recording) if not (user_data_pending and b.prop.startswith("userData"))]
        assert not breaches, "\n".join(b.line() for b in breaches)

    accepted_is_deployable()


def test_the_generators_reach_the_limits_they_are_meant_to_probe() -> None:
    """Without this the property could pass on settings that never come near a limit."""
    examples: list[tuple[dict[str, Any], str]] = []

    @settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(raw=st.one_of(*STRATEGIES.values()), stack=STACK_NAMES)
    def collect(raw: dict[str, Any], stack: str) -> None:
        examples.append((raw, stack))

    collect()
    refused = 0
    for raw, stack in examples:
        try:
            validate(raw, _secrets(raw), set(), stack=stack)
        except SettingsError:
            refused += 1
    assert 0 < refused < len(examples), f"{refused} of {len(examples)} refused"
    assert max(len(raw["app"]["name"]) for raw, _ in examples) == 32
    assert max(len(raw["app"]["extraEnv"]) for raw, _ in examples) > 968
    assert max(len(v) for raw, _ in examples for v in raw["app"]["extraEnv"].values()) > 32_768
    assert max(len(raw.get("domain", {}).get("names", [])) for raw, _ in examples) > 10

"""Compute: block devices encrypted, IMDSv2 only, container images pinned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Context, Guardrail, as_list, dig, is_true
from .rendered import containers
from .resource_types import (
    CLOUD_RUN_JOB,
    CLOUD_RUN_SERVICE,
    CLOUD_RUN_V1_SERVICE,
    CLOUD_RUN_WORKER_POOL,
    EBS_VOLUME,
    EC2_INSTANCE,
    ECS_TASK_DEFINITION,
    LAUNCH_TEMPLATE,
)


def _ebs_encrypted(device: Any) -> bool:
    return is_true(dig(device, "ebs.encrypted"))


def _check_volume_encryption(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type == LAUNCH_TEMPLATE:
        devices = as_list(props.get("blockDeviceMappings"))
        if not devices:
            return [
                "blockDeviceMappings is empty: the root volume follows the AMI and may be unencrypted; "
                "declare the root device with ebs.encrypted true"
            ]
        return [
            f"blockDeviceMappings[{i}] ({dig(device, 'deviceName', '?')}) is not encrypted: set ebs.encrypted true"
            for i, device in enumerate(devices)
            if dig(device, "ebs") is not None and not _ebs_encrypted(device)
        ]
    if resource_type == EC2_INSTANCE:
        problems = []
        root = props.get("rootBlockDevice")
        if root is None and props.get("launchTemplate") is None:
            problems.append("rootBlockDevice is not declared (and no launch template): set rootBlockDevice.encrypted")
        elif root is not None and not is_true(dig(root, "encrypted")):
            problems.append("rootBlockDevice.encrypted is not true")
        problems += [
            f"ebsBlockDevices[{i}] is not encrypted"
            for i, device in enumerate(as_list(props.get("ebsBlockDevices")))
            if not is_true(dig(device, "encrypted"))
        ]
        return problems
    if resource_type == EBS_VOLUME and not is_true(props.get("encrypted")):
        return ["encrypted is not true"]
    return []


def _check_imdsv2(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    if resource_type not in {LAUNCH_TEMPLATE, EC2_INSTANCE}:
        return []
    tokens = dig(props, "metadataOptions.httpTokens")
    if tokens == "required":
        return []
    if resource_type == EC2_INSTANCE and tokens is None and props.get("launchTemplate") is not None:
        return []  # the instance takes its metadata options from the launch template, checked on its own
    return [
        f"metadataOptions.httpTokens is {tokens!r}: set 'required' so only IMDSv2 session tokens can read "
        "the instance role's credentials"
    ]


def image_problem(image: str) -> str | None:
    """Why an image reference is mutable (None when it is pinned by a tag other than latest, or a digest)."""
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag, so it means :latest; pin a release tag or a digest"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image!r} uses the mutable tag latest; pin a release tag or a digest"
    return None


def _check_latest_images(resource_type: str, props: Mapping[str, Any], context: Context) -> list[str]:
    problems = []
    for container in containers(resource_type, props):
        image = container.get("image")
        problem = image_problem(image) if isinstance(image, str) else None
        if problem:
            problems.append(f"container {container.get('name', '?')}: {problem}")
    return problems


GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "volume-encrypted-at-rest",
        "EC2 launch templates, instances and EBS volumes encrypt their block devices.",
        _check_volume_encryption,
        frozenset({LAUNCH_TEMPLATE, EC2_INSTANCE, EBS_VOLUME}),
    ),
    Guardrail(
        "imdsv2-required",
        "Launch templates and instances require IMDSv2 (metadataOptions.httpTokens = required).",
        _check_imdsv2,
        frozenset({LAUNCH_TEMPLATE, EC2_INSTANCE}),
    ),
    Guardrail(
        "no-latest-images",
        "Cloud Run services, jobs and worker pools (and ECS tasks) run a pinned image: a release tag or a "
        "digest, never latest or no tag.",
        _check_latest_images,
        frozenset({CLOUD_RUN_SERVICE, CLOUD_RUN_JOB, CLOUD_RUN_WORKER_POOL, CLOUD_RUN_V1_SERVICE, ECS_TASK_DEFINITION}),
    ),
)

"""On Cloud Run the release is the image: the release id derived from it when unset."""

from __future__ import annotations

import re

import pytest

from djangostack.targets.gcp.naming import image_release_id

DIGEST = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (f"europe-west1-docker.pkg.dev/p/r/app@sha256:{DIGEST}", "img-0123456789abcdef"),
        (f"europe-west1-docker.pkg.dev/p/r/app:v1@sha256:{DIGEST}", "img-0123456789abcdef"),
        ("europe-west1-docker.pkg.dev/p/r/app:2026.11.25-1", "2026.11.25-1"),
        ("localhost:5000/app:v2", "v2"),
    ],
)
def test_the_release_id_of_an_image_is_its_digest_or_its_tag(image: str, expected: str) -> None:
    assert image_release_id(image) == expected


def test_a_tag_that_is_no_release_id_is_hashed() -> None:
    tag = "_" + "x" * 100
    derived = image_release_id(f"europe-west1-docker.pkg.dev/p/r/app:{tag}")
    assert re.fullmatch(r"img-[0-9a-f]{16}", derived)
    assert derived != image_release_id("europe-west1-docker.pkg.dev/p/r/app:_other")

"""The hosts' grant on the media bucket against S3's documented HeadObject behaviour and what
django-storages does with it (issue 12 AWS 5).

S3 answers HeadObject on a missing key with 404 only to a caller allowed ``s3:ListBucket`` on the
bucket, else 403 (S3 API reference, HeadObject, "Permissions"). django-storages'
``S3Storage.exists()`` is a HeadObject that treats only 404 as "absent"; with ``file_overwrite=False``
every save calls it through ``get_available_name``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

from djangostack.offline.mocking import Recording


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    """IAM condition evaluation for the operators our policies use; a key missing from the request
    makes a plain operator false and an ...IfExists operator true."""
    for operator, clauses in condition.items():
        base = operator.removesuffix("IfExists")
        for key, wanted in clauses.items():
            values = wanted if isinstance(wanted, list) else [wanted]
            if key not in context:
                if operator.endswith("IfExists"):
                    continue
                return False
            actual = context[key]
            if base == "StringLike" and not any(fnmatch.fnmatchcase(actual, v) for v in values):
                return False
            if base == "StringEquals" and actual not in values:
                return False
            if base not in ("StringLike", "StringEquals"):
                raise AssertionError(f"operator {operator} not modelled by this test")
    return True


def _allows(policy: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if (
            statement["Effect"] == "Allow"
            and action in actions
            and any(fnmatch.fnmatchcase(resource, r) for r in resources)
            and _condition_holds(statement.get("Condition", {}), context)
        ):
            return True
    return False


def test_head_object_on_a_missing_media_key_is_a_404_not_a_403(single: Recording) -> None:
    policy = json.loads(single.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    bucket = single.one("aws:s3/bucket:Bucket").state["arn"]
    # S3 answers a HeadObject on a missing key with 404 only when the caller may s3:ListBucket the
    # bucket; the HeadObject request context has no s3:prefix key.
    assert _allows(policy, "s3:GetObject", f"{bucket}/media/uploads/a.png", {})
    assert _allows(policy, "s3:ListBucket", bucket, {}), "HeadObject on a missing key would be 403"
    # What django-storages' listdir() sends keeps working.
    assert _allows(policy, "s3:ListBucket", bucket, {"s3:prefix": "media/uploads/"})
    # Object access is still scoped to the two prefixes.
    assert not _allows(policy, "s3:PutObject", f"{bucket}/releases/x.tar.gz", {})
    assert not _allows(policy, "s3:GetObject", f"{bucket}/other/x", {})
    assert not _allows(policy, "s3:ListBucket", "arn:aws:s3:::someone-elses-bucket", {})


DJANGO_STORAGES_PROBE = textwrap.dedent(
    """
    import django
    from django.conf import settings
    settings.configure(STORAGES={"default": {"BACKEND": "storages.backends.s3.S3Storage"}})
    django.setup()
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber
    from storages.backends.s3 import S3Storage

    storage = S3Storage(bucket_name="b", region_name="eu-north-1", access_key="k", secret_key="s",
                        file_overwrite=False, location="media")
    client = storage.connection.meta.client
    with Stubber(client) as stub:
        stub.add_client_error("head_object", http_status_code=404, service_error_code="404",
                              expected_params={"Bucket": "b", "Key": "media/a.txt"})
        print("404:", storage.get_available_name("a.txt"))
    with Stubber(client) as stub:
        stub.add_client_error("head_object", http_status_code=403, service_error_code="403",
                              expected_params={"Bucket": "b", "Key": "media/a.txt"})
        try:
            storage.get_available_name("a.txt")
        except ClientError as error:
            print("403: raises", error.response["Error"]["Code"])
    """
)


def test_django_storages_without_overwrite_fails_an_upload_on_a_403_head_object() -> None:
    """Why the grant matters: with ``file_overwrite=False`` every save asks ``exists()``, a
    HeadObject, and only a 404 means "free"; a 403 propagates and the upload fails."""
    result = subprocess.run(
        [sys.executable, "-c", DJANGO_STORAGES_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["404: a.txt", "403: raises 403"]

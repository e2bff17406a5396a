"""Mock answers for the GCP resources and invokes the program uses (see components/offline/mocking.py).

Values mimic what the real APIs return (camelCase, as the provider reports them): Cloud SQL
connection names ``project:region:instance``, Memorystore's TLS port 6378 and per-instance CA,
service account emails, run.app URLs. Secrets the provider generates (the Redis AUTH string) carry a
recognisable ``mock-auth-`` prefix so tests can prove they never appear in plaintext.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MOCK_PROJECT_NUMBER = "123456789012"
"""What ``organizations.getProject`` answers for any project."""

MOCK_REDIS_CA = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBmockMemorystoreServerCaForTestsOnly0000000000000000000000000000\n"
    "-----END CERTIFICATE-----"
)

REFERENCED_NETWORK_ID = "projects/acme-shared-net/global/networks/shared-vpc"
"""The VPC id a referenced network stack exports (``network.mode: reference``)."""

_REGION_CODES = {"europe-west1": "ew", "us-central1": "uc", "us-east1": "ue", "europe-west4": "ez"}


def _project(inputs: dict[str, Any]) -> str:
    return str(inputs.get("project") or "mock-project")


def _region(inputs: dict[str, Any]) -> str:
    return str(inputs.get("region") or inputs.get("location") or "europe-west1").lower()


def _global_link(inputs: dict[str, Any], collection: str, name: str) -> str:
    base = f"https://www.googleapis.com/compute/v1/projects/{_project(inputs)}/global"
    return f"{base}/{collection}/{inputs.get('name', name)}"


def _account(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    email = f"{inputs.get('accountId', name)}@{_project(inputs)}.iam.gserviceaccount.com"
    return {
        "email": email,
        "member": f"serviceAccount:{email}",
        "name": f"projects/{_project(inputs)}/serviceAccounts/{email}",
        "uniqueId": "104000000000000000001",
    }


def _sql_instance(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    instance = inputs.get("name", name)
    private_ip = "10.20.0.3"
    return {
        "connectionName": f"{_project(inputs)}:{_region(inputs)}:{instance}",
        "privateIpAddress": private_ip,
        "publicIpAddress": "",
        "ipAddresses": [{"type": "PRIVATE", "ipAddress": private_ip}],
        "selfLink": f"https://sqladmin.googleapis.com/sql/v1beta4/projects/{_project(inputs)}/instances/{instance}",
        "serviceAccountEmailAddress": f"p{MOCK_PROJECT_NUMBER}-abc@gcp-sa-cloud-sql.iam.gserviceaccount.com",
        "firstIpAddress": private_ip,
    }


def _redis(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "host": "10.20.1.4",
        "port": 6378 if inputs.get("transitEncryptionMode") == "SERVER_AUTHENTICATION" else 6379,
        "authString": f"mock-auth-{name}",
        "serverCaCerts": [{"cert": MOCK_REDIS_CA, "serialNumber": "0", "sha1Fingerprint": "00"}],
        "currentLocationId": f"{_region(inputs)}-b",
        "persistenceIamIdentity": f"serviceAccount:service-{MOCK_PROJECT_NUMBER}@cloud-redis.iam.gserviceaccount.com",
    }


def _run_service(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    service = inputs.get("name", name)
    region = _region(inputs)
    legacy = f"https://{service}-xyz-{_REGION_CODES.get(region, 'xx')}.a.run.app"
    return {
        "uri": legacy,
        "urls": [f"https://{service}-{MOCK_PROJECT_NUMBER}.{region}.run.app", legacy],
        "latestReadyRevision": f"{service}-00001-abc",
        "latestCreatedRevision": f"{service}-00001-abc",
        "uid": "00000000-0000-0000-0000-000000000001",
    }


def _run_job(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    job = inputs.get("name", name)
    token = inputs.get("runExecutionToken") or "manual"
    return {
        "latestCreatedExecution": {"name": f"{job}-{token}", "completionStatus": "EXECUTION_SUCCEEDED"},
        "executionCount": 1,
        "uid": "00000000-0000-0000-0000-000000000002",
    }


ATTRIBUTES: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "gcp:projects/service:Service": lambda name, inputs: {},
    "gcp:artifactregistry/repository:Repository": lambda name, inputs: {
        "name": f"projects/{_project(inputs)}/locations/{_region(inputs)}/repositories/{inputs.get('repositoryId')}",
        "createTime": "2026-01-01T00:00:00Z",
    },
    "gcp:serviceaccount/account:Account": _account,
    "gcp:projects/iAMMember:IAMMember": lambda name, inputs: {"etag": "BwYmock="},
    "gcp:secretmanager/secretIamMember:SecretIamMember": lambda name, inputs: {"etag": "BwYmock="},
    "gcp:storage/bucketIAMMember:BucketIAMMember": lambda name, inputs: {"etag": "CAE="},
    "gcp:serviceaccount/iAMMember:IAMMember": lambda name, inputs: {"etag": "BwYmock="},
    "gcp:compute/network:Network": lambda name, inputs: {
        "selfLink": _global_link(inputs, "networks", name),
        "numericId": "5000000000000000001",
    },
    "gcp:compute/subnetwork:Subnetwork": lambda name, inputs: {
        "selfLink": (
            f"https://www.googleapis.com/compute/v1/projects/{_project(inputs)}/regions/{_region(inputs)}"
            f"/subnetworks/{inputs.get('name', name)}"
        ),
        "gatewayAddress": "10.8.0.1",
    },
    "gcp:compute/globalAddress:GlobalAddress": lambda name, inputs: {
        "selfLink": _global_link(inputs, "addresses", name),
    },
    "gcp:servicenetworking/connection:Connection": lambda name, inputs: {
        "peering": "servicenetworking-googleapis-com",
    },
    "gcp:sql/databaseInstance:DatabaseInstance": _sql_instance,
    "gcp:sql/database:Database": lambda name, inputs: {"charset": "UTF8", "collation": "en_US.UTF8"},
    "gcp:sql/user:User": lambda name, inputs: {},
    "gcp:redis/instance:Instance": _redis,
    "gcp:secretmanager/secret:Secret": lambda name, inputs: {
        "name": f"projects/{MOCK_PROJECT_NUMBER}/secrets/{inputs.get('secretId', name)}",
    },
    "gcp:secretmanager/secretVersion:SecretVersion": lambda name, inputs: {
        "version": "1",
        "name": f"{inputs.get('secret', name)}/versions/1",
        "enabled": True,
    },
    "gcp:storage/bucket:Bucket": lambda name, inputs: {
        "url": f"gs://{inputs.get('name', name)}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{inputs.get('name', name)}",
    },
    "gcp:cloudrunv2/service:Service": _run_service,
    "gcp:cloudrunv2/job:Job": _run_job,
    "gcp:cloudrunv2/workerPool:WorkerPool": lambda name, inputs: {
        "latestReadyRevision": f"{inputs.get('name', name)}-00001-abc",
        "uid": "00000000-0000-0000-0000-000000000003",
    },
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": lambda name, inputs: {"etag": "BwYmock="},
    "gcp:cloudrun/domainMapping:DomainMapping": lambda name, inputs: {
        "statuses": [{"resourceRecords": [{"type": "CNAME", "rrdata": "ghs.googlehosted.com.", "name": "staging"}]}],
    },
    # A network stack consumed through pulumi.StackReference (network.mode: reference).
    "pulumi:pulumi:StackReference": lambda name, inputs: {
        "outputs": {
            "vpcId": REFERENCED_NETWORK_ID,
            "publicSubnetIds": [],
            "privateSubnetIds": [],
        },
        "secretOutputNames": [],
    },
}
"""Type token -> output attributes a real GCP resource would have (camelCase)."""

INVOKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "gcp:organizations/getProject:getProject": lambda args: {
        "id": f"projects/{args.get('projectId', 'mock-project')}",
        "projectId": args.get("projectId", "mock-project"),
        "number": MOCK_PROJECT_NUMBER,
        "name": args.get("projectId", "mock-project"),
    },
}
"""Invoke token -> a realistic result."""

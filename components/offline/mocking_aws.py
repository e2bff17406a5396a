"""Mock answers for the AWS resources and invokes the program uses (see components/offline/mocking.py).

Attributes use the provider's camelCase output names and realistic shapes (ARNs, endpoints, ids),
so every output the program reads is known under mocks. The account is 123456789012 and the
region eu-west-1 (mocks do not see the provider's region).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

ACCOUNT = "123456789012"
REGION = "eu-west-1"

Attrs = Callable[[str, dict[str, Any]], dict[str, Any]]


def _hex(name: str, length: int = 17) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:length]


def _arn(service: str, resource: str, region: str = REGION) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def _ip(name: str, first: int) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return f"{first}.{digest[0]}.{digest[1]}.{max(digest[2], 1)}"


def _certificate(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    names = [inputs.get("domainName", "example.com"), *(inputs.get("subjectAlternativeNames") or [])]
    return {
        "arn": _arn("acm", f"certificate/{_hex(name, 8)}-0000-4000-8000-{_hex(name, 12)}"),
        "status": "PENDING_VALIDATION",
        "domainValidationOptions": [
            {
                "domainName": domain,
                "resourceRecordName": f"_{_hex(domain, 32)}.{domain}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{_hex(domain + 'v', 32)}.acm-validations.aws.",
            }
            for domain in names
        ],
    }


def _rds_instance(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    address = f"{name}.c{_hex(name, 11)}.{REGION}.rds.amazonaws.com"
    port = int(inputs.get("port", 5432))
    return {
        "address": address,
        "endpoint": f"{address}:{port}",
        "port": port,
        "identifier": name,
        "resourceId": f"db-{_hex(name, 26).upper()}",
        "arn": _arn("rds", f"db:{name}"),
        "masterUserSecrets": [
            {
                "secretArn": _arn("secretsmanager", f"secret:rds!db-{_hex(name, 8)}-{_hex(name, 6)}"),
                "secretStatus": "active",
                "kmsKeyId": _arn("kms", f"key/{_hex(name, 8)}"),
            }
        ],
    }


ATTRIBUTES: dict[str, Attrs] = {
    "pulumi:pulumi:StackReference": lambda name, inputs: {
        "outputs": {
            "vpcId": "vpc-0ref0000000000001",
            "publicSubnetIds": ["subnet-0refpub00000001", "subnet-0refpub00000002"],
            "privateSubnetIds": ["subnet-0refpriv0000001", "subnet-0refpriv0000002"],
        },
        "secretOutputNames": [],
    },
    "aws:ec2/vpc:Vpc": lambda name, inputs: {
        "arn": _arn("ec2", f"vpc/vpc-{_hex(name)}"),
        "defaultSecurityGroupId": f"sg-{_hex(name + 'default')}",
    },
    "aws:ec2/subnet:Subnet": lambda name, inputs: {"arn": _arn("ec2", f"subnet/subnet-{_hex(name)}")},
    "aws:ec2/eip:Eip": lambda name, inputs: {
        "publicIp": _ip(name, 54),
        "allocationId": f"eipalloc-{_hex(name)}",
        "publicDns": f"ec2-{_ip(name, 54).replace('.', '-')}.{REGION}.compute.amazonaws.com",
    },
    "aws:ec2/natGateway:NatGateway": lambda name, inputs: {"publicIp": _ip(name, 52)},
    "aws:ec2/securityGroup:SecurityGroup": lambda name, inputs: {
        "arn": _arn("ec2", f"security-group/sg-{_hex(name)}"),
        "name": f"{name}-{_hex(name, 7)}",
    },
    "aws:rds/subnetGroup:SubnetGroup": lambda name, inputs: {
        "name": f"{name}-{_hex(name, 7)}",
        "arn": _arn("rds", f"subgrp:{name}"),
    },
    "aws:rds/parameterGroup:ParameterGroup": lambda name, inputs: {
        "name": f"{name}-{_hex(name, 7)}",
        "arn": _arn("rds", f"pg:{name}"),
    },
    "aws:rds/instance:Instance": _rds_instance,
    "aws:elasticache/subnetGroup:SubnetGroup": lambda name, inputs: {"name": f"{name}-{_hex(name, 7)}"},
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda name, inputs: {
        "primaryEndpointAddress": f"master.{name}.{_hex(name, 6)}.euw1.cache.amazonaws.com",
        "readerEndpointAddress": f"replica.{name}.{_hex(name, 6)}.euw1.cache.amazonaws.com",
        "port": int(inputs.get("port", 6379)),
        "arn": _arn("elasticache", f"replicationgroup:{name}"),
    },
    "aws:s3/bucket:Bucket": lambda name, inputs: {
        "bucket": inputs.get("bucket") or f"{name}-{_hex(name, 7)}",
        "arn": f"arn:aws:s3:::{inputs.get('bucket') or f'{name}-{_hex(name, 7)}'}",
        "bucketRegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
        "region": REGION,
    },
    "aws:s3/bucketObjectv2:BucketObjectv2": lambda name, inputs: {"versionId": _hex(name, 32), "etag": _hex(name, 32)},
    "aws:secretsmanager/secret:Secret": lambda name, inputs: {
        "arn": _arn("secretsmanager", f"secret:{name}-{_hex(name, 6)}"),
        "name": f"{name}-{_hex(name, 7)}",
    },
    "aws:secretsmanager/secretVersion:SecretVersion": lambda name, inputs: {
        "versionId": f"{_hex(name, 8)}-0000-4000-8000-{_hex(name, 12)}",
        "arn": _arn("secretsmanager", f"secret:{name}-{_hex(name, 6)}"),
    },
    "aws:iam/role:Role": lambda name, inputs: {
        "name": f"{name}-{_hex(name, 7)}",
        "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}-{_hex(name, 7)}",
        "uniqueId": f"AROA{_hex(name, 17).upper()}",
    },
    "aws:iam/instanceProfile:InstanceProfile": lambda name, inputs: {
        "name": f"{name}-{_hex(name, 7)}",
        "arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/{name}-{_hex(name, 7)}",
    },
    "aws:ssm/document:Document": lambda name, inputs: {
        "name": f"{name}-{_hex(name, 7)}",
        "arn": _arn("ssm", f"document/{name}-{_hex(name, 7)}"),
        "status": "Active",
    },
    "aws:ec2/launchTemplate:LaunchTemplate": lambda name, inputs: {
        "latestVersion": 1,
        "defaultVersion": 1,
        "arn": _arn("ec2", f"launch-template/lt-{_hex(name)}"),
    },
    "aws:ec2/instance:Instance": lambda name, inputs: {
        "privateIp": _ip(name, 10),
        "publicIp": "",
        "arn": _arn("ec2", f"instance/i-{_hex(name)}"),
        "instanceState": "running",
    },
    "aws:ec2/eipAssociation:EipAssociation": lambda name, inputs: {"publicIp": _ip(name, 54)},
    "aws:lb/loadBalancer:LoadBalancer": lambda name, inputs: {
        "dnsName": f"{name}-{_hex(name, 10)}.{REGION}.elb.amazonaws.com",
        "zoneId": "Z32O12XQLNTSW2",
        "arn": _arn("elasticloadbalancing", f"loadbalancer/app/{name}/{_hex(name, 16)}"),
        "arnSuffix": f"app/{name}/{_hex(name, 16)}",
    },
    "aws:lb/targetGroup:TargetGroup": lambda name, inputs: {
        "arn": _arn("elasticloadbalancing", f"targetgroup/{name}/{_hex(name, 16)}"),
        "arnSuffix": f"targetgroup/{name}/{_hex(name, 16)}",
    },
    "aws:lb/listener:Listener": lambda name, inputs: {
        "arn": _arn("elasticloadbalancing", f"listener/app/{name}/{_hex(name, 16)}"),
    },
    "aws:acm/certificate:Certificate": _certificate,
    "aws:acm/certificateValidation:CertificateValidation": lambda name, inputs: {
        "certificateArn": inputs.get("certificateArn", ""),
    },
    "aws:route53/record:Record": lambda name, inputs: {"fqdn": str(inputs.get("name", "")).rstrip(".")},
    "aws:autoscaling/group:Group": lambda name, inputs: {
        "name": f"{name}-{_hex(name, 7)}",
        "arn": _arn("autoscaling", f"autoScalingGroup:{_hex(name, 8)}:autoScalingGroupName/{name}"),
    },
}
"""Type token -> output attributes a real AWS resource would have (camelCase)."""


def _ami(args: dict[str, Any]) -> dict[str, Any]:
    values = [v for f in args.get("filters", []) if f.get("name") == "name" for v in f.get("values", [])]
    name_filter = values[0] if values else "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
    arch = "arm64" if "arm64" in name_filter else "x86_64"
    return {
        "id": "ami-0a1b2c3d4e5f60718" if arch == "x86_64" else "ami-0f1e2d3c4b5a69788",
        "imageId": "ami-0a1b2c3d4e5f60718" if arch == "x86_64" else "ami-0f1e2d3c4b5a69788",
        "name": name_filter.replace("*", "20260101"),
        "architecture": arch,
        "ownerId": "099720109477",
        "rootDeviceName": "/dev/sda1",
        "rootDeviceType": "ebs",
        "virtualizationType": "hvm",
    }


INVOKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda args: {
        "id": REGION,
        "names": [f"{REGION}a", f"{REGION}b", f"{REGION}c"],
        "zoneIds": ["euw1-az1", "euw1-az2", "euw1-az3"],
        "groupNames": [REGION],
    },
    "aws:ec2/getAmi:getAmi": _ami,
    "aws:index/getPartition:getPartition": lambda args: {
        "id": "aws",
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
    },
}
"""Invoke token -> a realistic result."""

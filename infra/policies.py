"""IAM documents for the role Redshift assumes: least privilege, only the configured S3."""

from __future__ import annotations

from typing import Any

from infra.config import InfraConfig, S3Location


def trust_policy(serverless: bool) -> dict[str, Any]:
    services = ["redshift.amazonaws.com"]
    if serverless:
        services.append("redshift-serverless.amazonaws.com")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": services},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def _list_statement(sid: str, location: S3Location) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
        "Resource": location.bucket_arn(),
    }
    if location.prefix:
        statement["Condition"] = {
            "StringLike": {"s3:prefix": [f"{location.prefix}/*", location.prefix]}
        }
    return statement


def s3_access_policy(config: InfraConfig) -> dict[str, Any]:
    """Read-only on the sources; read and write on the manifest prefix only, when configured."""
    statements: list[dict[str, Any]] = []
    for index, source in enumerate(config.sources):
        statements.append(_list_statement(f"ListSource{index}", source))
        statements.append(
            {
                "Sid": f"ReadSource{index}",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": source.object_arn(),
            }
        )
    if config.manifest_prefix:
        statements.append(_list_statement("ListManifests", config.manifest_prefix))
        statements.append(
            {
                "Sid": "ReadWriteManifests",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": config.manifest_prefix.object_arn(),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}

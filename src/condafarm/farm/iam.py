"""`iam-policy`: the IAM policy a Deadline Cloud queue role needs on a channel. Production (render) queues
read: s3:GetObject and s3:ListBucket on the channel prefix only. The queue that builds and publishes packages
also writes: s3:PutObject, s3:DeleteObject, s3:GetBucketLocation for its uploads, and the multipart actions that let
`index` find and abort uploads a killed publisher left open."""

from __future__ import annotations

import json
from typing import Any

from ..errors import UsageError
from ..storage.location import Channel


def iam_policy(channel: Channel, *, read_write: bool = False, job_records: Channel | None = None) -> dict[str, Any]:
    """The policy document (as a dict) for a queue role using `channel`, and writing job package records
    (`env enter --job-records`) under `job_records` if given: get, put and delete (the store probe) there only."""
    if not channel.is_s3:
        raise UsageError(f"{channel.url} is a folder; IAM policies are for s3:// channels")
    bucket = f"arn:aws:s3:::{channel.bucket}"
    objects = f"{bucket}/{channel.prefix}/*" if channel.prefix else f"{bucket}/*"
    listing: dict[str, Any] = {
        "Sid": "ListChannel",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [bucket],
    }
    if channel.prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [channel.prefix, f"{channel.prefix}/*"]}}
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadChannel", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [objects]},
        listing,
    ]
    if read_write:
        statements += [
            {
                "Sid": "PublishToChannel",
                "Effect": "Allow",
                # the multipart actions let `index` abort uploads a killed publisher left (billed while open)
                "Action": ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                "Resource": [objects],
            },
            {
                "Sid": "LocateChannelBucket",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                "Resource": [bucket],
            },
        ]
    if job_records is not None:
        if not job_records.is_s3:
            raise UsageError(f"{job_records.url} is a folder; IAM policies are for s3:// job record locations")
        records = f"arn:aws:s3:::{job_records.bucket}/{job_records.prefix + '/' if job_records.prefix else ''}*"
        statements.append(
            {
                "Sid": "JobPackageRecords",
                "Effect": "Allow",
                # DeleteObject: the one-time probe that the store honours conditional writes (storage/conditions.py)
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [records],
            }
        )
        # Without ListBucket S3 answers 403 instead of 404 for a record not written yet: every first session
        # of a job would look denied instead of finding no record.
        record_listing: dict[str, Any] = {
            "Sid": "ListJobPackageRecords",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{job_records.bucket}"],
        }
        if job_records.prefix:
            prefixes = [job_records.prefix, f"{job_records.prefix}/*"]
            record_listing["Condition"] = {"StringLike": {"s3:prefix": prefixes}}
        statements.append(record_listing)
    return {"Version": "2012-10-17", "Statement": statements}


def policy_name(channel: Channel, *, read_write: bool = False) -> str:
    """A stable inline-policy name: `condafarm-BUCKET-read` or `condafarm-BUCKET-write`."""
    return f"condafarm-{channel.bucket}-{'write' if read_write else 'read'}"


def attach_command(channel: Channel, role_name: str, *, read_write: bool = False, file: str = "policy.json") -> str:
    """The AWS CLI command that attaches the policy (saved to `file`) to `role_name` as an inline policy."""
    return (
        f"aws iam put-role-policy --role-name {role_name} --policy-name {policy_name(channel, read_write=read_write)} "
        f"--policy-document file://{file}"
    )


def policy_json(channel: Channel, *, read_write: bool = False, job_records: Channel | None = None) -> str:
    return json.dumps(iam_policy(channel, read_write=read_write, job_records=job_records), indent=2)

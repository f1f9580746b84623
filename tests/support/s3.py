"""A local S3 endpoint as tests and bench/ see it: boto3 clients for it, buckets, and uploads as a plain uploader."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    port: int

    def client(self, key: str = "testing", secret: str = "testing", max_pool_connections: int = 10) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=botocore.config.Config(s3={"addressing_style": "path"}, max_pool_connections=max_pool_connections),
        )

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should use this endpoint through condafarm's own options."""
        return {**os.environ, "S3_ENDPOINT_URL": self.url, "S3_REGION": "us-east-1", "S3_FORCE_PATH_STYLE": "true"}


@dataclass(frozen=True)
class IamEndpoint:
    """An S3 endpoint that enforces IAM: `writer` may do anything on S3, `reader` only Get and List."""

    s3: S3Endpoint
    bucket: str
    reader: tuple[str, str]
    writer: tuple[str, str]

    def env(self, keys: tuple[str, str]) -> dict[str, str]:
        return {**self.s3.env(), "AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]}


def new_bucket(client: Any, label: str) -> str:
    """Create an empty bucket named after `label` (plus a random part); returns its name."""
    name = f"{label}-{secrets.token_hex(6)}".lower()
    client.create_bucket(Bucket=name)
    return name


def upload_files(client: Any, bucket: str, prefix: str, paths: Sequence[Path], root: Path, threads: int = 1) -> None:
    """Upload files under `root` to `prefix/` + their path relative to `root`, as a plain uploader would (boto3's
    `upload_file`, no hash metadata)."""

    def one(path: Path) -> None:
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, paths))


def upload_dir(s3: S3Endpoint, bucket: str, prefix: str, folder: Path) -> None:
    """Copy a folder's package files to S3 as a plain uploader would (no hash metadata)."""
    paths = [p for p in sorted(folder.rglob("*")) if p.is_file() and ".staging" not in p.parts]
    upload_files(s3.client(), bucket, prefix, paths, folder)

"""The boto3 session and S3 client for a channel: where credentials, endpoint, timeouts and retries are set.

Credentials come from boto3's standard chain (environment, `AWS_PROFILE`, SSO, `credential_process` as
Deadline Cloud queue roles use, instance roles), resolved here once per storage. Timeouts come from the
environment (`timeouts.py`); every client is watched (`watch.py`), so no request waits past its deadline.
"""

from __future__ import annotations

from typing import Any, cast

import boto3
import botocore.config
import botocore.exceptions

from ...errors import AccessDenied
from ..location import Channel, S3Options
from ..timeouts import timeouts
from .watch import Watch


def make_session(options: S3Options) -> boto3.session.Session:
    """The boto3 session for `options.profile` (or the default chain): where credentials are resolved."""
    try:
        return boto3.session.Session(profile_name=options.profile)
    except botocore.exceptions.ProfileNotFound as exc:
        raise AccessDenied(
            f"AWS profile {options.profile!r} is not in your AWS config; fix AWS_PROFILE or run `aws configure`"
        ) from exc


def make_client(channel: Channel, session: boto3.session.Session | None = None, *, connections: int = 10) -> Any:
    """The boto3 S3 client for `channel`: the one place credentials and endpoint options are resolved.

    `connections` is how many threads may use the client at once: each needs a pooled connection, or urllib3
    opens an extra one and discards it afterwards ("Connection pool is full").
    """
    options = channel.s3
    limits = timeouts()
    session = session or make_session(options)
    s3_config: dict[str, Any] = {}
    if options.addressing_style:
        s3_config["addressing_style"] = options.addressing_style
    config = botocore.config.Config(
        s3=cast(Any, s3_config or None),
        retries={"mode": "standard", "max_attempts": 6},
        max_pool_connections=connections,
        connect_timeout=limits.connect,
        read_timeout=limits.read,
        tcp_keepalive=True,
    )
    client = session.client("s3", endpoint_url=options.endpoint_url, region_name=options.region, config=config)
    Watch(client, channel.prefix, limits)
    return client

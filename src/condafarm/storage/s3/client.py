"""The boto3 session and S3 client for a channel: where credentials, endpoint, timeouts and retries are set.

Credentials come from boto3's standard chain (environment, `AWS_PROFILE`, SSO, `credential_process` as
Deadline Cloud queue roles use, instance roles), resolved here once per storage. Timeouts come from the
environment (`timeouts.py`); every client is watched (`watch.py`), so no request waits past its deadline.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any, cast

import boto3
import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.session

from ...errors import AccessDenied
from ..location import Channel, S3Options
from ..timeouts import timeouts
from .watch import Watch


class _Services(Sequence[str]):
    """The services a loader knows, as botocore's list of them, but `in` asks one service's folder only."""

    def __init__(self, loader: botocore.loaders.Loader, type_name: str) -> None:
        self._loader, self._type_name = loader, type_name

    def __contains__(self, name: object) -> bool:
        try:
            return isinstance(name, str) and bool(self._loader.list_api_versions(name, self._type_name))
        except botocore.exceptions.DataNotFoundError:
            return False

    @functools.cached_property
    def _all(self) -> list[str]:
        return list(botocore.loaders.Loader.list_available_services(self._loader, self._type_name))

    def __getitem__(self, index: Any) -> Any:
        return self._all[index]

    def __len__(self) -> int:
        return len(self._all)


class _Loader(botocore.loaders.Loader):
    """botocore's data loader, but checking that "s3" is a service by looking in its folder only: botocore lists
    and stats the folders of all ~400 services to check each model it loads, ~30 ms per client, a tenth of a
    no-op index (bench/README.md)."""

    def list_available_services(self, type_name: str) -> Any:
        return _Services(self, type_name)


def _botocore_session() -> botocore.session.Session:
    """A botocore session with `_Loader`, made when first needed as botocore makes its own (`create_loader`)."""
    session = botocore.session.get_session()

    def loader() -> _Loader:
        paths = session.get_config_variable("data_path")
        extra = [os.path.expanduser(os.path.expandvars(p)) for p in paths.split(os.pathsep)] if paths else None
        return _Loader(extra_search_paths=extra)

    session.lazy_register_component("data_loader", loader)
    return session


def make_session(options: S3Options) -> boto3.session.Session:
    """The boto3 session for `options.profile` (or the default chain): where credentials are resolved."""
    try:
        return boto3.session.Session(profile_name=options.profile, botocore_session=_botocore_session())
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

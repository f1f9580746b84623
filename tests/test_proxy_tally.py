"""The counting proxy's tally (tests/support/proxy.py): bench/ reads failed conditional writes, repodata rewrites
and bytes moved from it, so what it counts is checked here against requests whose answers are known."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions
import pytest
from support.proxy import S3Proxy, fault_proxy
from support.s3 import S3Endpoint, new_bucket
from support.tally import key_pattern

SHARD = "ch/noarch/shards/" + "ab" * 32 + ".msgpack.zst"


@pytest.fixture
def proxy(s3: S3Endpoint) -> Iterator[S3Proxy]:
    with fault_proxy(s3.port) as proxy:
        yield proxy


def test_key_patterns_star_package_names_and_shard_digests_only() -> None:
    assert key_pattern("ch/noarch/repodata.json") == "ch/noarch/repodata.json"
    assert key_pattern("ch/linux-64/tool-1.0-h0_0.conda") == "ch/linux-64/*.conda"
    assert key_pattern("ch/linux-64/old-1.0-0.tar.bz2") == "ch/linux-64/*.tar.bz2"
    assert key_pattern("ch/noarch/.condafarm/provenance/tool-1.0-h0_0.conda.json") == (
        "ch/noarch/.condafarm/provenance/*.conda.json"
    )
    assert key_pattern(SHARD) == "ch/noarch/shards/*.msgpack.zst"
    assert key_pattern("ch/noarch/repodata_shards.msgpack.zst") == "ch/noarch/repodata_shards.msgpack.zst"


def test_the_tally_counts_exchanges_by_operation_key_and_status_with_bytes_both_ways(
    s3: S3Endpoint, proxy: S3Proxy
) -> None:
    bucket = new_bucket(s3.client(), "tally")
    client = S3Endpoint(proxy.url, proxy.port).client()
    proxy.tally.reset()
    client.put_object(Bucket=bucket, Key="ch/noarch/repodata.json", Body=b"{}" * 50, IfNoneMatch="*")
    with pytest.raises(botocore.exceptions.ClientError, match="PreconditionFailed"):
        client.put_object(Bucket=bucket, Key="ch/noarch/repodata.json", Body=b"[]", IfNoneMatch="*")
    client.put_object(Bucket=bucket, Key="ch/noarch/tool-1.0-h0_0.conda", Body=b"p" * 1000)
    client.put_object(Bucket=bucket, Key=SHARD, Body=b"s" * 10)
    assert client.get_object(Bucket=bucket, Key="ch/noarch/repodata.json")["Body"].read() == b"{}" * 50

    tally = proxy.tally
    assert tally.count("PutObject", "/noarch/repodata.json", 200) == 1
    assert tally.count("PutObject", "/noarch/repodata.json", 412) == 1
    assert tally.count("PutObject", "repodata.json") == 2
    assert tally.count(status=412) == 1
    assert tally.count("PutObject", ".conda", 200) == 1
    assert tally.count(suffix="shards/*.msgpack.zst") == 1
    assert tally.count() == 5
    seen = tally.snapshot()
    assert seen["exchanges"]["PutObject ch/noarch/repodata.json 412"] == 1
    assert seen["exchanges"]["GetObject ch/noarch/repodata.json 200"] == 1
    assert seen["sent_by_key"]["ch/noarch/*.conda"] == 1000
    assert seen["sent_by_key"]["ch/noarch/repodata.json"] == 100 + 2
    assert seen["received_by_key"]["ch/noarch/repodata.json"] >= 100  # the GET's body, plus the 412's error body
    assert seen["bytes_sent"] == 100 + 2 + 1000 + 10
    # what the index benchmark already read stays as it was: requests by operation and GET bytes
    assert seen["ops"] == {"PutObject": 4, "GetObject": 1}
    assert seen["requests"] == 5
    assert (seen["bytes_read"], seen["other_bytes"], seen["pkg_bytes"]) == (100, 100, 0)

    tally.reset()
    assert tally.count() == 0
    assert tally.snapshot()["bytes_sent"] == 0


def test_with_serial_writes_one_of_many_simultaneous_conditional_writes_wins(s3: S3Endpoint) -> None:
    """moto checks If-Match then stores without a lock, so simultaneous writers can both win there; S3 lets one."""
    bucket = new_bucket(s3.client(), "serial")
    proxy = S3Proxy(s3.port, serial_writes=True)
    client = S3Endpoint(proxy.url, proxy.port).client(max_pool_connections=16)

    def winners(key: str, **condition: str) -> int:
        def write(i: int) -> bool:
            body = f"{condition} {i}".encode()  # never the body, and so the ETag, the key holds already
            try:
                client.put_object(Bucket=bucket, Key=key, Body=body, **condition)
            except botocore.exceptions.ClientError as exc:
                assert exc.response["Error"]["Code"] == "PreconditionFailed"
                return False
            return True

        with ThreadPoolExecutor(16) as pool:
            return sum(pool.map(write, range(16)))

    try:
        for round_ in range(5):
            assert winners(f"ch/noarch/new{round_}", IfNoneMatch="*") == 1
            etag = client.head_object(Bucket=bucket, Key=f"ch/noarch/new{round_}")["ETag"]
            assert winners(f"ch/noarch/new{round_}", IfMatch=etag) == 1
        assert proxy.tally.count("PutObject", status=200) == 10
    finally:
        proxy.stop()

"""Uploads to S3 as S3 judges them: each PUT and each part carries the sha256 hashlib computes for its bytes,
a part damaged on the way is caught (refused by S3, or found by the ETag where the store does not check), and
the damaged object is removed or never completed, left unindexed, with a one-line error."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from support.faults import Fault
from support.packages import make_package
from support.proxy import S3Proxy, fault_proxy
from support.s3 import S3Endpoint

from condafarm import Channel, S3Options, check_channel, parse_channel, publish
from condafarm.errors import StorageError
from condafarm.storage import open_storage

PART = 5 * 1024 * 1024  # S3's smallest part
PREFIX = "Conda/Default"
#: The CLI with the multipart threshold and part size lowered to `PART`, as a test can do in-process by
#: setting them on the storage object.
SMALL_PARTS_CLI = (
    "import condafarm.storage.s3.storage as s; s.MULTIPART_THRESHOLD = s.PART_BYTES = 5 * 1024 * 1024; "
    "from condafarm.cli import main; main()"
)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A package of two parts or more at `PART` bytes each."""
    path = make_package(tmp_path_factory.mktemp("big"), "bigtool", payload=os.urandom(6 * 1024 * 1024).hex())
    assert path.stat().st_size > PART
    return path


def _channel(url: str, bucket: str) -> Channel:
    return parse_channel(
        f"s3://{bucket}/{PREFIX}", S3Options(endpoint_url=url, region="us-east-1", addressing_style="path")
    )


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _stored(s3: S3Endpoint, bucket: str, key: str) -> bytes | None:
    client = s3.client()
    found = client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/{key}").get("Contents", [])
    if not found:
        return None
    return bytes(client.get_object(Bucket=bucket, Key=f"{PREFIX}/{key}")["Body"].read())


def _indexed(s3: S3Endpoint, bucket: str) -> dict[str, object]:
    """noarch's records, read with boto3 and json (none if there is no repodata.json)."""
    data = _stored(s3, bucket, "noarch/repodata.json")
    repodata = json.loads(data) if data is not None else {}
    return {**repodata.get("packages", {}), **repodata.get("packages.conda", {})}


def _ops(proxy: S3Proxy) -> list[str]:
    return [e.request.op for e in proxy.log]


def _publish_cli(proxy: S3Proxy, s3: S3Endpoint, package: Path, bucket: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SMALL_PARTS_CLI, "publish", str(package), "--to", f"s3://{bucket}/{PREFIX}"],
        env={**s3.env(), "S3_ENDPOINT_URL": proxy.url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _assert_left_nothing(s3: S3Endpoint, bucket: str, key: str) -> None:
    assert _stored(s3, bucket, key) is None
    assert s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert _indexed(s3, bucket) == {}


def test_a_small_package_goes_up_in_one_put_carrying_its_sha256(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    package = make_package(tmp_path, "tool")
    data = package.read_bytes()
    with fault_proxy(s3.port, s3_checksums=True) as proxy:
        publish(_channel(proxy.url, bucket), [package])
    (put,) = [e for e in proxy.log if e.request.op == "PutObject" and e.request.key.endswith(package.name)]
    assert put.request.headers["x-amz-checksum-sha256"] == _b64_sha256(data)
    assert "if-none-match" in put.request.headers and put.status == 200
    assert _stored(s3, bucket, f"noarch/{package.name}") == data
    assert set(_indexed(s3, bucket)) == {package.name}


def test_a_package_damaged_on_the_way_is_refused_by_its_sha256(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    package = make_package(tmp_path, "tool")
    fault = Fault("the package If-None-Match PUT", "corrupt")
    with fault_proxy(s3.port, fault, s3_checksums=True) as proxy, pytest.raises(StorageError, match="BadDigest") as err:
        publish(_channel(proxy.url, bucket), [package])
    assert [(h.request, h.action, h.key) for h in proxy.hits] == [
        ("the package If-None-Match PUT", "corrupt", f"{PREFIX}/noarch/{package.name}")
    ]
    assert [e.status for e in proxy.log if e.request.n == proxy.hits[0].n] == [400]
    assert "\n" not in str(err.value)
    _assert_left_nothing(s3, bucket, f"noarch/{package.name}")


@pytest.mark.slow
def test_a_large_package_goes_up_in_parts_each_carrying_its_sha256(s3: S3Endpoint, bucket: str, big: Path) -> None:
    data = big.read_bytes()
    with fault_proxy(s3.port, s3_checksums=True) as proxy:
        storage = open_storage(_channel(proxy.url, bucket))
        storage.multipart_threshold = storage.part_bytes = PART  # type: ignore[attr-defined]
        publish(storage, [big])
    parts = [e for e in proxy.log if e.request.op == "UploadPart"]
    count = -(-len(data) // PART)
    assert count >= 2 and len(parts) == count
    for part in parts:
        number = int(parse_qs(urlsplit(part.request.path).query)["partNumber"][0])
        piece = data[(number - 1) * PART : number * PART]
        assert part.request.headers["x-amz-checksum-sha256"] == _b64_sha256(piece), number
        assert part.status == 200
    # the store answered the completion with its composite checksum, which condafarm checked against the file
    assert _ops(proxy).count("CompleteMultipartUpload") == 1
    assert _stored(s3, bucket, f"noarch/{big.name}") == data
    assert set(_indexed(s3, bucket)) == {big.name}


def test_large_files_go_up_in_verified_parts_reporting_progress(s3_channel: Channel, big: Path) -> None:
    storage = open_storage(s3_channel)
    storage.multipart_threshold = storage.part_bytes = PART  # type: ignore[attr-defined]
    seen: list[int] = []
    publish(storage, [big], progress=lambda name, done, total: seen.append(done))
    parts = -(-big.stat().st_size // PART)
    assert parts >= 2
    head = storage.head(f"noarch/{big.name}")
    assert head is not None and head.etag.strip('"').endswith(f"-{parts}")
    assert seen[-1] == big.stat().st_size and len(seen) == parts
    assert check_channel(s3_channel, verify_hashes=True).ok


@pytest.mark.slow
def test_a_part_damaged_on_the_way_is_refused_and_the_upload_never_completed(
    s3: S3Endpoint, bucket: str, big: Path
) -> None:
    with fault_proxy(s3.port, Fault("an UploadPart", "corrupt"), s3_checksums=True) as proxy:
        result = _publish_cli(proxy, s3, big, bucket)
    assert [(h.request, h.action, h.key) for h in proxy.hits] == [
        ("an UploadPart", "corrupt", f"{PREFIX}/noarch/{big.name}")
    ]
    assert [e.status for e in proxy.log if e.request.n == proxy.hits[0].n] == [400]
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "BadDigest" in result.stderr, result.stderr
    assert "CompleteMultipartUpload" not in _ops(proxy) and "AbortMultipartUpload" in _ops(proxy)
    _assert_left_nothing(s3, bucket, f"noarch/{big.name}")


@pytest.mark.slow
def test_a_part_damaged_on_the_way_to_a_store_that_does_not_check_is_caught_and_removed(
    s3: S3Endpoint, bucket: str, big: Path
) -> None:
    # moto stores the damaged part and completes the upload; the ETag it computed gives the damage away
    with fault_proxy(s3.port, Fault("an UploadPart", "corrupt")) as proxy:
        result = _publish_cli(proxy, s3, big, bucket)
    assert [(h.request, h.action) for h in proxy.hits] == [("an UploadPart", "corrupt")]
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "failed verification" in result.stderr, result.stderr
    assert _ops(proxy).count("CompleteMultipartUpload") == 1
    assert [e.request.op for e in proxy.log if e.request.key.endswith(big.name)][-1] == "DeleteObject"
    _assert_left_nothing(s3, bucket, f"noarch/{big.name}")

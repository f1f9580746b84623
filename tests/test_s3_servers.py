"""S3 servers besides moto: verified uploads, publish, py-rattler and concurrent publishers on SeaweedFS (the storage
contract itself is test_storage_contract.py, on every backend), and what a store that ignores conditional writes
does (why condafarm must refuse one)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from support.cli import publish_concurrently
from support.installs import app_channel, assert_installed, install
from support.packages import make_channel, make_package
from support.s3 import S3Endpoint, new_bucket, upload_dir
from support.seaweedfs import ignoring_conditions

from condafarm import (
    AlreadyExists,
    Channel,
    S3Options,
    StorageError,
    check_channel,
    index_channel,
    parse_channel,
)
from condafarm.channel.commit.store import load_repodata
from condafarm.channel.publish import publish
from condafarm.storage import open_storage


def _channel(endpoint: S3Endpoint, bucket: str) -> Channel:
    options = S3Options(endpoint_url=endpoint.url, region="us-east-1", addressing_style="path")
    return parse_channel(f"s3://{bucket}/Conda/Default", options)


@pytest.fixture
def sw_channel(seaweedfs: S3Endpoint) -> Channel:
    """`s3://BUCKET/Conda/Default` in a new bucket on SeaweedFS."""
    return _channel(seaweedfs, new_bucket(seaweedfs.client(), "seaweed"))


def test_an_upload_whose_bytes_are_not_its_sha256_is_refused_on_seaweedfs(sw_channel: Channel, tmp_path: Path) -> None:
    path = tmp_path / "x.conda"
    path.write_bytes(b"the real bytes")
    md5 = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    storage = open_storage(sw_channel)
    with pytest.raises(StorageError, match="BadDigest"):
        storage.upload("noarch/x.conda", path, sha256=hashlib.sha256(b"other bytes").hexdigest(), md5=md5)
    assert storage.head("noarch/x.conda") is None


def test_a_multipart_upload_is_verified_and_conditional_on_seaweedfs(sw_channel: Channel, tmp_path: Path) -> None:
    path = tmp_path / "big.conda"
    path.write_bytes(os.urandom(11 * 1024 * 1024))
    data = path.read_bytes()
    sha256, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()
    storage = open_storage(sw_channel)
    storage.multipart_threshold = storage.part_bytes = 5 * 1024 * 1024  # type: ignore[attr-defined]
    storage.upload("noarch/big.conda", path, sha256=sha256, md5=md5, if_absent=True)
    head = storage.head("noarch/big.conda")
    assert head is not None and head.size == len(data) and head.etag.strip('"').endswith("-3")
    blob = storage.get("noarch/big.conda")
    assert blob is not None and blob.data == data
    with pytest.raises(AlreadyExists):
        storage.upload("noarch/big.conda", path, sha256=sha256, md5=md5, if_absent=True)


def test_publish_index_and_check_on_seaweedfs(seaweedfs: S3Endpoint, sw_channel: Channel, tmp_path: Path) -> None:
    published = make_channel(tmp_path / "published", {"noarch": 4, "linux-64": 4, "win-64": 2}, fmt_every=3)
    report = publish(sw_channel, published)
    assert sorted(p.filename for p in report.packages) == sorted(p.name for p in published)
    # Files a plain uploader put there (no hash metadata) are read back by index through ranged GETs.
    plain = tmp_path / "plain"
    make_package(plain, "plain", "2.0", subdir="linux-64")
    make_package(plain, "plainer", "1.0", fmt=".tar.bz2")
    shutil.rmtree(plain / ".staging")
    assert sw_channel.bucket is not None
    upload_dir(seaweedfs, sw_channel.bucket, "Conda/Default", plain)
    assert index_channel(sw_channel).total("added") == 2
    storage = open_storage(sw_channel)
    assert "plain-2.0-h0_0.conda" in load_repodata(storage, "linux-64")[0].records()
    check = check_channel(sw_channel, verify_hashes=True)
    assert check.ok, check.problems
    assert check.packages == len(published) + 2


@pytest.mark.slow
def test_rattler_installs_what_condafarm_published_to_seaweedfs(
    seaweedfs: S3Endpoint, sw_channel: Channel, tmp_path: Path
) -> None:
    root = tmp_path / "channel"
    app_channel(root)
    publish(sw_channel, sorted(p for p in root.rglob("*") if p.is_file()))
    prefix = tmp_path / "env"
    assert_installed(install(sw_channel.url, prefix, "farmtool", endpoint=seaweedfs.url), prefix)


@pytest.mark.slow
def test_eight_concurrent_publishers_lose_nothing_on_seaweedfs(
    seaweedfs: S3Endpoint, sw_channel: Channel, tmp_path: Path
) -> None:
    files = [make_package(tmp_path / "out", f"job{i}", subdir="linux-64") for i in range(8)]
    publish_concurrently(files, sw_channel.url, seaweedfs.env())
    storage = open_storage(sw_channel)
    assert set(load_repodata(storage, "linux-64")[0].records()) == {f.name for f in files}
    report = check_channel(sw_channel)
    assert report.ok, report.problems
    assert report.packages == 8


def test_a_store_that_ignores_conditions_lets_put_if_absent_overwrite_silently(s3: S3Endpoint) -> None:
    """The hazard, documented: through such a store the loser of a race overwrites the winner and nobody hears.
    (condafarm does not detect such a store yet.)"""
    bucket = new_bucket(s3.client(), "ignores")
    with ignoring_conditions(s3.port) as endpoint:
        storage = open_storage(_channel(endpoint, bucket))
        storage.put("noarch/repodata.json", b"winner", if_absent=True)
        storage.put("noarch/repodata.json", b"loser", if_absent=True)
        blob = storage.get("noarch/repodata.json")
        assert blob is not None and blob.data == b"loser"
        stale = storage.put("noarch/repodata.json", b"newer")
        storage.put("noarch/repodata.json", b"newest", if_match='"not-the-etag"')
        assert stale != '"not-the-etag"'
        blob = storage.get("noarch/repodata.json")
        assert blob is not None and blob.data == b"newest"
    # The same requests straight to moto are refused, so it is the dropped headers that let them through.
    direct = open_storage(_channel(s3, bucket))
    with pytest.raises(AlreadyExists):
        direct.put("noarch/repodata.json", b"again", if_absent=True)

"""S3 stores that hang, tear reads, answer ETags their own way, reject keys or keep unfinished uploads: every
command ends, says why, and leaves the channel right (storage/s3: watch, torn, upload, errors, unfinished)."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import run_cli
from support.environments import index_s3, render_packages, upload
from support.faults import Fault, Faults
from support.packages import make_package
from support.proxy import S3Proxy, fault_proxy
from support.s3 import IamEndpoint, S3Endpoint, new_bucket, upload_dir

from condafarm import Channel, S3Options, check_channel, index_channel, parse_channel
from condafarm.channel.commit import leftovers
from condafarm.channel.commit.store import load_repodata
from condafarm.channel.publish import publish
from condafarm.errors import StorageError
from condafarm.storage import open_storage
from condafarm.storage.s3 import S3Storage

#: Limits low enough that a stuck store fails a command in seconds (see storage/timeouts.py).
FAST = {"CONDAFARM_CONNECT_TIMEOUT": "1", "CONDAFARM_READ_TIMEOUT": "1", "CONDAFARM_DEADLINE": "3"}


class SilentEndpoint:
    """A TCP server on 127.0.0.1 that accepts connections and never answers, as a stuck store does."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentEndpoint]:
    endpoint = SilentEndpoint()
    yield endpoint
    endpoint.close()


def _via(proxy: S3Proxy, url: str) -> Channel:
    return parse_channel(url, S3Options(endpoint_url=proxy.url, region="us-east-1", addressing_style="path"))


def _env(endpoint: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "S3_ENDPOINT_URL": endpoint, "S3_REGION": "us-east-1", "S3_FORCE_PATH_STYLE": "true"}
    return {**env, **extra}


@pytest.mark.parametrize("command", ["ls", "index", "publish", "env create"])
def test_a_store_that_never_answers_fails_each_command_in_seconds_naming_what_it_waits_for(
    command: str, silent: SilentEndpoint, tmp_path: Path
) -> None:
    channel = "s3://stuck-bucket/Conda/Default"
    args = {
        "ls": ["ls", channel],
        "index": ["index", channel],
        "publish": ["publish", str(make_package(tmp_path, "tool")), "--to", channel],
        "env create": ["env", "create", str(tmp_path / "env"), "--packages", "tool", "--channels", channel],
    }[command]
    if command == "env create":
        args += ["--cache-dir", str(tmp_path / "c")]
    started = time.monotonic()
    result = run_cli(*args, env=_env(silent.url, **FAST), timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    assert took < 30, took
    # After a few seconds (half the deadline here) it says what it waits for: the endpoint and the request.
    assert re.search(rf"WARNING: waiting for {re.escape(silent.url)}\S* \(\w+", result.stderr), result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("condafarm: error: no answer from " + silent.url), error
    assert "CONDAFARM_DEADLINE" in error


def _render_channel(s3: S3Endpoint, bucket: str, tmp_path: Path, prefix: str) -> str:
    """An indexed S3 channel with `render-tool` and the `render-lic` it needs."""
    folder = tmp_path / "build"
    render_packages(folder)
    shutil.rmtree(folder / ".staging")
    upload(s3, bucket, prefix, folder)
    index_s3(s3, f"s3://{bucket}/{prefix}")
    return f"s3://{bucket}/{prefix}"


def _create_render_env(channel: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = ["env", "create", str(tmp_path / "env"), "--packages", "render-tool", "--channels", channel]
    return run_cli(*args, "--cache-dir", str(tmp_path / "c"), env=env, timeout=120)


def test_a_stalled_package_download_fails_env_create_naming_the_package(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    channel = _render_channel(s3, bucket, tmp_path, "stall")
    proxy = S3Proxy(s3.port, Faults(Fault("any package request", "hang", times=None)))
    try:
        result = _create_render_env(channel, tmp_path, _env(proxy.url, **FAST))
    finally:
        proxy.stop()
    assert result.returncode == 3, result.stderr
    assert f"WARNING: waiting for {proxy.url}/{bucket}/stall/noarch/render-" in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"condafarm: error: no bytes from {proxy.url}/{bucket}/stall/noarch/render-"), error
    assert "CONDAFARM_READ_TIMEOUT" in error
    assert not (tmp_path / "env").exists()


def test_slow_transfers_are_not_cut_while_bytes_flow(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    """Every package arrives in pieces over 4 s, longer than the deadline but never silent for a read timeout."""
    channel = _render_channel(s3, bucket, tmp_path, "slow")
    proxy = S3Proxy(s3.port, Faults(Fault("any package request", "trickle", times=None)))
    try:
        env = _env(proxy.url, CONDAFARM_READ_TIMEOUT="2", CONDAFARM_DEADLINE="3")
        created = _create_render_env(channel, tmp_path, env)
        indexed = run_cli("index", channel, "--rebuild", env=env, timeout=120)
    finally:
        proxy.stop()
    assert created.returncode == 0, created.stderr
    assert indexed.returncode == 0, indexed.stderr
    assert ("trickle", "GetObject") in {(hit.action, hit.op) for hit in proxy.hits}


def test_a_32_thread_index_needs_no_more_connections_than_its_pool(
    s3: S3Endpoint, bucket: str, many_packages: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upload_dir(s3, bucket, "pool", many_packages)
    channel = parse_channel(
        f"s3://{bucket}/pool", S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
    )
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        report = index_channel(channel, workers=32)
    assert report.total("added") == 320
    assert not [r for r in caplog.records if "Connection pool is full" in r.getMessage()]


def _whole_md5_etag(md5: str) -> Callable[[str, str, bytes], bytes]:
    """A store that answers CompleteMultipartUpload with the whole file's MD5 as the ETag."""

    def rewrite(method: str, path: str, body: bytes) -> bytes:
        if method == "POST" and "uploadId=" in path:
            return re.sub(rb"<ETag>[^<]*</ETag>", f'<ETag>"{md5}"</ETag>'.encode(), body)
        return body

    return rewrite


def _big_file(tmp_path: Path) -> tuple[Path, str, str]:
    path = tmp_path / "big.conda"
    path.write_bytes(secrets.token_bytes(6 * 1024 * 1024 + 123))
    data = path.read_bytes()
    return path, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()


def _multipart_storage(proxy: S3Proxy, bucket: str) -> S3Storage:
    """Storage through `proxy` that uploads files over 5 MiB in 5 MiB parts (S3's smallest)."""
    storage = S3Storage(_via(proxy, f"s3://{bucket}/mp"))
    storage.multipart_threshold = storage.part_bytes = 5 * 1024 * 1024
    return storage


def test_a_multipart_etag_that_is_the_whole_file_md5_is_accepted(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    path, sha256, md5 = _big_file(tmp_path)
    proxy = S3Proxy(s3.port, rewrite=_whole_md5_etag(md5))
    try:
        storage = _multipart_storage(proxy, bucket)
        etag = storage.upload("noarch/big.conda", path, sha256=sha256, md5=md5, if_absent=True)
    finally:
        proxy.stop()
    assert etag.strip('"') == md5
    stored = s3.client().get_object(Bucket=bucket, Key="mp/noarch/big.conda")["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == sha256


def test_an_etag_of_another_kind_is_verified_by_reading_the_object_back(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    """A store whose multipart ETag is no MD5 of the file: the upload is judged by the bytes read back, so the
    same upload is kept when the store holds the file and refused (and removed) when one part was changed."""
    path, sha256, md5 = _big_file(tmp_path)
    other_kind = _whole_md5_etag("0123456789abcdef0123456789abcdef-7")
    # the second part is changed on the way and the store, not told its checksum, keeps it
    corrupting = S3Proxy(s3.port, Faults(Fault("an UploadPart", "corrupt", after=1, times=None)))
    for upstream, key in ((s3.port, "noarch/big.conda"), (corrupting.port, "noarch/changed.conda")):
        proxy = S3Proxy(upstream, rewrite=other_kind, drop_headers=("x-amz-checksum-sha256",))
        try:
            storage = _multipart_storage(proxy, bucket)
            if upstream == s3.port:
                storage.upload(key, path, sha256=sha256, md5=md5, if_absent=True)
            else:
                with pytest.raises(StorageError, match="reading it back gives SHA-256"):
                    storage.upload(key, path, sha256=sha256, md5=md5, if_absent=True)
        finally:
            proxy.stop()
    corrupting.stop()
    assert corrupting.hits, "no part was changed"
    stored = s3.client().get_object(Bucket=bucket, Key="mp/noarch/big.conda")["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == sha256
    listed = s3.client().list_objects_v2(Bucket=bucket, Prefix="mp/")
    assert [o["Key"] for o in listed["Contents"]] == ["mp/noarch/big.conda"]  # the changed one was removed


def test_stored_bytes_that_differ_are_a_clear_error_that_does_not_just_say_retry(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    path, sha256, md5 = _big_file(tmp_path)
    # The store keeps a part other than the one sent (its checksum unchecked) and says nothing of it.
    proxy = S3Proxy(s3.port, Faults(Fault("an UploadPart", "corrupt", after=1)))  # the second part
    proxy_checksums_dropped = S3Proxy(proxy.port, drop_headers=("x-amz-checksum-sha256",))
    try:
        storage = _multipart_storage(proxy_checksums_dropped, bucket)
        with pytest.raises(StorageError) as failed:
            storage.upload("noarch/big.conda", path, sha256=sha256, md5=md5, if_absent=True)
    finally:
        proxy_checksums_dropped.stop()
        proxy.stop()
    message = str(failed.value)
    assert "the store holds other bytes than the file (reading it back gives SHA-256" in message
    assert "it was removed" in message
    assert not message.rstrip().endswith("retry")
    assert s3.client().list_objects_v2(Bucket=bucket, Prefix="mp/")["KeyCount"] == 0


def _published(s3: S3Endpoint, bucket: str, tmp_path: Path, prefix: str) -> tuple[str, Path]:
    url = f"s3://{bucket}/{prefix}"
    package = make_package(tmp_path, "tool", payload=secrets.token_hex(200_000))
    channel = parse_channel(url, S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path"))
    publish(channel, [package])
    return url, package


@pytest.mark.parametrize("fault", ["truncate", "short"])
def test_a_torn_read_of_repodata_is_read_again(fault: str, s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    url, package = _published(s3, bucket, tmp_path, "torn")
    proxy = S3Proxy(s3.port, Faults(Fault("the GET of repodata.json", fault)))
    try:
        result = run_cli("ls", url, env=_env(proxy.url))
    finally:
        proxy.stop()
    assert [(hit.action, hit.key.rsplit("/", 2)[-2]) for hit in proxy.hits] == [(fault, "noarch")]
    assert result.returncode == 0, result.stderr
    assert package.name in result.stdout


def test_torn_package_reads_while_indexing_are_read_again(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    package = make_package(tmp_path, "tool", payload=secrets.token_hex(400_000))
    s3.client().upload_file(str(package), bucket, f"tornidx/noarch/{package.name}")
    plan = Faults(Fault("a package GET", "truncate"), Fault("a package GET", "short", after=1))
    proxy = S3Proxy(s3.port, plan)
    try:
        report = index_channel(_via(proxy, f"s3://{bucket}/tornidx"))
        records = load_repodata(open_storage(_via(proxy, f"s3://{bucket}/tornidx")), "noarch")[0].records()
    finally:
        proxy.stop()
    assert [hit.action for hit in proxy.hits] == ["truncate", "short"]
    assert report.total("added") == 1 and not report.total("skipped")
    assert records[package.name]["sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()


def test_a_read_that_stays_torn_is_not_called_unreachable(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    url, _ = _published(s3, bucket, tmp_path, "alwaystorn")
    proxy = S3Proxy(s3.port, Faults(Fault("the GET of repodata.json", "truncate", times=None)))
    try:
        result = run_cli("ls", url, env=_env(proxy.url))
    finally:
        proxy.stop()
    assert result.returncode == 3, result.stderr
    assert "kept breaking off before its end" in result.stderr
    assert "cannot reach" not in result.stderr and "unreachable" not in result.stderr
    assert [hit.action for hit in proxy.hits] == ["truncate"] * 4  # read four times before giving up


@pytest.mark.parametrize("command", ["ls", "index", "publish", "check", "env create"])
def test_a_wrong_secret_says_the_credentials_were_rejected(command: str, iam_s3: IamEndpoint, tmp_path: Path) -> None:
    url = f"s3://{iam_s3.bucket}/keys-{secrets.token_hex(3)}/403/ch"
    good = iam_s3.env(iam_s3.writer)
    assert run_cli("publish", str(make_package(tmp_path, "tool")), "--to", url, env=good).returncode == 0
    bad = {**good, "AWS_SECRET_ACCESS_KEY": "x" + iam_s3.writer[1][1:]}
    args = {
        "ls": ["ls", url],
        "index": ["index", url],
        "publish": ["publish", str(make_package(tmp_path / "new", "other")), "--to", url],
        "check": ["check", url],
        "env create": ["env", "create", str(tmp_path / "env"), "--packages", "tool", "--channels", url],
    }[command]
    if command == "env create":
        args += ["--cache-dir", str(tmp_path / "c")]
    result = run_cli(*args, env=bad)
    assert result.returncode == 4, result.stderr
    assert "rejected the AWS credentials (SignatureDoesNotMatch)" in result.stderr, result.stderr
    assert "lack s3:" not in result.stderr


def test_403_in_a_path_is_not_taken_for_access_denied(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    url, package = _published(s3, bucket, tmp_path, "team/403/ch")
    s3.client().delete_object(Bucket=bucket, Key=f"team/403/ch/noarch/{package.name}")  # gone behind the index
    args = ["env", "create", str(tmp_path / "env"), "--packages", "tool", "--channels", url]
    result = run_cli(*args, "--cache-dir", str(tmp_path / "c"), env=_env(s3.url))
    assert result.returncode == 3, result.stderr
    assert "not found" in result.stderr and "access denied" not in result.stderr


def _unfinished_upload(client: Any, bucket: str, key: str) -> str:
    """What a publisher killed during a multipart upload leaves (or one at work): an upload with a 1000-byte part
    and no completion; its id."""
    part = secrets.token_bytes(1000)
    upload_id = str(client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")["UploadId"])
    checksum = base64.b64encode(hashlib.sha256(part).digest()).decode()
    client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=part, ChecksumSHA256=checksum)
    return upload_id


def test_an_unfinished_multipart_upload_is_reported_by_check_and_aborted_by_index(
    s3: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(s3.client(), "leftover")
    url, _ = _published(s3, bucket, tmp_path, "Conda/Default")
    client = s3.client()
    _unfinished_upload(client, bucket, "Conda/Default/noarch/big-1.0-h0_0.conda")
    elsewhere = _unfinished_upload(client, bucket, "Conda/Other/noarch/big-1.0-h0_0.conda")  # never touched
    channel = parse_channel(url, S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path"))

    report = check_channel(channel)
    assert [p for p in report.problems if "unfinished multipart upload" in p] == [
        p for p in report.problems if p.startswith("noarch/big-1.0-h0_0.conda: unfinished multipart upload")
    ]
    assert len(report.problems) == 1 and "(1000 bytes" in report.problems[0], report.problems

    index_channel(channel)  # younger than an hour: a publisher may still be at it
    assert len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 2
    monkeypatch.setattr(leftovers, "LEFTOVER_SECONDS", 0.0)
    index_channel(channel)
    remaining = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in remaining] == [("Conda/Other/noarch/big-1.0-h0_0.conda", elsewhere)]
    assert check_channel(channel).ok


def test_index_on_a_host_whose_clock_runs_ahead_leaves_a_live_multipart_upload_alone(
    s3: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload started a moment ago by the store's clock; by this host's clock it looks two hours old."""
    bucket = new_bucket(s3.client(), "leftover")
    url, _ = _published(s3, bucket, tmp_path, "Conda/Default")
    live = _unfinished_upload(s3.client(), bucket, "Conda/Default/noarch/big-1.0-h0_0.conda")
    channel = parse_channel(url, S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path"))
    real_time = time.time
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: real_time() + 7200)
        index_channel(channel)
    remaining = s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["UploadId"] for u in remaining] == [live], "a live upload was aborted"


@pytest.mark.parametrize("packages", [0, 1], ids=["empty new channel", "one package"])
def test_a_store_without_list_multipart_uploads_is_indexed_and_checked_with_one_note(
    packages: int, s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    """s3rver answers 501 NotImplemented to ListMultipartUploads: looking for leftovers is skipped there, with one
    warning, and index and check do their work."""
    url = f"s3://{bucket}/Conda/Default"
    if packages:
        make_package(tmp_path / "files", "tool")
        upload(s3, bucket, "Conda/Default", tmp_path / "files")
    with fault_proxy(s3.port, Fault("a ListMultipartUploads", "501", times=None)) as proxy:
        env = _env(proxy.url, CONDAFARM_CACHE_DIR=str(tmp_path / "cache"))
        assert run_cli("init", url, env=env).returncode == 0
        indexed = run_cli("index", url, env=env)
        checked = run_cli("check", url, env=env)
    assert [h.action for h in proxy.hits] == ["501", "501"]  # one scan each, nothing else refused
    for result in (indexed, checked):
        assert result.returncode == 0, result.stderr
        notes = result.stderr.strip().splitlines()
        assert len(notes) == 1 and "does not implement ListMultipartUploads" in notes[0], result.stderr
    assert f"{packages} package" in checked.stdout
    honest = parse_channel(url, S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path"))
    assert check_channel(honest).ok

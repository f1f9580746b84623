"""publish: upload and index in one step, never overwrite, constant cost, safe with many publishers and faults."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from support.cli import publish_concurrently, run_cli
from support.faults import Fault, Hit
from support.packages import make_package, read_shard
from support.proxy import S3Proxy, fault_proxy
from support.s3 import IamEndpoint, S3Endpoint
from support.store_clock import StoreClock

from condafarm import Channel, S3Options, check_channel, index_channel, init_channel, parse_channel
from condafarm.channel.commit import intents
from condafarm.channel.commit.group import ADOPT_AFTER_SECONDS
from condafarm.channel.commit.store import commit_repodata, compact, load_repodata, read_current
from condafarm.channel.publish import _upload, prepare, publish
from condafarm.conda.repodata import Repodata
from condafarm.conda.shards import SHARDS_INDEX, Shards
from condafarm.errors import AlreadyExists, PackageError, StorageError, UsageError
from condafarm.storage import Storage, open_storage


def _files(storage: Storage, subdir: str) -> set[str]:
    return {i.name for i in storage.list_objects(f"{subdir}/")}


def _assert_valid(storage: Storage) -> None:
    """What a client needs: every record's file exists, and the .zst and shards agree with the JSON."""
    for subdir in ("noarch", "linux-64"):
        repodata, etag = load_repodata(storage, subdir)
        if etag is None:
            continue
        present = _files(storage, subdir)
        assert set(repodata.records()) <= present
        assert _shard_records(storage, subdir) == repodata.records()


def _shard_records(storage: Storage, subdir: str) -> dict[str, Any]:
    index = storage.get(f"{subdir}/{SHARDS_INDEX}")
    assert index is not None
    records: dict[str, Any] = {}
    for digest in read_shard(index.data)["shards"].values():  # decoded with msgpack, not condafarm's reader
        shard = storage.get(Shards.key(subdir, digest.hex()))
        assert shard is not None, f"the shard index names a missing shard {digest}"
        content = read_shard(shard.data)
        records.update(content["packages"])
        records.update(content["packages.conda"])
    return records


def test_publish_uploads_indexes_and_creates_the_channel(channel: Channel, tmp_path: Path) -> None:
    tool = make_package(tmp_path / "out", "tool", "1.0", 0)
    lib = make_package(tmp_path / "out", "lib", "2.0", 3, subdir="linux-64", run_exports={"weak": ["lib >=2"]})
    report = publish(channel, [tool, lib])
    assert [(p.filename, p.subdir, p.build_number) for p in report.packages] == [
        ("tool-1.0-h0_0.conda", "noarch", 0),
        ("lib-2.0-h0_3.conda", "linux-64", 3),
    ]
    assert report.packages[0].url == channel.url_of("noarch/tool-1.0-h0_0.conda")
    storage = open_storage(channel)
    record = load_repodata(storage, "linux-64")[0].records()["lib-2.0-h0_3.conda"]
    assert record["sha256"] == prepare(lib).hashes.sha256 and record["size"] == lib.stat().st_size
    assert record["run_exports"] == {"weak": ["lib >=2"]}
    run_exports = json.loads(storage.get("linux-64/run_exports.json").data)  # type: ignore[union-attr]
    assert run_exports["packages.conda"]["lib-2.0-h0_3.conda"] == {"run_exports": {"weak": ["lib >=2"]}}
    _assert_valid(storage)
    assert check_channel(channel).ok
    # A later index run agrees with everything publish wrote and changes nothing: on S3 it proves each
    # published file by one HEAD and the derived files by reading them, and writes only its own state.
    indexer = open_storage(channel)
    again = index_channel(indexer)
    assert again.total("unchanged") == 2 and not any(s.wrote for s in again.subdirs)
    if channel.is_s3:
        assert again.requests.get("PutObject") == 2  # noarch/ and linux-64/ index state


def test_published_objects_carry_their_hashes_as_metadata(s3_channel: Channel, tmp_path: Path) -> None:
    pkg = make_package(tmp_path, "tool")
    publish(s3_channel, [pkg])
    head = open_storage(s3_channel).head("noarch/tool-1.0-h0_0.conda")
    hashes = prepare(pkg).hashes
    assert head is not None and head.metadata == {"package-sha256": hashes.sha256, "package-md5": hashes.md5}


def test_an_existing_name_is_refused_and_nothing_changes(channel: Channel, tmp_path: Path) -> None:
    first = make_package(tmp_path / "a", "tool", payload="first")
    publish(channel, [first])
    storage = open_storage(channel)
    before = storage.get("noarch/repodata.json")
    other = make_package(tmp_path / "b", "tool", payload="second, different bytes")
    new = make_package(tmp_path / "b", "newtool")
    with pytest.raises(AlreadyExists, match=r"already exists.*--force"):
        publish(channel, [new, other])
    assert storage.get("noarch/repodata.json") == before
    assert "newtool-1.0-h0_0.conda" not in _files(storage, "noarch")


def test_force_replaces_the_file_and_its_record(channel: Channel, tmp_path: Path) -> None:
    publish(channel, [make_package(tmp_path / "a", "tool", payload="first")])
    second = make_package(tmp_path / "b", "tool", payload="second, longer than the first")
    report = publish(channel, [second], force=True)
    assert report.packages[0].replaced
    record = load_repodata(open_storage(channel), "noarch")[0].records()["tool-1.0-h0_0.conda"]
    assert (record["sha256"], record["size"]) == (prepare(second).hashes.sha256, second.stat().st_size)
    assert check_channel(channel, verify_hashes=True).ok


@pytest.mark.parametrize("damage", ["corrupt", "misnamed", "missing"])
def test_a_bad_file_stops_the_publish_before_any_upload(channel: Channel, tmp_path: Path, damage: str) -> None:
    good = make_package(tmp_path, "good")
    bad = make_package(tmp_path, "bad")
    if damage == "corrupt":
        bad.write_bytes(bad.read_bytes()[:200])
    elif damage == "misnamed":
        bad = bad.rename(bad.with_name("other-1.0-h0_0.conda"))
    else:
        bad = bad.with_name("absent-1.0-h0_0.conda")
    with pytest.raises((PackageError, UsageError)) as info:
        publish(channel, [good, bad])
    assert bad.name in str(info.value) or str(bad) in str(info.value)
    storage = open_storage(channel)
    assert storage.head("noarch/good-1.0-h0_0.conda") is None
    assert storage.head("noarch/repodata.json") is None


def _synthetic_channel(storage: Storage, count: int, template: dict[str, Any]) -> None:
    """Repodata with `count` records in 50 names, committed as publish would find it.

    Publishing never reads or lists other packages, so the records' files are not needed to measure it.
    """
    repodata = Repodata(subdir="noarch")
    for i in range(count):
        name, version = f"pkg{i % 50}", f"1.{i // 50}"
        repodata.set(f"{name}-{version}-h0_0.conda", {**template, "name": name, "version": version})
    commit_repodata(storage, "noarch", repodata, None)


def _publish_into(s3: S3Endpoint, bucket: str, size: int, tmp_path: Path) -> dict[str, int]:
    """Requests of one publish into a fresh bucket whose noarch holds `size` synthetic records."""
    template = load_repodata_record(tmp_path)
    s3.client().create_bucket(Bucket=bucket)
    options = S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
    channel = parse_channel(f"s3://{bucket}/Conda/Default", options)
    _synthetic_channel(open_storage(channel), size, template)
    fresh = open_storage(channel)
    report = publish(fresh, [make_package(tmp_path / bucket, "newcomer")])
    assert len(load_repodata(fresh, "noarch")[0].records()) == size + 1
    return {k: v for k, v in report.requests.items() if k != "bytes_read"}


def test_publish_cost_is_the_same_for_50_and_5000_packages_and_lists_only_publishes_in_flight(
    s3: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDAFARM_COMPACT_BYTES", str(8 * 1024 * 1024))  # both subdirs small: both compact
    counts = [_publish_into(s3, f"cost-{size}", size, tmp_path) for size in (50, 5000)]
    assert counts[0] == counts[1]
    # The listings are of SUBDIR/.condafarm/publishing/ (publishes in flight), never of the subdir.
    assert counts[0]["ListObjectsV2"] == 2, counts[0]  # the ready ones, then none left
    assert sum(counts[0].values()) == 23, counts[0]  # see docs/publish.md for the list


def test_a_large_subdir_is_committed_to_its_shards_without_reading_or_writing_repodata_json(
    s3: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the inline size a publish touches only its name's shard and the shard index: repodata.json is
    neither read nor written (a later index compacts it), and every reader still sees the package."""
    monkeypatch.setenv("CONDAFARM_COMPACT_BYTES", "1000")
    counts = _publish_into(s3, "deferred", 500, tmp_path)
    # GET: the shard index (a new name has no shard to read), the lease before letting it go; HEAD:
    # repodata.json's size, the new name, the channel page (none); PUT: the store's proof (refused), intent,
    # package, provenance, ready mark, lease, shard, shard index; LIST: publishes in flight (then none left);
    # DELETE: intent, ready mark, lease.
    assert counts == {"GetObject": 2, "HeadObject": 3, "PutObject": 8, "ListObjectsV2": 2, "DeleteObject": 3}
    options = S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
    storage = open_storage(parse_channel("s3://deferred/Conda/Default", options))
    json_blob = storage.get("noarch/repodata.json")
    assert json_blob is not None and b"newcomer" not in json_blob.data
    current = read_current(storage, "noarch")
    assert current.pending and "newcomer-1.0-h0_0.conda" in current.repodata.records()
    compact(storage, "noarch")
    compacted = Repodata.from_json((storage.get("noarch/repodata.json") or json_blob).data, "noarch")
    assert compacted.records() == current.repodata.records()
    assert not read_current(storage, "noarch").pending
    # --compact: conda clients see this one at once, however large the subdir
    later = make_package(tmp_path / "later", "later")
    publish(storage, [later], compact=True)
    assert later.name.encode() in (storage.get("noarch/repodata.json") or json_blob).data


def load_repodata_record(tmp_path: Path) -> dict[str, Any]:
    item = prepare(make_package(tmp_path / "template", "template"))
    return item.record(0)


@pytest.mark.slow
def test_sixteen_concurrent_publishers_lose_nothing(s3: S3Endpoint, s3_channel: Channel, tmp_path: Path) -> None:
    files = [make_package(tmp_path / "out", f"job{i:02d}", subdir="linux-64") for i in range(16)]
    publish_concurrently(files, s3_channel.url, s3.env())
    storage = open_storage(s3_channel)
    names = set(load_repodata(storage, "linux-64")[0].records())
    assert names == {f.name for f in files}
    assert set(_shard_records(storage, "linux-64")) == names
    report = check_channel(s3_channel)
    assert report.ok, report.problems
    assert report.packages == 16


def test_a_publisher_killed_after_upload_leaves_a_valid_channel_that_the_next_publish_repairs(
    store_clock: StoreClock, tmp_path: Path
) -> None:
    channel = store_clock.channel
    storage = open_storage(channel)
    publish(storage, [make_package(tmp_path, "first")])
    # What a publisher killed between its upload and its index update leaves behind: intent + file, long ago.
    orphan = prepare(make_package(tmp_path, "orphan"))
    for intent in intents.note(storage, "noarch", {orphan.filename: orphan.record(0)}, time.time(), set()):
        store_clock.backdate(intent.key, ADOPT_AFTER_SECONDS + 1)
    _upload(storage, orphan, False, None)
    _assert_valid(storage)
    assert orphan.filename not in load_repodata(storage, "noarch")[0].records()

    report = publish(storage, [make_package(tmp_path, "next")])
    assert report.adopted == [orphan.filename]
    assert set(load_repodata(storage, "noarch")[0].records()) == {
        "first-1.0-h0_0.conda",
        "orphan-1.0-h0_0.conda",
        "next-1.0-h0_0.conda",
    }
    assert list(storage.list_objects(f"noarch/{intents.INTENTS_FOLDER}/")) == []
    assert check_channel(channel).ok


def test_index_also_picks_up_an_orphan(channel: Channel, tmp_path: Path) -> None:
    storage = open_storage(channel)
    publish(storage, [make_package(tmp_path, "first")])
    orphan = prepare(make_package(tmp_path, "orphan"))
    _upload(storage, orphan, False, None)
    assert index_channel(storage).total("added") == 1
    assert check_channel(channel).ok


def _through(proxy_url: str, bucket: str) -> Channel:
    return parse_channel(
        f"s3://{bucket}/Conda/Default", S3Options(endpoint_url=proxy_url, region="us-east-1", addressing_style="path")
    )


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries at once: as many attempts as configured, none of the waiting between them."""
    import botocore.retries.standard

    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


def _after(proxy: S3Proxy, hit: Hit) -> list[int | None]:
    """Statuses of the later requests of the same operation on the same key as `hit`: its retries."""
    return [e.status for e in proxy.log if e.request.n > hit.n and (e.request.op, e.request.key) == (hit.op, hit.key)]


def test_publish_retries_through_500_503_and_dropped_connections(
    s3: S3Endpoint, bucket: str, tmp_path: Path, no_backoff: None
) -> None:
    init_channel(_through(s3.url, bucket))
    faults = (
        Fault("the GET of repodata.json", "500"),
        Fault("an intent PUT", "drop"),
        Fault("the package If-None-Match PUT", "drop-after"),
        Fault("the shard index If-Match PUT", "503"),
        Fault("the repodata.json If-Match PUT", "503"),
        Fault("the repodata.json.zst PUT", "500", after=1),
    )
    with fault_proxy(s3.port, *faults) as proxy:
        channel = _through(proxy.url, bucket)
        publish(channel, [make_package(tmp_path, "a"), make_package(tmp_path, "b", subdir="linux-64")])
        publish(channel, [make_package(tmp_path, "c")])
    prefix = "Conda/Default"
    assert [(h.request, h.action, h.key.split("/.condafarm/")[0]) for h in proxy.hits] == [
        ("the GET of repodata.json", "500", f"{prefix}/noarch/repodata.json"),
        ("an intent PUT", "drop", f"{prefix}/noarch"),
        ("the package If-None-Match PUT", "drop-after", f"{prefix}/noarch/a-1.0-h0_0.conda"),
        ("the shard index If-Match PUT", "503", f"{prefix}/noarch/repodata_shards.msgpack.zst"),
        ("the repodata.json If-Match PUT", "503", f"{prefix}/noarch/repodata.json"),
        ("the repodata.json.zst PUT", "500", f"{prefix}/linux-64/repodata.json.zst"),
    ]
    get, intents_put, package_put, index_put, repodata_put, zst_put = proxy.hits
    assert _after(proxy, get)[0] == 200
    assert _after(proxy, intents_put)[0] == 200
    # the dropped package PUT did store the file: its retry is told so (412), and publish sees it is ours
    assert _after(proxy, package_put) == [412]
    assert _after(proxy, index_put)[0] == 200
    assert _after(proxy, repodata_put)[0] == 200
    assert _after(proxy, zst_put)[0] == 200
    report = check_channel(_through(s3.url, bucket), verify_hashes=True)
    assert report.ok and report.packages == 3, report.problems


@pytest.mark.parametrize(
    ("request_name", "key"),
    [
        ("the shard index If-Match PUT", "noarch/repodata_shards.msgpack.zst"),  # the commit itself fails
        ("the repodata.json If-Match PUT", "noarch/repodata.json"),  # committed; its compaction fails
    ],
)
def test_publish_fails_cleanly_when_the_endpoint_keeps_failing(
    s3: S3Endpoint, bucket: str, tmp_path: Path, no_backoff: None, request_name: str, key: str
) -> None:
    direct = _through(s3.url, bucket)
    publish(direct, [make_package(tmp_path, "existing")])
    storage = open_storage(direct)
    before = storage.get("noarch/repodata.json")

    fault = Fault(request_name, "503", times=None)
    with fault_proxy(s3.port, fault) as proxy, pytest.raises(StorageError, match="condafarm index") as failure:
        publish(_through(proxy.url, bucket), [make_package(tmp_path, "new")])
    # the first try and botocore's 6 retries (its `max_attempts` counts retries) met the fault, nothing else did
    assert [(h.request, h.action) for h in proxy.hits] == [(request_name, "503")] * 7
    assert {h.key for h in proxy.hits} == {f"Conda/Default/{key}"}
    assert "\n" not in str(failure.value)
    assert storage.get("noarch/repodata.json") == before
    committed = "new-1.0-h0_0.conda" in load_repodata(storage, "noarch")[0].records()
    assert committed == key.endswith("repodata.json")
    if committed:
        assert "visible to rattler and pixi" in str(failure.value)
        index_channel(direct)  # compacts
        assert "new-1.0-h0_0.conda" in (storage.get("noarch/repodata.json") or before).data.decode()
    else:
        _assert_valid(storage)
        # The file is there, unindexed, and the next publish or index run picks it up.
        assert index_channel(direct).total("added") == 1
    _assert_valid(storage)
    assert check_channel(direct).ok


def test_an_upload_damaged_on_the_way_is_caught_removed_and_not_indexed(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    package = make_package(tmp_path, "tool")
    fault = Fault("the package If-None-Match PUT", "corrupt")
    with fault_proxy(s3.port, fault) as proxy, pytest.raises(StorageError, match="failed verification") as failure:
        publish(_through(proxy.url, bucket), [package])
    assert [(h.request, h.action, h.key) for h in proxy.hits] == [
        ("the package If-None-Match PUT", "corrupt", "Conda/Default/noarch/tool-1.0-h0_0.conda")
    ]
    assert "\n" not in str(failure.value)
    storage = open_storage(_through(s3.url, bucket))
    assert storage.head("noarch/tool-1.0-h0_0.conda") is None
    assert load_repodata(storage, "noarch")[0].records() == {}


def test_read_only_credentials_name_the_missing_permission(iam_s3: IamEndpoint, tmp_path: Path) -> None:
    pkg = make_package(tmp_path, "tool")
    url = f"s3://{iam_s3.bucket}/Conda/ReadOnly"
    result = run_cli("publish", str(pkg), "--to", url, env=iam_s3.env(iam_s3.reader))
    assert result.returncode == 4, result.stderr
    assert "s3:PutObject" in result.stderr and f"arn:aws:s3:::{iam_s3.bucket}/Conda/ReadOnly/" in result.stderr
    assert iam_s3.reader[1] not in result.stderr + result.stdout
    listing = iam_s3.s3.client(*iam_s3.writer).list_objects_v2(Bucket=iam_s3.bucket, Prefix="Conda/ReadOnly/")
    assert listing.get("KeyCount", 0) == 0


def test_cli_prints_what_it_did_and_exit_5_on_an_existing_file(tmp_path: Path) -> None:
    pkg = make_package(tmp_path / "out", "tool", "2.1", 4)
    channel = tmp_path / "channel"
    channel.mkdir()
    result = run_cli("publish", str(pkg), "--to", str(channel))
    assert result.returncode == 0, result.stderr
    assert f"published {(channel / 'noarch' / pkg.name).as_uri()}  (noarch, build number 4" in result.stdout
    again = run_cli("publish", str(pkg), "--to", str(channel))
    assert again.returncode == 5
    assert again.stderr.count("\n") == 1 and "already exists" in again.stderr
    shutil.rmtree(channel)


def test_shards_are_the_same_bytes_however_the_records_were_built(tmp_path: Path) -> None:
    from condafarm.conda.shards import make_shards

    record = prepare(make_package(tmp_path, "tool", run_exports={"weak": ["tool >=1"], "strong": ["x"]})).record(7)
    shuffled = {k: record[k] for k in reversed(list(record))}
    shuffled["run_exports"] = {"strong": ["x"], "weak": ["tool >=1"]}
    a, b = Repodata(subdir="noarch"), Repodata(subdir="noarch")
    a.set("tool-1.0-h0_0.conda", record)
    b.set("tool-1.0-h0_0.conda", shuffled)
    assert make_shards(a).names == make_shards(b).names


def test_check_says_what_waits_for_compaction_and_index_compacts_it(tmp_path: Path) -> None:
    root = tmp_path / "channel"
    root.mkdir()
    assert run_cli("publish", str(make_package(tmp_path / "a", "first")), "--to", str(root)).returncode == 0
    env = {**os.environ, "CONDAFARM_COMPACT_BYTES": "1"}  # every subdir counts as large
    later = make_package(tmp_path / "b", "later")
    assert run_cli("publish", str(later), "--to", str(root), env=env).returncode == 0
    assert later.name.encode() not in (root / "noarch" / "repodata.json").read_bytes()
    check = run_cli("check", str(root))
    assert check.returncode == 0, check.stderr
    assert "noarch/repodata.json: 1 package(s) committed to the shards" in check.stdout
    assert run_cli("index", str(root)).returncode == 0
    assert later.name.encode() in (root / "noarch" / "repodata.json").read_bytes()
    assert "committed to the shards" not in run_cli("check", str(root)).stdout

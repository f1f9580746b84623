from __future__ import annotations

import json
import logging
import secrets
import shutil
import threading
import time
from pathlib import Path

import pytest
from support.packages import make_package
from support.s3 import S3Endpoint, upload_dir

from condafarm import Channel, ChannelProblems, NotFound, check_channel, index_channel, init_channel, open_storage
from condafarm.channel.commit.state import STATE_KEY
from condafarm.channel.commit.store import load_repodata
from condafarm.conda.repodata import decompress
from condafarm.conda.shards import SHARDS_FOLDER


class Target:
    """A channel under test plus a way to put package files into it, on a folder or on S3."""

    def __init__(self, channel: Channel, staging: Path, s3: S3Endpoint | None) -> None:
        self.channel, self.staging, self.s3 = channel, staging, s3
        self.storage = open_storage(channel)

    def add(self, path: Path, subdir: str | None = None) -> None:
        subdir = subdir or path.parent.name
        self.storage.put(f"{subdir}/{path.name}", path.read_bytes())

    def remove(self, subdir: str, name: str) -> None:
        self.storage.delete(f"{subdir}/{name}")

    def records(self, subdir: str) -> dict[str, dict]:
        return load_repodata(self.storage, subdir)[0].records()


@pytest.fixture
def target(request: pytest.FixtureRequest, channel: Channel, tmp_path: Path) -> Target:
    if channel.is_s3:
        return Target(channel, tmp_path / "staging", request.getfixturevalue("s3"))
    assert channel.path is not None
    channel.path.mkdir()
    return Target(channel, tmp_path / "staging", None)


def test_index_writes_repodata_and_zst_for_each_subdir_and_noarch(target: Target) -> None:
    target.add(make_package(target.staging, "tool", "1.0", subdir="linux-64", depends=["python"]))
    target.add(make_package(target.staging, "tool", "1.0", subdir="win-64", fmt=".tar.bz2"))
    report = index_channel(target.channel)
    assert report.total("added") == 2
    for subdir in ("linux-64", "win-64", "noarch"):
        blob = target.storage.get(f"{subdir}/repodata.json")
        assert blob is not None
        data = json.loads(blob.data)
        assert data["info"]["subdir"] == subdir and data["repodata_version"] == 1 and data["removed"] == []
        zst = target.storage.get(f"{subdir}/repodata.json.zst")
        assert zst is not None and decompress(zst.data) == blob.data
    (rec,) = target.records("linux-64").values()
    assert rec["depends"] == ["python"] and len(rec["sha256"]) == 64 and len(rec["md5"]) == 32
    assert set(json.loads(target.storage.get("win-64/repodata.json").data)["packages"]) == {"tool-1.0-h0_0.tar.bz2"}  # type: ignore[union-attr]
    assert check_channel(target.channel).ok


def test_zst_frame_records_its_content_size(target: Target) -> None:
    import zstandard

    target.add(make_package(target.staging))
    index_channel(target.channel)
    params = zstandard.get_frame_parameters(target.storage.get("noarch/repodata.json.zst").data)  # type: ignore[union-attr]
    assert params.content_size == len(target.storage.get("noarch/repodata.json").data)  # type: ignore[union-attr]


def test_run_exports_are_copied_into_records(target: Target) -> None:
    target.add(make_package(target.staging, "libfoo", run_exports={"weak": ["libfoo >=1,<2"]}))
    index_channel(target.channel)
    assert target.records("noarch")["libfoo-1.0-h0_0.conda"]["run_exports"] == {"weak": ["libfoo >=1,<2"]}


def test_unchanged_files_are_not_read_again(target: Target) -> None:
    for i in range(5):
        target.add(make_package(target.staging, f"p{i}"))
    index_channel(target.storage)
    before = target.storage.request_counts()
    report = index_channel(target.storage)
    assert report.total("unchanged") == 5 and report.total("added") == 0
    assert not any(s.wrote for s in report.subdirs)
    if target.s3:
        after = target.storage.request_counts()
        # A no-op run: per subdir, get the state and list the subdir, which proves repodata.json, its .zst, the
        # shard index and every package file unchanged (no read of repodata.json or the shard index); then
        # the channel page (there is none). No package read, nothing written.
        spent = {op: n - before.get(op, 0) for op, n in after.items() if op != "bytes_read" and n > before.get(op, 0)}
        assert spent == {
            "GetObject": len(report.subdirs),
            "ListObjectsV2": 1 + len(report.subdirs),
            "HeadObject": 1,
            "ListMultipartUploads": 1,
        }


def test_an_index_that_finds_a_new_file_lists_each_subdir_once(s3_channel: Channel, tmp_path: Path) -> None:
    target = Target(s3_channel, tmp_path, None)
    for name in ("a", "b"):
        target.add(make_package(tmp_path, name))
    target.add(make_package(tmp_path, "c", subdir="linux-64"))
    index_channel(target.storage)
    target.add(make_package(tmp_path, "newcomer"))
    before = target.storage.request_counts()
    report = index_channel(target.storage)
    after = target.storage.request_counts()
    assert report.total("added") == 1 and report.total("unchanged") == 3
    # The channel's folders and each subdir once (the changed one's first listing stands: repodata.json and the
    # shard index read are those the state saw); not the shard folder: the replaced shard is known from the state.
    assert after["ListObjectsV2"] - before["ListObjectsV2"] == 1 + 2
    # The unchanged subdir costs its state and its listing only.
    assert after["GetObject"] - before["GetObject"] == 2 + 2 + 1  # states, noarch's repodata.json + index, newcomer


def test_a_commit_between_the_first_listing_and_the_reads_is_kept(
    s3_channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import condafarm.channel.index as index_module
    from condafarm import publish

    target = Target(s3_channel, tmp_path, None)
    target.add(make_package(tmp_path, "a"))
    index_channel(target.storage)
    target.add(make_package(tmp_path, "b"))  # something to index, so the run does not stop at its first listing
    late = make_package(tmp_path / "late", "late")
    real = index_module.read_current
    published = []

    def publish_first(*args: object, **kwargs: object) -> object:
        if not published:  # after the run's first listing, before it reads repodata.json
            published.append(publish(s3_channel, [late]))
        return real(*args, **kwargs)

    monkeypatch.setattr(index_module, "read_current", publish_first)
    report = index_channel(target.storage)
    assert published and report.total("added") == 1  # b; late's record came with the publish
    assert set(target.records("noarch")) == {"a-1.0-h0_0.conda", "b-1.0-h0_0.conda", late.name}


def test_new_package_reads_only_that_package_on_s3(s3_channel: Channel, tmp_path: Path) -> None:
    target = Target(s3_channel, tmp_path, None)
    for i in range(20):
        target.add(make_package(tmp_path, f"p{i}", payload=secrets.token_hex(300_000)))  # bigger than one ranged read
    index_channel(target.storage)
    new = make_package(tmp_path, "newcomer", payload=secrets.token_hex(300_000))
    assert new.stat().st_size > 300_000
    target.add(new)
    before = target.storage.request_counts()
    report = index_channel(target.storage)
    after = target.storage.request_counts()
    assert report.total("added") == 1
    read = after["bytes_read"] - before["bytes_read"]
    repodata_bytes = len(target.storage.get("noarch/repodata.json").data)  # type: ignore[union-attr]
    state_bytes = len(target.storage.get(f"noarch/{STATE_KEY}").data)  # type: ignore[union-attr]
    # The old repodata and state, plus the one new package (its tail range and one full read for the hashes).
    assert read <= repodata_bytes + state_bytes + 2 * new.stat().st_size


def test_hashes_in_object_metadata_save_the_download(s3_channel: Channel, tmp_path: Path) -> None:
    import hashlib

    path = make_package(tmp_path, "big", payload=secrets.token_hex(1_000_000))
    data = path.read_bytes()
    storage = open_storage(s3_channel)
    storage.put(
        f"noarch/{path.name}",
        data,
        metadata={"package-sha256": hashlib.sha256(data).hexdigest(), "package-md5": hashlib.md5(data).hexdigest()},
    )
    init_channel(storage)
    before = storage.request_counts()
    index_channel(storage)
    after = storage.request_counts()
    # Two ranged reads of the package (zip directory, then the info member) besides the repodata and state.
    assert after["GetObject"] - before.get("GetObject", 0) <= 2 + 2
    assert after["bytes_read"] - before["bytes_read"] < len(data) / 2
    assert load_repodata(storage, "noarch")[0].records()[path.name]["sha256"] == hashlib.sha256(data).hexdigest()


def test_reuploaded_file_with_same_name_is_reread_and_keeps_first_indexed_timestamp(target: Target) -> None:
    first = make_package(target.staging, "tool", payload="aaaa")
    target.add(first)
    index_channel(target.channel)
    old = target.records("noarch")[first.name]
    shutil.rmtree(target.staging)
    second = make_package(target.staging, "tool", payload="bbbb")  # same name and size, other bytes
    assert second.name == first.name
    target.add(second)
    report = index_channel(target.channel)
    new = target.records("noarch")[first.name]
    assert report.total("updated") == 1
    assert new["sha256"] != old["sha256"]
    assert new["indexed_timestamp"] == old["indexed_timestamp"]


def test_deleted_file_leaves_the_index(target: Target) -> None:
    a, b = make_package(target.staging, "a"), make_package(target.staging, "b")
    target.add(a)
    target.add(b)
    index_channel(target.channel)
    target.remove("noarch", a.name)
    report = index_channel(target.channel)
    assert report.total("removed") == 1 and set(target.records("noarch")) == {b.name}


def test_corrupt_package_is_skipped_with_a_warning_and_the_rest_indexed(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    good = make_package(target.staging, "good")
    target.add(good)
    target.storage.put("noarch/broken-1.0-0.conda", b"PK\x03\x04garbage" * 100)
    truncated = make_package(target.staging, "trunc", payload="t" * 10000)
    target.storage.put(f"noarch/{truncated.name}", truncated.read_bytes()[:500])
    liar = make_package(target.staging, "liar")
    target.storage.put("noarch/other-1.0-h0_0.conda", liar.read_bytes())
    with caplog.at_level(logging.WARNING):
        report = index_channel(target.channel)
    assert set(target.records("noarch")) == {good.name}
    assert set(report.subdirs[0].skipped) == {"broken-1.0-0.conda", truncated.name, "other-1.0-h0_0.conda"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("noarch/broken-1.0-0.conda" in w and "corrupt" in w for w in warnings)
    assert any("other-1.0-h0_0.conda" in w and "filename says 'other'" in w for w in warnings)
    again = index_channel(target.channel)  # nothing changed: the state still knows why each was skipped
    assert again.subdirs[0].skipped == report.subdirs[0].skipped and again.total("unchanged") == 1
    with pytest.raises(ChannelProblems):
        index_channel(target.channel, strict=True)


def test_yanked_files_stay_out_of_the_index(target: Target) -> None:
    pkg = make_package(target.staging, "tool")
    target.add(pkg)
    index_channel(target.channel)
    repodata, etag = load_repodata(target.storage, "noarch")
    repodata.pop(pkg.name)
    repodata.removed.append(pkg.name)
    from condafarm.channel.commit.store import commit_repodata

    commit_repodata(target.storage, "noarch", repodata, etag)
    index_channel(target.channel)
    assert target.records("noarch") == {}
    assert check_channel(target.channel).ok


def test_dry_run_reports_and_writes_nothing(target: Target) -> None:
    init_channel(target.channel)
    target.add(make_package(target.staging, "tool", subdir="linux-64"))
    before = target.storage.get("noarch/repodata.json")
    report = index_channel(target.channel, dry_run=True)
    assert report.subdirs[0].added == ["tool-1.0-h0_0.conda"]
    assert target.storage.get("linux-64/repodata.json") is None
    assert target.storage.get("noarch/repodata.json") == before


def test_missing_channel_is_an_error_not_an_empty_index(target: Target) -> None:
    with pytest.raises(NotFound, match="condafarm init"):
        index_channel(target.channel)


def test_init_creates_an_empty_channel_once(target: Target) -> None:
    assert init_channel(target.channel) is True
    assert init_channel(target.channel) is False
    assert json.loads(target.storage.get("noarch/repodata.json").data)["packages.conda"] == {}  # type: ignore[union-attr]
    assert check_channel(target.channel).ok


def test_check_finds_missing_unindexed_drifted_and_stale_zst(target: Target) -> None:
    a, b, c = (make_package(target.staging, n) for n in ("a", "b", "c"))
    target.add(a)
    target.add(b)
    index_channel(target.channel)
    target.remove("noarch", a.name)
    target.add(c)
    target.storage.put(f"noarch/{b.name}", b.read_bytes() + b"x")
    target.storage.put("noarch/repodata.json.zst", b"not zstd")
    problems = check_channel(target.channel).problems
    assert any(a.name in p and "missing" in p for p in problems)
    assert any(c.name in p and "not indexed" in p for p in problems)
    assert any(b.name in p and "size" in p for p in problems)
    assert any("repodata.json.zst" in p for p in problems)
    index_channel(target.channel)
    assert check_channel(target.channel).ok


def test_concurrent_indexers_lose_nothing(target: Target) -> None:
    """Eight threads each add a package and index at once; every package ends up indexed."""
    init_channel(target.channel)
    paths = [make_package(target.staging, f"c{i}", subdir="linux-64") for i in range(8)]
    errors: list[BaseException] = []

    def work(path: Path) -> None:
        try:
            target.add(path)
            index_channel(Target(target.channel, target.staging, None).storage, subdirs=["linux-64"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, [repr(e) for e in errors]
    assert set(target.records("linux-64")) == {p.name for p in paths}
    assert check_channel(target.channel).ok


def test_hundreds_of_packages_across_subdirs(many_packages: Path, tmp_path: Path) -> None:
    from condafarm import parse_channel

    root = tmp_path / "ch"
    shutil.copytree(many_packages, root)
    report = index_channel(parse_channel(str(root)))
    assert report.total("added") == 320 and report.total("skipped") == 0
    counts = {s.subdir: len(s.added) for s in report.subdirs}
    assert counts == {"linux-64": 100, "noarch": 80, "osx-arm64": 60, "win-64": 80}
    assert check_channel(parse_channel(str(root))).ok


def test_s3_channel_of_hundreds_uploaded_without_metadata(s3: S3Endpoint, bucket: str, many_packages: Path) -> None:
    from condafarm import S3Options, parse_channel

    upload_dir(s3, bucket, "Conda/Default", many_packages)
    channel = parse_channel(f"s3://{bucket}/Conda/Default", S3Options(s3.url, "us-east-1", "path"))
    report = index_channel(channel)
    assert report.total("added") == 320
    assert check_channel(channel, verify_hashes=True).ok


def _shard_files(target: Target) -> set[str]:
    return {i.name for i in target.storage.list_objects(f"noarch/{SHARDS_FOLDER}/")}


def _replace_a_shard(target: Target) -> set[str]:
    """Index tool 1.0, then 1.1, whose commit replaces tool's shard; returns the shard files before 1.1."""
    target.add(make_package(target.staging / "1", "tool", "1.0"))
    index_channel(target.storage)
    first = _shard_files(target)
    target.add(make_package(target.staging / "2", "tool", "1.1"))
    index_channel(target.storage)
    return first


def test_replaced_shards_are_deleted_only_after_the_grace_period(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    import condafarm.channel.commit.derived as derived_module

    first = _replace_a_shard(target)
    assert first < _shard_files(target)  # the old shard stays: clients may hold an index that names it
    monkeypatch.setattr(derived_module, "SHARD_GRACE_SECONDS", 0)
    index_channel(target.storage)
    remaining = _shard_files(target)
    assert len(remaining) == 1 and not (first & remaining)


def test_an_index_on_a_host_whose_clock_runs_days_ahead_keeps_a_shard_replaced_just_now(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grace period runs on the store's clock: the run that first saw the old shard unnamed, and a later run on
    a host two days ahead, both measure by the store's time, which says the shard was replaced a moment ago."""
    first = _replace_a_shard(target)  # its second run first sees the old shard unnamed
    real_time = time.time
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: real_time() + 2 * 24 * 3600)
        index_channel(target.storage)
    assert first < _shard_files(target), "a shard replaced a moment ago was deleted"


def test_shards_no_state_knew_are_found_by_a_sweep_a_grace_period_later_and_deleted_after_theirs(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    import condafarm.channel.commit.derived as derived_module
    from condafarm.channel.commit.state import IndexState

    day = derived_module.SHARD_GRACE_SECONDS
    stray = f"noarch/{SHARDS_FOLDER}/{'ab' * 32}.msgpack.zst"  # a writer's shard that no index ever named

    kind = type(target.storage)
    real = kind.store_time

    def index_a_new_package(version: str, hours: float) -> IndexState:
        """Index a new package after `hours` passed on the store's clock, which times the sweeps and the grace."""
        monkeypatch.setattr(
            kind, "store_time", lambda self: None if (now := real(self)) is None else now + hours * 3600
        )
        target.add(make_package(target.staging / version, "tool", version))
        index_channel(target.storage)
        return IndexState.load(target.storage, "noarch")

    first = index_a_new_package("1.0", 0)
    target.storage.put(stray, b"not named")
    second = index_a_new_package("1.1", 1)  # 1.0's shard is known replaced; the folder is not listed
    assert set(second.orphan_shards) == set(first.shard_digests) and second.swept == first.swept
    assert target.storage.head(stray) is not None
    third = index_a_new_package("1.2", 25)  # a grace period since the last sweep: listed, the stray found
    assert stray.rsplit("/", 1)[1].removesuffix(".msgpack.zst") in third.orphan_shards
    assert third.swept > second.swept + day - 3600
    fourth = index_a_new_package("1.3", 25 + 24 + 1)  # the stray's grace is over, as are the replaced shards'
    assert target.storage.head(stray) is None and fourth.orphan_shards.keys() == set(third.shard_digests)


def test_an_unchanged_subdir_is_swept_by_the_stores_clock(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    """A subdir nothing changed in still has its shard folder swept: a replaced shard goes once its grace is over
    by the store's clock (not this host's), and one no state knew is found a day after the last sweep."""
    kind = type(target.storage)
    real = kind.store_time
    replaced = _replace_a_shard(target)  # 1.0's shard is replaced, known from the state
    stray = f"{'ab' * 32}.msgpack.zst"  # a dead writer's shard that no index ever named
    target.storage.put(f"noarch/{SHARDS_FOLDER}/{stray}", b"not named")
    for hours in (25, 50):  # the store's clock runs on, this host's does not; nothing else changes
        monkeypatch.setattr(
            kind, "store_time", lambda self, h=hours: None if (t := real(self)) is None else t + h * 3600
        )
        index_channel(target.storage)
        if hours == 25:
            assert not replaced & _shard_files(target), "a shard replaced a day ago was kept"
    assert stray not in _shard_files(target), "a shard no index named was never swept"


def test_an_index_state_cannot_cut_the_grace_of_a_shard_written_just_now(target: Target) -> None:
    """Another party can write index-state.json: an orphan it says was unnamed since 1970 is one a writer wrote a
    moment ago and is about to name (shards are written before the index that names them): it stays its grace."""
    from condafarm.channel.commit.state import IndexState

    target.add(make_package(target.staging, "tool"))
    index_channel(target.storage)
    fresh = f"noarch/{SHARDS_FOLDER}/{'cd' * 32}.msgpack.zst"
    target.storage.put(fresh, b"a writer's shard, its commit to come")
    state = IndexState.load(target.storage, "noarch")
    state.orphan_shards["cd" * 32] = 0.0
    state.save(target.storage, "noarch")
    index_channel(target.storage)
    assert target.storage.head(fresh) is not None


def test_listing_returns_every_key_size_and_etag_as_s3_has_them(s3: S3Endpoint, s3_channel: Channel) -> None:
    client = s3.client()
    names = [f"noarch/file-{i:04d}.txt" for i in range(1100)] + ["noarch/a&b <c>.txt"]
    for name in names:
        client.put_object(Bucket=s3_channel.bucket, Key=f"Conda/Default/{name}", Body=name.encode())
    ours = {(i.key, i.size, i.etag) for i in open_storage(s3_channel).list_objects("noarch/")}
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3_channel.bucket, Prefix="Conda/Default/noarch/")
    theirs = {
        (o["Key"].removeprefix("Conda/Default/"), o["Size"], o["ETag"]) for page in pages for o in page["Contents"]
    }
    assert ours == theirs and len(ours) == 1101


def test_a_derived_file_damaged_while_nothing_else_changed_is_repaired_by_the_next_index(target: Target) -> None:
    target.add(make_package(target.staging, "tool"))
    index_channel(target.storage)
    target.storage.put("noarch/repodata.json.zst", b"not zstd")
    assert not check_channel(target.channel).ok
    index_channel(target.storage)
    assert check_channel(target.channel).ok
    assert decompress(target.storage.get("noarch/repodata.json.zst").data)  # type: ignore[union-attr]


@pytest.mark.parametrize("damage", ["removed", "emptied"])
def test_a_run_exports_json_damaged_while_nothing_else_changed_is_repaired_by_the_next_index(
    target: Target, damage: str
) -> None:
    target.add(make_package(target.staging, "tool", run_exports={"weak": ["tool"]}))
    index_channel(target.storage)
    if damage == "removed":
        target.storage.delete("noarch/run_exports.json")
    else:
        target.storage.put("noarch/run_exports.json", b"{}")
    assert not check_channel(target.channel).ok
    index_channel(target.storage)
    assert check_channel(target.channel).ok


def test_check_reports_a_shard_index_rolled_back_and_index_repairs_it(target: Target) -> None:
    from condafarm.conda.shards import SHARDS_INDEX

    target.add(make_package(target.staging, "tool", "1.0"))
    index_channel(target.storage)
    stale = target.storage.get(f"noarch/{SHARDS_INDEX}")
    assert stale is not None
    target.add(make_package(target.staging, "tool", "1.1"))
    index_channel(target.storage)
    target.storage.put(f"noarch/{SHARDS_INDEX}", stale.data)  # a commit undone behind condafarm's back
    problems = check_channel(target.channel).problems
    assert any("tool-1.1-h0_0.conda: named by noarch/repodata.json but not committed" in p for p in problems)
    index_channel(target.storage)
    assert check_channel(target.channel).ok


def test_large_local_batches_read_on_processes_give_the_same_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import condafarm.channel.read.reading as reading_module
    from condafarm import parse_channel

    count = reading_module.PROCESS_POOL_MIN + 20
    root = tmp_path / "channel"
    for i in range(count):
        make_package(root, f"p{i % 40}", f"1.{i}", subdir="linux-64")
    shutil.rmtree(root / ".staging")
    corrupt = root / "linux-64" / "broken-1.0-h0_0.conda"
    corrupt.write_bytes(b"not a zip")
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    on_processes = index_channel(parse_channel(str(root)), workers=2)
    monkeypatch.setattr(reading_module, "PROCESS_POOL_MIN", 10**9)
    on_threads = index_channel(parse_channel(str(copy)), workers=2)
    assert on_processes.total("added") == on_threads.total("added") == count
    assert on_processes.subdirs[0].skipped == on_threads.subdirs[0].skipped
    assert list(on_threads.subdirs[0].skipped) == ["broken-1.0-h0_0.conda"]

    def records(channel_root: Path) -> dict[str, dict[str, object]]:
        recs = json.loads((channel_root / "linux-64" / "repodata.json").read_text())["packages.conda"]
        return {k: {f: v for f, v in r.items() if f != "indexed_timestamp"} for k, r in recs.items()}

    assert records(root) == records(copy)


@pytest.mark.parametrize("compacted", [True, False], ids=["compacted", "not-compacted"])
def test_rebuild_writes_back_a_lost_shard_file_so_rattler_reads_the_shards_again(
    target: Target, compacted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard file deleted behind condafarm's back: py-rattler gets 404s, `check` (or any command, where
    repodata.json does not hold that name's records) says to run `index --rebuild`, and that run repairs it."""
    from support.rattler_client import sharded

    from condafarm.channel.publish import publish
    from condafarm.conda.shards import SHARDS_INDEX, Shards, read_shard_names
    from condafarm.errors import InvalidRepodata

    target.add(make_package(target.staging, "tool", "1.0"))
    target.add(make_package(target.staging, "lib", "1.0"))
    index_channel(target.storage)
    if not compacted:
        monkeypatch.setenv("CONDAFARM_COMPACT_BYTES", "1")  # repodata.json stays behind the shard index
    publish(target.storage, [make_package(target.staging, "late", "1.0")])
    index = target.storage.get(f"noarch/{SHARDS_INDEX}")
    assert index is not None
    lost = Shards.key("noarch", read_shard_names(index.data)["late"])
    target.storage.delete(lost)
    endpoint = target.s3.url if target.s3 else None
    where = target.channel.url if target.s3 else target.channel.url.removeprefix("file://")
    assert sharded(where, "noarch", ["late"], endpoint).returncode != 0  # the lost shard is a 404

    problems = check_channel(target.channel).problems
    assert any(lost in p and "index --rebuild" in p and "noarch/noarch" not in p for p in problems), problems
    if not compacted:
        with pytest.raises(InvalidRepodata, match="index --rebuild"):
            index_channel(target.storage)  # a plain index cannot make the shard again: it points to --rebuild
    index_channel(target.storage, rebuild=True)
    index = target.storage.get(f"noarch/{SHARDS_INDEX}")
    assert index is not None
    for digest in read_shard_names(index.data).values():  # the lost records come back from their package
        assert target.storage.head(Shards.key("noarch", digest)) is not None
    assert check_channel(target.channel).ok
    result = sharded(where, "noarch", ["late", "lib", "tool"], endpoint)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["late=1.0=h0_0", "lib=1.0=h0_0", "tool=1.0=h0_0"]

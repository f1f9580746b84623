"""The storage contract (`condafarm.storage.Storage`), case by case, on every backend: a folder, moto's S3 server,
and SeaweedFS, a production S3 server, each channel in a place whose path or prefix holds a space, a `$`, a `+`
and a non-ASCII letter.

Where the backends could disagree, S3's documented behaviour is the contract: a conditional write that fails
writes nothing, an If-Match read of a replaced object fails, deleting a missing key succeeds, a listing holds
only objects, and a copy with `If-None-Match: *` onto an existing key is refused.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from support.s3 import S3Endpoint, new_bucket

from condafarm import AlreadyExists, Conflict, S3Options, UsageError, parse_channel
from condafarm.storage import Storage, open_storage
from condafarm.storage.cas import put_if_unchanged, retry_on_conflict
from condafarm.storage.local import LocalStorage
from condafarm.storage.s3 import S3Storage, listing

#: Where a channel lives in its test's folder or under its test's prefix: characters a shell or a URL would mangle.
FOLDER = "a $channel + ü/root"
#: Threads racing in the concurrency cases.
THREADS = 8

T = TypeVar("T")


@pytest.fixture(scope="module")
def buckets() -> dict[str, str]:
    """One bucket per S3 server for this module, filled as tests need them (SeaweedFS grows a volume for every
    bucket, which costs more than the case); each test's channel is under a prefix of its own."""
    return {}


@pytest.fixture(params=["folder", "moto", "seaweedfs"])
def storage(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Storage:
    """A fresh, empty channel's storage on each backend."""
    monkeypatch.setenv("CONDAFARM_CACHE_DIR", str(tmp_path / "cache"))  # the conditional-write probe's answer
    return _open(request.param, request, tmp_path, "channel")


def _open(backend: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> Storage:
    """A new channel on `backend`, in a place of its own (`_top`) named after `name`."""
    if backend == "folder":
        return open_storage(parse_channel(str(tmp_path / name / FOLDER)))
    endpoint: S3Endpoint = request.getfixturevalue("s3" if backend == "moto" else "seaweedfs")
    buckets: dict[str, str] = request.getfixturevalue("buckets")
    if endpoint.url not in buckets:
        buckets[endpoint.url] = new_bucket(endpoint.client(), "contract")
    options = S3Options(endpoint_url=endpoint.url, region="us-east-1", addressing_style="path")
    top = f"{name}-{secrets.token_hex(6)}"
    return open_storage(parse_channel(f"s3://{buckets[endpoint.url]}/{top}/{FOLDER}", options))


def _everything(storage: Storage) -> set[str]:
    """Every object in the place `_open` gave the channel, inside the channel or not, relative to that place."""
    if isinstance(storage, S3Storage):  # not through its client, whose listings `listing.py` reads itself
        assert storage.channel.s3.endpoint_url is not None
        client = S3Endpoint(storage.channel.s3.endpoint_url, 0).client()
        top = storage.channel.prefix.removesuffix(FOLDER)
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket, Prefix=top)
        return {obj["Key"].removeprefix(top) for page in pages for obj in page.get("Contents", ())}
    assert isinstance(storage, LocalStorage)
    top_folder = storage.root.parents[len(Path(FOLDER).parts) - 1]
    return {p.relative_to(top_folder).as_posix() for p in top_folder.rglob("*") if p.is_file()}


def _race(action: Callable[[int], T]) -> list[T | Exception]:
    """`action(i)` in `THREADS` threads released together; what each returned or raised."""
    start = threading.Barrier(THREADS)

    def one(i: int) -> T | Exception:
        start.wait()
        try:
            return action(i)
        except Exception as exc:  # the outcome under test
            return exc

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(THREADS)))


def test_put_if_absent_refuses_an_existing_key_and_writes_nothing(storage: Storage) -> None:
    etag = storage.put("noarch/state.json", b"first", if_absent=True)
    with pytest.raises(AlreadyExists):
        storage.put("noarch/state.json", b"second", if_absent=True, metadata={"package-sha256": "0" * 64})
    blob = storage.get("noarch/state.json")
    assert blob is not None and (blob.data, blob.etag, blob.metadata) == (b"first", etag, {})


def test_put_if_match_with_a_stale_etag_conflicts_and_writes_nothing(storage: Storage) -> None:
    old = storage.put("noarch/state.json", b"one")
    new = storage.put("noarch/state.json", b"two", if_match=old)
    assert new != old
    with pytest.raises(Conflict):
        storage.put("noarch/state.json", b"three", if_match=old)
    blob = storage.get("noarch/state.json")
    assert blob is not None and (blob.data, blob.etag) == (b"two", new)


def test_put_if_match_on_a_missing_key_conflicts_and_writes_nothing(storage: Storage) -> None:
    etag = storage.put("noarch/state.json", b"one")
    storage.delete("noarch/state.json")
    with pytest.raises(Conflict):
        storage.put("noarch/state.json", b"two", if_match=etag)
    assert storage.head("noarch/state.json") is None


def test_the_etag_put_returns_is_what_get_head_and_list_say_and_changes_with_the_content(storage: Storage) -> None:
    first = storage.put("noarch/a.json", b"one")
    blob, head = storage.get("noarch/a.json"), storage.head("noarch/a.json")
    assert blob is not None and head is not None
    assert blob.etag == head.etag == first
    assert [o.etag for o in storage.list_objects("noarch/")] == [first]
    second = storage.put("noarch/a.json", b"two")
    assert second != first
    head = storage.head("noarch/a.json")
    assert head is not None and head.etag == second


def test_listings_and_heads_say_when_the_store_received_each_object_by_the_stores_clock(storage: Storage) -> None:
    """`modified` is what ages intents (`channel/commit/intents.py`): the store's own time of each write, the
    same from a listing and a HEAD, never earlier for a later write. These stores run on this host, so their clock
    is this one, to their resolution (whole seconds for S3's Last-Modified)."""
    before = time.time()
    storage.put("noarch/a.json", b"one")
    storage.put("noarch/b.json", b"two")
    after = time.time()
    listed = {o.name: o.modified for o in storage.list_objects("noarch/")}
    heads = {name: storage.head(f"noarch/{name}") for name in listed}
    for name, modified in listed.items():
        head = heads[name]
        assert modified is not None and head is not None and head.modified is not None, name
        assert int(before) - 1 <= modified <= after + 1, (name, modified, before, after)
        assert abs(head.modified - modified) < 1, (name, head.modified, modified)
    assert listed["a.json"] <= listed["b.json"]  # type: ignore[operator]


def test_the_stores_time_is_its_own_clock_now(storage: Storage) -> None:
    """`store_time()` is what ages are measured against (intents, leftovers, orphan shards): on S3 the Date of the
    latest answer, on a folder a probe's mtime, which leaves nothing behind."""
    before = time.time()
    storage.put("noarch/a.json", b"one")
    [listed] = storage.list_objects("noarch/")
    now = storage.store_time()
    after = time.time()
    assert now is not None and listed.modified is not None
    assert int(before) - 1 <= now <= after + 1, (now, before, after)
    assert now >= listed.modified - 1  # whole seconds on S3
    assert [o.name for o in storage.list_objects("")] == [] and _everything(storage) == {f"{FOLDER}/noarch/a.json"}


def test_get_and_head_of_a_missing_key_are_none(storage: Storage) -> None:
    assert storage.get("noarch/missing.json") is None
    assert storage.head("noarch/missing.json") is None
    storage.put("noarch/present.json", b"{}")
    assert storage.get("noarch/missing.json") is None
    assert storage.head("noarch/missing.json") is None


def test_head_reports_the_size_and_where_the_store_keeps_it_the_user_metadata(storage: Storage) -> None:
    metadata = {"package-sha256": "ab" * 32}
    storage.put("linux-64/a.json", b"twelve bytes", metadata=metadata, content_type="application/json")
    head = storage.head("linux-64/a.json")
    blob = storage.get("linux-64/a.json")
    assert head is not None and blob is not None and head.size == 12
    kept = metadata if storage.keeps_object_metadata else {}
    assert head.metadata == blob.metadata == kept


def test_a_listing_holds_exactly_the_objects_directly_under_its_prefix(storage: Storage) -> None:
    etags = {key: storage.put(key, key.encode()) for key in ("noarch/a.json", "noarch/b.conda")}
    for other in ("noarch-x/c.json", "noarcha.json", "noarch/deeper/d.json", "linux-64/e.json", "root.json"):
        storage.put(other, b"elsewhere")
    expected = [(key, len(key), etag) for key, etag in sorted(etags.items())]
    for prefix in ("noarch/", "noarch"):
        assert sorted((o.key, o.size, o.etag) for o in storage.list_objects(prefix)) == expected
    assert sorted(o.key for o in storage.list_objects("")) == ["noarcha.json", "root.json"]
    assert list(storage.list_objects("win-64/")) == []
    assert storage.list_dirs() == ["linux-64", "noarch", "noarch-x"]
    assert storage.list_dirs("noarch/") == ["deeper"]


@pytest.mark.parametrize("count", [35, 36])
def test_a_listing_over_several_pages_holds_every_object_once(
    storage: Storage, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    """S3 lists at most a page of keys per request: shrunk to 7 here, 35 keys fill exactly 5 pages and 36 spill
    into a sixth (a folder is one directory read); known keys cut the listing into ranges (`listing.py`) but
    never change what it holds."""
    monkeypatch.setattr(listing, "PAGE_KEYS", 7)
    keys = [f"noarch/{i:03d}.json" for i in range(count)]
    with ThreadPoolExecutor(8) as pool:
        etags = dict(zip(keys, pool.map(lambda key: storage.put(key, key.encode()), keys), strict=True))
    storage.put("noarch-x/after.json", b"a sibling's key sorts after the last page")
    expected = [(key, len(key), etags[key]) for key in keys]
    before = storage.request_counts().get("ListObjectsV2", 0)
    assert sorted((o.key, o.size, o.etag) for o in storage.list_objects("noarch/")) == expected
    if isinstance(storage, S3Storage):
        assert storage.request_counts()["ListObjectsV2"] - before == -(-count // 7)
    for known in (keys, keys[::3], keys[:20]):
        assert sorted((o.key, o.size, o.etag) for o in storage.list_objects("noarch/", known=known)) == expected


def test_deleting_removes_the_object_and_deleting_a_missing_key_is_no_error(storage: Storage) -> None:
    storage.put("noarch/a.json", b"{}")
    storage.delete("noarch/a.json")
    storage.delete("noarch/a.json")
    storage.delete("linux-64/never-there.json")
    assert storage.get("noarch/a.json") is None and storage.head("noarch/a.json") is None
    assert list(storage.list_objects("noarch/")) == []


def test_reads_return_exactly_the_bytes_asked_for_to_the_last_one(storage: Storage) -> None:
    """More than the first ranged read fetches (`reader.TAIL_BYTES`), so ranges at the start are requests too."""
    data = os.urandom(600 * 1024 + 3)
    storage.put("noarch/x.conda", data)
    info = storage.head("noarch/x.conda")
    assert info is not None
    with storage.open(info) as f:
        for start, length in ((0, 1), (1, 4096), (len(data) - 1, 1), (len(data) - 5, 100), (300_000, 70_000)):
            f.seek(start)
            assert f.read(length) == data[start : start + length], (start, length)
        assert f.seek(0, os.SEEK_END) == len(data) and f.read(1) == b""
        f.prefetch(1000, 2000)
        f.seek(1000)
        assert f.read(1000) == data[1000:2000]
        f.seek(0)
        assert f.read() == data
    with storage.stream(info) as s:
        assert s.read(10) == data[:10] and s.read() == data[10:] and s.read() == b""


def test_an_empty_object_reads_as_empty(storage: Storage) -> None:
    etag = storage.put("noarch/empty.json", b"")
    info = storage.head("noarch/empty.json")
    blob = storage.get("noarch/empty.json")
    assert info is not None and (info.size, info.etag) == (0, etag)
    assert blob is not None and blob.data == b""
    with storage.open(info) as f:
        assert f.read() == b"" and f.read(1) == b""
    with storage.stream(info) as s:
        assert s.read() == b""
    assert [(o.key, o.size) for o in storage.list_objects("noarch")] == [("noarch/empty.json", 0)]


def test_reading_an_object_replaced_since_it_was_listed_conflicts(storage: Storage) -> None:
    """As S3's If-Match: a reader never gets bytes of another version than the listing described."""
    storage.put("noarch/x.conda", b"old bytes")
    (listed,) = storage.list_objects("noarch/")
    assert storage.stream(listed).read() == b"old bytes"
    storage.put("noarch/x.conda", b"new bytes")
    with pytest.raises(Conflict):
        storage.stream(listed).read()
    with pytest.raises(Conflict):
        storage.open(listed).read()


#: Names whose characters URLs, shells or XML treat specially (`%25` must not be decoded, `+` is no space).
ODD_NAMES = ["with space.json", "dollar$HOME.json", "a+b.conda", "100%25 sure%.json", "ünïcødé-日本.json", "~tilde'q&<"]
#: Keys that would name something outside the channel on some store (a folder, or a server that normalises paths).
ESCAPING_KEYS = [
    "../x.json",
    "noarch/../../x.json",
    "/x.json",
    "//x.json",
    "noarch/../x.json",
    "./x.json",
    "noarch//x.json",
    "noarch/",
    "",
    "..\\x.json",
    "noarch\\..\\..\\x.json",
    "C:x.json",
    "noarch/x\0",
]


def test_keys_with_characters_urls_and_shells_treat_specially_round_trip(storage: Storage) -> None:
    for name in ODD_NAMES:
        key = f"noarch/{name}"
        etag = storage.put(key, name.encode(), if_absent=True)
        blob, head = storage.get(key), storage.head(key)
        assert blob is not None and head is not None and blob.data == name.encode() and head.etag == etag, key
        assert [(o.key, o.etag) for o in storage.list_objects("noarch/")] == [(key, etag)]
        assert storage.stream(head).read() == storage.open(head).read() == name.encode(), key
        assert _everything(storage) == {f"{FOLDER}/{key}"}
        storage.delete(key)
        assert storage.head(key) is None, key


def test_a_key_that_could_leave_the_channel_is_refused_and_nothing_is_written(storage: Storage, tmp_path: Path) -> None:
    storage.put("noarch/inside.json", b"{}")
    before = _everything(storage)
    file = tmp_path / "x.json"
    file.write_bytes(b"escaped")
    refused: list[Callable[[str], object]] = [
        lambda key: storage.put(key, b"escaped"),
        lambda key: storage.put(key, b"escaped", if_absent=True),
        lambda key: storage.upload(key, file, sha256=hashlib.sha256(b"escaped").hexdigest(), md5="0" * 32),
        lambda key: storage.delete(key),
        lambda key: storage.get(key),
        lambda key: storage.head(key),
    ]
    for key in ESCAPING_KEYS:
        for attempt in refused:
            with pytest.raises(UsageError, match="is not a key inside the channel"):
                attempt(key)
    assert _everything(storage) == before


def test_of_eight_concurrent_puts_if_absent_exactly_one_wins(storage: Storage) -> None:
    outcomes = _race(lambda i: storage.put("noarch/lease.json", f"writer {i}".encode(), if_absent=True))
    won = [(i, etag) for i, etag in enumerate(outcomes) if isinstance(etag, str)]
    assert len(won) == 1, outcomes
    assert all(isinstance(o, AlreadyExists) for o in outcomes if not isinstance(o, str)), outcomes
    (winner, etag), blob = won[0], storage.get("noarch/lease.json")
    assert blob is not None and (blob.data, blob.etag) == (f"writer {winner}".encode(), etag)


def test_eight_threads_incrementing_one_counter_by_compare_and_swap_lose_no_increment(storage: Storage) -> None:
    rounds = 3

    def increment() -> None:
        blob = storage.get("noarch/counter.txt")
        count = int(blob.data) if blob is not None else 0
        put_if_unchanged(storage, "noarch/counter.txt", str(count + 1).encode(), blob.etag if blob else None)

    def work(_: int) -> None:
        for _ in range(rounds):
            retry_on_conflict(increment, what="the counter", hint="run fewer threads")

    assert _race(work) == [None] * THREADS
    blob = storage.get("noarch/counter.txt")
    assert blob is not None and int(blob.data) == THREADS * rounds


def test_a_single_writers_compare_and_swap_checks_the_etag_itself(storage: Storage) -> None:
    """`--single-writer` stores may ignore conditions, so `cas.py` compares etags by HEAD and reads commits back."""
    storage.single_writer = True
    first = put_if_unchanged(storage, "noarch/state.json", b"one", None)
    put_if_unchanged(storage, "noarch/state.json", b"two", first)
    for stale in (first, None):
        with pytest.raises(Conflict):
            put_if_unchanged(storage, "noarch/state.json", b"lost", stale)
    blob = storage.get("noarch/state.json")
    assert blob is not None and blob.data == b"two"


def test_copy_inside_a_store_keeps_bytes_and_metadata_and_honours_if_absent(
    storage: Storage, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    backend = request.node.callspec.params["storage"]
    source = _open(backend, request, tmp_path, "source")  # another folder, or another place behind the endpoint
    if not storage.can_copy_from(source):
        with pytest.raises(NotImplementedError):
            storage.copy_from(source, "noarch/x.conda")
        return
    source.put("noarch/x.conda", b"package bytes", metadata={"package-sha256": "cd" * 32})
    etag = storage.copy_from(source, "noarch/x.conda", if_absent=True)
    head = storage.head("noarch/x.conda")
    assert head is not None and (head.etag, head.size, head.metadata) == (etag, 13, {"package-sha256": "cd" * 32})
    with pytest.raises(AlreadyExists):
        storage.copy_from(source, "noarch/x.conda", if_absent=True)


def test_a_limited_get_reads_one_byte_past_the_limit_and_no_further(storage: Storage) -> None:
    """Side files another party can write are read with a limit: an oversized one costs the limit, not its size."""
    storage.put("noarch/big.json", b"x" * 50_000)
    storage.put("noarch/small.json", b"y" * 10)
    before = storage.request_counts().get("bytes_read", 0)
    big = storage.get("noarch/big.json", limit=100)
    head = storage.head("noarch/big.json")
    assert big is not None and head is not None
    assert (big.data, big.etag) == (b"x" * 101, head.etag)
    if isinstance(storage, S3Storage):
        assert storage.request_counts()["bytes_read"] - before == 101
    for limit in (10, 100):
        small = storage.get("noarch/small.json", limit=limit)
        assert small is not None and small.data == b"y" * 10

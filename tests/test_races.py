"""Writers racing each other: each test forces one bad interleaving (by running a second writer from inside a
storage call of the first), asserts that the interleaving happened, and proves the channel stays valid and
nothing published is lost or deleted."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.judge import judge_channel
from support.packages import make_package
from support.store_clock import StoreClock

from condafarm import Channel, check_channel, index_channel, publish, remove
from condafarm.channel.commit import intents
from condafarm.channel.commit.group import ADOPT_AFTER_SECONDS
from condafarm.channel.commit.store import load_repodata
from condafarm.channel.index import index_subdir
from condafarm.channel.publish import prepare
from condafarm.errors import Conflict, StorageError
from condafarm.storage import Storage, open_storage
from condafarm.storage import local as local_storage


def _names(storage: Storage, subdir: str = "noarch") -> set[str]:
    return set(load_repodata(storage, subdir)[0].records())


def _hook(storage: Storage, method: str, before: Callable[..., None]) -> None:
    """Make `storage.method` call `before(*args)` first (the other writer's turn)."""
    original = getattr(storage, method)

    def hooked(*args: Any, **kwargs: Any) -> Any:
        before(*args, **kwargs)
        return original(*args, **kwargs)

    setattr(storage, method, hooked)


class Once:
    """A `_hook` step that runs `action()` the first time the hooked call's arguments satisfy `when`;
    `fired` tells the test afterwards that its interleaving really happened (a hook that never matches would
    leave the test proving nothing)."""

    def __init__(self, action: Callable[[], object], when: Callable[..., bool]) -> None:
        self.action, self.when, self.fired = action, when, False

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if not self.fired and self.when(*args, **kwargs):
            self.fired = True
            self.action()


def _fail(message: str) -> Callable[[], None]:
    def fail() -> None:
        raise StorageError(f"simulated: {message}")

    return fail


def test_a_publish_committing_right_after_index_listed_keeps_its_record(local_channel: Channel, tmp_path: Path) -> None:
    first, late = make_package(tmp_path, "first"), make_package(tmp_path, "late")
    publish(local_channel, [first])
    storage = open_storage(local_channel)
    original = storage.list_objects
    fired = [False]

    def list_then_publish(prefix: str, **hints: Any) -> Iterator[Any]:
        listed = list(original(prefix, **hints))  # the listing is taken without `late`...
        if prefix == "noarch/" and not fired[0]:
            fired[0] = True
            publish(local_channel, [late])  # ...which is then uploaded and indexed
        return iter(listed)

    storage.list_objects = list_then_publish  # type: ignore[method-assign]
    report = index_subdir(storage, "noarch")
    assert fired[0], "the listing of noarch/ never happened, so `late` was not published in between"
    assert report.removed == []
    assert _names(storage) == {"first-1.0-h0_0.conda", "late-1.0-h0_0.conda"}
    assert check_channel(local_channel).ok
    judge_channel(local_channel, [first, late])


def test_a_rollback_never_deletes_an_identical_file_another_publisher_indexed(channel: Channel, tmp_path: Path) -> None:
    shared, other = make_package(tmp_path, "shared"), make_package(tmp_path, "other")
    storage = open_storage(channel)
    # the same build output, published by another job first
    first = Once(lambda: publish(channel, [shared]), lambda key, *a, **k: key.endswith(shared.name))
    drop = Once(_fail("the connection dropped"), lambda key, *a, **k: key.endswith(other.name))
    _hook(storage, "upload", first)
    _hook(storage, "upload", drop)
    # on S3 the identical object is recognised by its sha256 metadata and the publish goes on to fail on
    # `other`; a folder keeps no metadata, so there the name is refused as taken: both must keep `shared`
    with pytest.raises(StorageError):
        publish(storage, [shared, other])
    assert first.fired, "the other job never published `shared` before our upload of it"
    assert drop.fired == storage.keeps_object_metadata, "the upload of `other` was (not) reached"
    assert _names(storage) == {shared.name}
    assert storage.head(f"noarch/{shared.name}") is not None
    assert check_channel(channel).ok
    judge_channel(channel, [shared])


def test_a_live_publishers_files_are_not_adopted_and_its_rollback_leaves_a_valid_channel(
    local_channel: Channel, tmp_path: Path
) -> None:
    x, y, z = (make_package(tmp_path, n) for n in ("xxx", "yyy", "zzz"))
    storage = open_storage(local_channel)
    adopted: list[str] = []

    def meanwhile() -> None:
        adopted.extend(publish(local_channel, [z]).adopted)  # another publisher runs while x is up
        raise StorageError("simulated: upload of y failed")

    at_y = Once(meanwhile, lambda key, *a, **k: key.endswith(y.name))
    _hook(storage, "upload", at_y)
    with pytest.raises(StorageError):
        publish(storage, [x, y])
    assert at_y.fired, "the other publisher never ran while x was up"
    assert adopted == []  # x's intent was seconds old: its publisher was alive
    assert _names(storage) == {z.name}
    assert storage.head(f"noarch/{x.name}") is None  # rolled back: all or none
    assert check_channel(local_channel).ok
    judge_channel(local_channel, [z])


def test_an_old_intent_whose_file_is_complete_is_adopted(local_channel: Channel, tmp_path: Path) -> None:
    storage = open_storage(local_channel)
    orphan = prepare(make_package(tmp_path, "orphan"))
    for intent in intents.note(storage, "noarch", {orphan.filename: orphan.record(0)}, time.time(), set()):
        StoreClock(local_channel).backdate(intent.key, ADOPT_AFTER_SECONDS + 1)
    storage.upload(orphan.key, orphan.path, sha256=orphan.hashes.sha256, md5=orphan.hashes.md5, if_absent=True)
    after = make_package(tmp_path, "next")
    assert publish(storage, [after]).adopted == [orphan.filename]
    # the channel, not only the report: the orphan's record is committed, its intent is gone
    assert _names(storage) == {orphan.filename, after.name}
    assert list(storage.list_objects(f"noarch/{intents.INTENTS_FOLDER}/")) == []
    assert check_channel(local_channel).ok
    judge_channel(local_channel, [orphan.path, after])


def test_remove_racing_index_never_leaves_a_record_without_its_file(local_channel: Channel, tmp_path: Path) -> None:
    gone = make_package(tmp_path, "gone")
    publish(local_channel, [gone, make_package(tmp_path, "stays")])
    storage = open_storage(local_channel)
    index_meanwhile = Once(lambda: index_channel(local_channel), lambda key: key.endswith(gone.name))
    _hook(storage, "delete", index_meanwhile)
    remove(storage, [gone.name], yes=True)
    assert index_meanwhile.fired, "no index run happened while the file was being deleted"
    assert _names(storage) == {"stays-1.0-h0_0.conda"}
    assert load_repodata(storage, "noarch")[0].removed == []
    assert check_channel(local_channel).ok
    judge_channel(local_channel, ["noarch/stays-1.0-h0_0.conda"])


def test_a_failed_force_publish_leaves_records_matching_the_replaced_files(
    local_channel: Channel, tmp_path: Path
) -> None:
    publish(local_channel, [make_package(tmp_path / "v1", "tool", payload="one")])
    replacement = make_package(tmp_path / "v2", "tool", payload="two, and longer")
    failing = make_package(tmp_path / "v2", "failing")
    storage = open_storage(local_channel)
    drop = Once(_fail("the upload failed"), lambda key, *a, **k: key.endswith(failing.name))
    _hook(storage, "upload", drop)
    with pytest.raises(StorageError):
        publish(storage, [replacement, failing], force=True)
    assert drop.fired, "the upload of `failing` was never reached"
    record = load_repodata(storage, "noarch")[0].records()[replacement.name]
    assert record["sha256"] == prepare(replacement).hashes.sha256
    assert check_channel(local_channel, verify_hashes=True).ok
    judge_channel(local_channel, [replacement])


def test_a_failed_force_publish_leaves_none_of_its_new_names_behind(local_channel: Channel, tmp_path: Path) -> None:
    old = make_package(tmp_path / "v1", "tool", payload="one")
    publish(local_channel, [old])
    newcomer = make_package(tmp_path / "v2", "newcomer")
    failing = make_package(tmp_path / "v2", "failing")
    storage = open_storage(local_channel)
    drop = Once(_fail("the upload failed"), lambda key, *a, **k: key.endswith(failing.name))
    _hook(storage, "upload", drop)
    with pytest.raises(StorageError):
        publish(storage, [newcomer, failing], force=True)
    assert drop.fired, "the upload of `failing` was never reached"
    assert _names(storage) == {"tool-1.0-h0_0.conda"}  # all or none: the new name is gone again
    assert load_repodata(storage, "noarch")[0].get(newcomer.name) is None
    assert check_channel(local_channel, verify_hashes=True).ok
    judge_channel(local_channel, [old])


def test_a_local_write_reports_its_own_etag_even_if_another_writer_follows_at_once(
    local_channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = make_package(tmp_path, "aaa"), make_package(tmp_path, "bbb")
    storage = open_storage(local_channel)
    original = local_storage.hold_lock
    fired = [False]

    @contextlib.contextmanager
    def lock_then_let_another_in(path: Path) -> Iterator[None]:
        with original(path):
            yield
        if path.name == "repodata.json" and not fired[0]:
            fired[0] = True
            publish(local_channel, [second])  # lands between this writer's rename and its stat

    original_put = storage.put
    during: list[str] = []  # the etag our put of repodata.json returned, the put the other publish followed

    def put(key: str, *args: Any, **kwargs: Any) -> str:
        before = fired[0]
        etag = original_put(key, *args, **kwargs)
        if key == "noarch/repodata.json" and fired[0] and not before:
            during.append(etag)
        return etag

    storage.put = put  # type: ignore[method-assign]
    monkeypatch.setattr(local_storage, "hold_lock", lock_then_let_another_in)
    publish(storage, [first])
    monkeypatch.setattr(local_storage, "hold_lock", original)
    assert fired[0] and during, "the second publish never ran between the first one's rename and its stat"
    # The etag names our write, not the other's that replaced it: a conditional write on it must be refused,
    # or a writer trusting it would overwrite the other's commit.
    with pytest.raises(Conflict):
        original_put("noarch/repodata.json", b"{}", if_match=during[0])
    report = check_channel(local_channel)
    assert report.ok, report.problems
    assert _names(storage) == {first.name, second.name}
    judge_channel(local_channel, [first, second])


def test_a_file_replaced_while_index_reads_it_is_read_again_not_dropped(channel: Channel, tmp_path: Path) -> None:
    v1 = make_package(tmp_path / "v1", "tool", payload="one")
    v2 = make_package(tmp_path / "v2", "tool", payload="two, and longer")
    publish(channel, [v1])
    storage = open_storage(channel)
    # Listed with v1's etag, then overwritten by a plain uploader (no repodata change) before the read, which
    # asks for v1's etag (S3's If-Match; a folder compares the opened file's) and so fails.
    replace = Once(lambda: storage.put(f"noarch/{v1.name}", v2.read_bytes()), lambda info: info.name == v1.name)
    _hook(storage, "open", replace)
    report = index_subdir(storage, "noarch", rebuild=True)
    assert replace.fired, "v1 was never opened for reading, so it was not replaced in between"
    assert report.removed == [] and report.skipped == {}
    assert load_repodata(storage, "noarch")[0].records()[v2.name]["sha256"] == prepare(v2).hashes.sha256
    assert check_channel(channel, verify_hashes=True).ok
    judge_channel(channel, [v2])


def test_a_stale_lock_is_broken_but_a_live_one_is_kept(tmp_path: Path) -> None:
    from condafarm.storage.files import _break_stale, _identity

    stale, live = tmp_path / ".a.lock", tmp_path / ".b.lock"
    stale.touch()
    _break_stale(stale, _identity(stale))  # the lock the waiter saw unchanged all along
    assert not stale.exists()
    live.touch()
    seen = _identity(live)
    live.unlink()  # released, and taken again by another writer after the waiter had judged it stale
    live.touch()
    os.utime(live, ns=(seen[1] + 1, seen[1] + 1))  # a later holding has a later mtime (whatever its inode)
    _break_stale(live, seen)
    assert live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.lock"]

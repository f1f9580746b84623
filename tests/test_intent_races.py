"""Ready marks left by a dead publisher outlive `condafarm index`; the next group commit must not re-apply them
blindly (undoing a yank or naming a removed file), and a rollback must not delete a file being adopted. An
intent's age is the store's to say: no stamp and no host's clock gets a live publisher's file adopted early."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.judge import judge_channel
from support.packages import make_package
from support.store_clock import StoreClock

from condafarm import Channel, check_channel, index_channel, publish, remove, yank
from condafarm.channel import publish as publish_module
from condafarm.channel.commit import intents
from condafarm.channel.commit.group import ADOPT_AFTER_SECONDS
from condafarm.channel.commit.store import load_repodata
from condafarm.channel.publish import prepare
from condafarm.errors import StorageError
from condafarm.storage import open_storage


class Died(BaseException):
    """The publisher was killed."""


def _die_after_ready_mark(channel: Channel, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Publish `path` but die after its ready mark, before any commit (killed at STEPS[0] of test_group_commit)."""

    def killed(*args: object, **kwargs: object) -> list[str]:
        raise Died

    with monkeypatch.context() as m:
        m.setattr(publish_module, "commit_together", killed)
        with pytest.raises(Died):
            publish(channel, [path])


def test_a_dead_publishers_ready_mark_does_not_bring_back_a_removed_file(
    local_channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = make_package(tmp_path / "a", "bad")
    _die_after_ready_mark(local_channel, bad, monkeypatch)
    index_channel(local_channel)  # the scheduled index run indexes the dead publisher's file, as docs/publish.md says
    assert bad.name in load_repodata(open_storage(local_channel), "noarch")[0].records()
    remove(local_channel, [bad.name], yes=True)  # a bad build: record, then file gone
    after = make_package(tmp_path / "b", "next")
    publish(local_channel, [after])  # its group commit re-commits the stale ready mark
    records = load_repodata(open_storage(local_channel), "noarch")[0].records()
    assert bad.name not in records, "repodata names a file that `remove` deleted"
    assert check_channel(local_channel).ok
    judge_channel(local_channel, [after])


def test_a_dead_publishers_ready_mark_does_not_undo_a_yank(
    local_channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = make_package(tmp_path / "a", "bad")
    _die_after_ready_mark(local_channel, bad, monkeypatch)
    index_channel(local_channel)
    yank(local_channel, [bad.name])
    after = make_package(tmp_path / "b", "next")
    publish(local_channel, [after])
    repodata = load_repodata(open_storage(local_channel), "noarch")[0]
    assert bad.name in repodata.removed and repodata.get(bad.name) is None, "a yank was undone by a publish"
    judge_channel(local_channel, [after])


def test_a_rollback_never_deletes_a_file_a_group_committer_is_adopting(
    local_channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P1 noted X more than ADOPT_AFTER_SECONDS ago (a long upload) and its upload just landed; a group committer
    judges X's intent stale and complete; then P1 fails (writing provenance) and rolls back: its intent goes,
    the shards do not name X yet, so it deletes X; the committer then commits X's record."""
    from condafarm.channel.commit import group

    storage = open_storage(local_channel)
    slow = prepare(make_package(tmp_path / "a", "slow"))
    noted_at = time.monotonic() - ADOPT_AFTER_SECONDS - 1
    noted = intents.note(storage, "noarch", {slow.filename: slow.record(0)}, time.time(), set())
    for intent in noted:
        StoreClock(local_channel).backdate(intent.key, ADOPT_AFTER_SECONDS + 1)
    storage.upload(slow.key, slow.path, sha256=slow.hashes.sha256, md5=slow.hashes.md5, if_absent=True)
    real_complete = group.complete
    fired = []

    def complete_then_p1_rolls_back(storage_: object, subdir: str, filename: str, record: object) -> bool:
        found = real_complete(storage_, subdir, filename, record)  # type: ignore[arg-type]
        if filename == slow.filename and not fired:
            fired.append(True)
            publish_module._forget(open_storage(local_channel), list(noted), [slow], [slow], set(), noted_at)
        return found

    monkeypatch.setattr(group, "complete", complete_then_p1_rolls_back)
    after = make_package(tmp_path / "b", "next")
    publish(storage, [after])
    assert fired, "the committer never checked the stale intent"
    records = load_repodata(open_storage(local_channel), "noarch")[0].records()
    present = {i.name for i in open_storage(local_channel).list_objects("noarch/")}
    assert set(records) <= present, f"repodata names missing files: {set(records) - present}"
    judge_channel(local_channel, [slow.path, after])  # the adopted file stays, with its record


def _orphan(clock: StoreClock, tmp_path: Path, since: float) -> tuple[Path, list[intents.Intent]]:
    """What a publisher that died after its upload leaves: its intent, stamped `since` by its own clock, and its
    complete file; the intent's keys, for the test to age."""
    storage = open_storage(clock.channel)
    orphan = prepare(make_package(tmp_path / "orphan", "orphan"))
    noted = intents.note(storage, "noarch", {orphan.filename: orphan.record(0)}, since, set())
    storage.upload(orphan.key, orphan.path, sha256=orphan.hashes.sha256, md5=orphan.hashes.md5, if_absent=True)
    return orphan.path, list(noted)


def _in_flight(clock: StoreClock) -> set[str]:
    return {i.name for i in open_storage(clock.channel).list_objects(f"noarch/{intents.INTENTS_FOLDER}/")}


@pytest.mark.parametrize(
    "since",
    [time.time() - 3600, 0.001],
    ids=["its-publishers-clock-an-hour-behind", "a-stamp-from-1970"],
)
def test_an_intent_stamped_long_ago_that_the_store_received_just_now_is_left_to_its_publisher(
    store_clock: StoreClock, tmp_path: Path, since: float
) -> None:
    """A live publisher on a host whose clock is behind (or a forged stamp) would have its file committed under
    it, or its intent dropped, if the stamp said how old the intent is: the store received it just now."""
    orphan, noted = _orphan(store_clock, tmp_path, since)
    after = make_package(tmp_path / "b", "next")
    assert publish(store_clock.channel, [after]).adopted == []
    records = load_repodata(open_storage(store_clock.channel), "noarch")[0].records()
    assert orphan.name not in records, "a file whose intent the store received just now was adopted"
    assert _in_flight(store_clock) == {noted[0].key.rpartition("/")[2]}, "the young intent was dropped"
    judge_channel(store_clock.channel, [after])


def test_an_intent_the_store_received_long_ago_is_adopted_whatever_its_stamp_says(
    store_clock: StoreClock, tmp_path: Path
) -> None:
    """Its publisher's clock ran an hour ahead, so its stamp looks young; the store's time says it is old."""
    orphan, noted = _orphan(store_clock, tmp_path, time.time() + 3600)
    for intent in noted:
        store_clock.backdate(intent.key, ADOPT_AFTER_SECONDS + 1)
    after = make_package(tmp_path / "b", "next")
    assert publish(store_clock.channel, [after]).adopted == [orphan.name]
    records = load_repodata(open_storage(store_clock.channel), "noarch")[0].records()
    assert {orphan.name, after.name} <= set(records)
    assert _in_flight(store_clock) == set()
    assert check_channel(store_clock.channel).ok
    judge_channel(store_clock.channel, [orphan, after])


def test_a_failed_publish_rolls_back_its_files_when_its_hosts_clock_jumps_meanwhile(
    local_channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wall clock steps an hour ahead (NTP) during the upload: the intents stood for a moment, so no
    committer can be adopting them and the rollback deletes what the publish created (all or none)."""
    x, y = make_package(tmp_path, "xxx"), make_package(tmp_path, "yyy")
    storage = open_storage(local_channel)
    real_upload, real_time = storage.upload, time.time

    def upload_then_fail(key: str, *args: object, **kwargs: object) -> str:
        if key.endswith(y.name):
            monkeypatch.setattr(time, "time", lambda: real_time() + 3600)
            raise StorageError("simulated: the upload of y failed")
        return real_upload(key, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(storage, "upload", upload_then_fail)
    with pytest.raises(StorageError):
        publish(storage, [x, y])
    assert time.time() > real_time() + 3000, "the clock never jumped"
    assert storage.head(f"noarch/{x.name}") is None, "the rollback left the file it created"
    assert _in_flight(StoreClock(local_channel)) == set()
    assert check_channel(local_channel).ok


def test_an_intent_the_store_received_over_a_day_ago_is_dropped_whatever_its_stamp_says(
    store_clock: StoreClock, tmp_path: Path
) -> None:
    """Its file is left to `condafarm index`, which finds every file no record names."""
    orphan, noted = _orphan(store_clock, tmp_path, time.time())
    for intent in noted:
        store_clock.backdate(intent.key, intents.FORGET_AFTER_SECONDS + 1)
    after = make_package(tmp_path / "b", "next")
    assert publish(store_clock.channel, [after]).adopted == []
    assert _in_flight(store_clock) == set(), "a day-old intent was kept"
    assert orphan.name not in load_repodata(open_storage(store_clock.channel), "noarch")[0].records()
    index_channel(store_clock.channel)
    judge_channel(store_clock.channel, [orphan, after])

"""Ready marks left by a dead publisher outlive `condafarm index`; the next group commit must not re-apply them
blindly (undoing a yank or naming a removed file), and a rollback must not delete a file being adopted."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.judge import judge_channel
from support.packages import make_package

from condafarm import Channel, check_channel, index_channel, publish, remove, yank
from condafarm.channel import publish as publish_module
from condafarm.channel.commit.store import load_repodata
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
    import time

    from condafarm.channel.commit import group, intents
    from condafarm.channel.commit.group import ADOPT_AFTER_SECONDS
    from condafarm.channel.publish import prepare

    storage = open_storage(local_channel)
    slow = prepare(make_package(tmp_path / "a", "slow"))
    since = time.time() - ADOPT_AFTER_SECONDS - 1
    noted = intents.note(storage, "noarch", {slow.filename: slow.record(0)}, since, set())
    storage.upload(slow.key, slow.path, sha256=slow.hashes.sha256, md5=slow.hashes.md5, if_absent=True)
    real_complete = group.complete
    fired = []

    def complete_then_p1_rolls_back(storage_: object, subdir: str, filename: str, record: object) -> bool:
        found = real_complete(storage_, subdir, filename, record)  # type: ignore[arg-type]
        if filename == slow.filename and not fired:
            fired.append(True)
            publish_module._forget(open_storage(local_channel), list(noted), [slow], [slow], set())
        return found

    monkeypatch.setattr(group, "complete", complete_then_p1_rolls_back)
    after = make_package(tmp_path / "b", "next")
    publish(storage, [after])
    assert fired, "the committer never checked the stale intent"
    records = load_repodata(open_storage(local_channel), "noarch")[0].records()
    present = {i.name for i in open_storage(local_channel).list_objects("noarch/")}
    assert set(records) <= present, f"repodata names missing files: {set(records) - present}"
    judge_channel(local_channel, [slow.path, after])  # the adopted file stays, with its record
